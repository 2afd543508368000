"""The environment: device, CPU threads, seeds, quick mode.

Nothing here runs at import. These functions read the environment each time they are called, so
there is no global state. `ll.setup()` (lecturelib.session) is the one call a notebook makes.

Environment variables (all optional):
    LECTURELIB_DEVICE            "cpu", "cuda", "cuda:1", "mps": overrides the automatic choice
    LECTURELIB_QUICK=1           shrink steps and sizes (CI, fast checks)
    LECTURELIB_ALLOW_UNTRAINED=1 build models with seeded random weights when ImageNet
                                 weights are not cached (CI, offline machines)
"""
from __future__ import annotations

import math
import os
import random
from typing import TypeVar

import numpy as np
import torch

__all__ = ["default_device", "available_cpus", "quick_mode", "param", "allow_untrained", "seed_everything"]

_T = TypeVar("_T")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def quick_mode() -> bool:
    """True when LECTURELIB_QUICK is set (not "", 0, false, no, off): notebooks shrink steps and
    sizes (for CI)."""
    return _flag("LECTURELIB_QUICK")


def allow_untrained() -> bool:
    """True when LECTURELIB_ALLOW_UNTRAINED is set: missing weights become seeded random ones."""
    return _flag("LECTURELIB_ALLOW_UNTRAINED")


def param(full: _T, quick: _T) -> _T:
    """`full` normally, `quick` in quick mode (`quick_mode`).

    A parameters cell reads `steps = ll.param(200, quick=5)`, so students see the real value and
    CI runs the small one.

    Parameters
    ----------
    full : any
        The value for a real run.
    quick : any
        The value for quick mode.

    Returns
    -------
    `full` or `quick`
    """
    return quick if quick_mode() else full


def default_device() -> torch.device:
    """LECTURELIB_DEVICE if set, else CUDA if available, else Apple's MPS, else the CPU.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        If LECTURELIB_DEVICE does not name a device.
    RuntimeError
        If it names CUDA and torch sees no CUDA GPU.
    """
    wanted = os.environ.get("LECTURELIB_DEVICE", "").strip()
    if wanted:
        try:
            device = torch.device(wanted)
        except RuntimeError as e:
            raise ValueError(f"LECTURELIB_DEVICE={wanted!r} is not a device; use cpu, cuda, cuda:0 or mps") from e
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"LECTURELIB_DEVICE={wanted!r} but torch sees no CUDA GPU "
                               f"(torch {torch.__version__}); unset it or use cpu")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def available_cpus() -> int:
    """The CPUs this process may really use: the smaller of its affinity mask and its cgroup quota.

    Binder and Docker give a quota of 1-2 CPUs on a many-core host; os.cpu_count() (what torch
    uses by default) reports the host, and torch then runs more threads than it has CPUs, which
    is slower.

    Returns
    -------
    int
        At least 1.
    """
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        n = min(n, max(1, math.ceil(quota)))
    return max(1, n)


def _cgroup_quota(root: str = "/sys/fs/cgroup") -> float | None:
    """CPU quota in CPUs from cgroup v2 (cpu.max) or v1 (cfs_quota_us / cfs_period_us), or None."""
    try:
        with open(os.path.join(root, "cpu.max")) as f:
            quota, period = f.read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        with open(os.path.join(root, "cpu", "cpu.cfs_quota_us")) as f:
            quota = int(f.read())
        with open(os.path.join(root, "cpu", "cpu.cfs_period_us")) as f:
            period = int(f.read())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def seed_everything(seed: int) -> None:
    """Seed Python's `random`, NumPy's global generator and torch's (CPU and CUDA) with `seed`."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
