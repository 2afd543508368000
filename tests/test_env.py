import subprocess
import sys

import pytest
import torch

import lecturelib as ll
from lecturelib import env


def test_cgroup_quota(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert env._cgroup_quota(str(tmp_path)) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert env._cgroup_quota(str(tmp_path)) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("100000")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert env._cgroup_quota(str(v1)) == 1.0


def test_available_cpus_respects_quota(monkeypatch):
    monkeypatch.setattr(env, "_cgroup_quota", lambda: 1.2)
    assert env.available_cpus() == 2 or env.available_cpus() == 1
    monkeypatch.setattr(env, "_cgroup_quota", lambda: 0.5)
    assert env.available_cpus() == 1


def test_param_and_flags(monkeypatch):
    monkeypatch.setenv("LECTURELIB_QUICK", "1")
    assert ll.param(200, quick=5) == 5
    monkeypatch.setenv("LECTURELIB_QUICK", "0")
    assert ll.param(200, quick=5) == 200


def test_device_override(monkeypatch):
    monkeypatch.setenv("LECTURELIB_DEVICE", "cpu")
    assert ll.default_device() == torch.device("cpu")
    monkeypatch.setenv("LECTURELIB_DEVICE", "toaster")
    with pytest.raises(ValueError, match="not a device"):
        ll.default_device()


def test_setup_seeds_and_prints(capsys):
    ll.setup(seed=3)
    a = torch.rand(3)
    capsys.readouterr()
    ll.setup(seed=3)
    assert torch.equal(a, torch.rand(3))
    line = capsys.readouterr().out.strip()
    assert "device" in line and "quick mode on" in line and "\n" not in line
    assert torch.get_num_threads() == ll.available_cpus()


def test_import_has_no_side_effects():
    code = ("import sys, torch; torch.manual_seed(5); a = torch.rand(1); torch.manual_seed(5); "
            "import lecturelib; b = torch.rand(1); "
            "assert torch.equal(a, b), 'import changed the seed'; "
            "assert 'matplotlib' not in sys.modules, 'import loaded matplotlib'; "
            "assert 'torchvision' not in sys.modules, 'import loaded torchvision'")
    subprocess.run([sys.executable, "-c", code], check=True)
