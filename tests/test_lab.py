"""The README's first command, `make lab`, starts JupyterLab on notebooks/: as root (containers, CI)
and as an ordinary user. Headless: no browser, a free port, a token; stopped by signalling its
process group, which must then be empty."""
import json
import os
import pathlib
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
VENV = pathlib.Path(sys.prefix)   # `make test` runs in the Makefile's .venv; any other environment works too
START_S, STOP_S = 120, 20         # JupyterLab starts in a few seconds, far slower on a busy 2-core machine

pytestmark = [
    pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed"),
    pytest.mark.skipif(not (VENV / "bin" / "jupyter-lab").exists(), reason="no JupyterLab in this environment (pip install -e '.[lab]')"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str):
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, response.read()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _run_make_lab(prefix: list, env: dict, workdir: pathlib.Path):
    """Run `make lab` (prefix: e.g. runuser) headless, wait until the server answers, check it
    serves notebooks/, then stop the whole process group and check that nothing is left."""
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(env, JUPYTER_TOKEN=token, JUPYTER_RUNTIME_DIR=str(workdir / "runtime"))
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):  # `make test` runs us: start a make of our own
        env.pop(name, None)
    # What a student types, plus LAB_ARGS; -o: never reinstall the environment from inside a test.
    command = prefix + ["make", "--no-print-directory", "-o", f"{VENV}/.installed", "lab", f"VENV={VENV}",
                        f"LAB_ARGS=--no-browser --port={port} --ServerApp.port_retries=0"]
    log = workdir / "lab.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    pgid = proc.pid  # start_new_session: the group of make, jupyter and whatever they start
    base = f"http://127.0.0.1:{port}"
    try:
        deadline, status = time.monotonic() + START_S, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = json.loads(_get(f"{base}/api/status", token)[1])
                break
            except (OSError, urllib.error.URLError, ValueError):
                time.sleep(0.5)
        assert status is not None, (f"`make lab` did not answer on {base} within {START_S} s "
                                    f"(exit code {proc.poll()}):\n{log.read_text(errors='replace')[-3000:]}")
        assert "started" in status, status
        code, page = _get(f"{base}/lab", token)
        assert code == 200 and b"JupyterLab" in page
        listing = json.loads(_get(f"{base}/api/contents", token)[1])
        names = {item["name"] for item in listing["content"]}
        assert "00_start_here.ipynb" in names, f"the server's root is not notebooks/: {sorted(names)}"
    finally:
        if _group_alive(pgid):
            os.killpg(pgid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + STOP_S
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = _group_alive(pgid)
        if left:
            os.killpg(pgid, signal.SIGKILL)
    assert not left, f"processes of `make lab` outlived SIGTERM by {STOP_S} s:\n{log.read_text(errors='replace')[-3000:]}"
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers after `make lab` stopped"
    return log.read_text(errors="replace")


def test_make_lab_starts_as_root(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("not running as root: the --allow-root path is checked where tests run as root (containers, CI)")
    log = _run_make_lab([], dict(os.environ), tmp_path)
    assert "--allow-root" in log  # make echoes the command it runs


def _as_other_user():
    """(runuser prefix, the user's environment, a scratch folder it owns) or a reason to skip."""
    runuser = shutil.which("runuser")
    if runuser is None:
        return "running as root without runuser: cannot test as an ordinary user"
    user = "nobody"
    probe = subprocess.run([runuser, "-u", user, "--", str(VENV / "bin" / "python"), "-c", "import jupyterlab"],
                           cwd=ROOT, capture_output=True, text=True)
    if probe.returncode != 0:
        return (f"user {user!r} cannot run this environment's Python ({VENV / 'bin' / 'python'}, "
                f"-> {os.path.realpath(VENV / 'bin' / 'python')}): {probe.stderr.strip()[-300:]}")
    return runuser, user


def test_make_lab_starts_as_a_user(tmp_path):
    if os.geteuid() != 0:
        _run_make_lab([], dict(os.environ), tmp_path)
        return
    found = _as_other_user()
    if isinstance(found, str):
        pytest.skip(found)
    runuser, user = found
    home = pathlib.Path(tempfile.mkdtemp(prefix="lecturelib-lab-user-"))
    try:
        shutil.chown(home, user)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON"))}
        # runuser sets HOME to the user's (nobody's does not exist): give it a writable one.
        log = _run_make_lab([runuser, "-u", user, "--", "env", f"HOME={home}"], env, home)
        assert "--allow-root" not in log
    finally:
        shutil.rmtree(home, ignore_errors=True)
