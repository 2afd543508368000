"""The course in a real client: JupyterLab in headless Chromium (`make test-browser`).

For every notebook: open it in JupyterLab, run all cells (quick mode, offline), move one control
of every widget (a slider, else a dropdown) and press its Run button where it has one, and check
that the widget's picture changed and that no traceback appears anywhere on the page. Screenshots
go to build/screenshots/.

Needs Debian's `chromium` (driven through Playwright's Python API with `executable_path`, so no
browser is downloaded) and `pip install playwright`. Where either is missing the tests skip and say
what to install; with LECTURELIB_BROWSER_REQUIRED=1 (CI) they fail instead.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SHOTS = ROOT / "build" / "screenshots"
TOKEN = "lecturelib-browser-test"
# Settings for this test's JupyterLab: render every cell (JupyterLab 4 otherwise only renders the
# cells in view), no autosave, no news or update checks (there is no network).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """A JupyterLab server on loopback, serving a copy of the notebooks (nothing is saved back)."""
    root = tmp_path_factory.mktemp("notebooks")
    for nb in NOTEBOOKS:
        shutil.copy(nb, root / nb.name)
    settings = tmp_path_factory.mktemp("lab-settings")
    for rel, value in LAB_SETTINGS.items():
        (settings / rel).parent.mkdir(parents=True, exist_ok=True)
        (settings / rel).write_text(json.dumps(value))
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings), LECTURELIB_QUICK="1",
               LECTURELIB_ALLOW_UNTRAINED="1", TORCH_HOME=str(tmp_path_factory.mktemp("torch-home")))
    env.pop("MPLBACKEND", None)  # figures inline, as a student sees them
    port = _free_port()
    log = open(tmp_path_factory.mktemp("log") / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--allow-root"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"JupyterLab did not start; see {log.name}")
            time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


# JavaScript run in the page, against the JupyterLab app (exposed by expose_app_in_browser).
STATE = """() => {
  if (!window.jupyterapp || !window.jupyterapp.shell) return {ready: false};   // the page is still loading
  const w = window.jupyterapp.shell.currentWidget;
  if (!w || !w.content || !w.sessionContext) return {ready: false};
  const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
  const cells = w.content.widgets.filter(c => c.model.type === 'code');
  const errors = [];
  cells.forEach((c, i) => c.model.outputs.toJSON().forEach(o => {
    if (o.output_type === 'error') errors.push(`code cell ${i}: ${o.ename}: ${o.evalue}`);
  }));
  return {ready: true, idle: !!kernel && kernel.status === 'idle',
          executed: cells.filter(c => c.model.executionCount !== null).length, total: cells.length, errors};
}"""


def _wait(page, done, timeout: float, what: str):
    deadline, state = time.time() + timeout, {}
    while time.time() < deadline:
        state = page.evaluate(STATE)
        if state.get("ready") and done(state):
            return state
        page.wait_for_timeout(500)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; last state {state}")


def _page_problems(page) -> list[str]:
    text = page.inner_text(".jp-NotebookPanel")
    return [marker for marker in ("Traceback (most recent call last)", "Error displaying widget") if marker in text]


CONTROLS = ".noUi-handle, .ui-slider-handle, select, button"


def _widget_views(page):
    """The top-level widget views in the notebook's outputs that hold a control (one per widget
    cell); tqdm's progress bars are widgets too, but have nothing to move."""
    views = page.locator(".jp-OutputArea-output > .jupyter-widgets, .jp-OutputArea-output > .widget-container")
    return views.filter(has=page.locator(CONTROLS))


def _has_widget_cell(notebook: pathlib.Path) -> bool:
    cells = json.loads(notebook.read_text())["cells"]
    return any("ll.widgets." in "".join(c["source"]) or "W.interactive" in "".join(c["source"])
               for c in cells if c["cell_type"] == "code")


def _move_one_control(view) -> str:
    slider = view.locator(".noUi-handle, .ui-slider-handle")
    select = view.locator("select")
    if slider.count():
        slider.first.focus()
        slider.first.press("ArrowRight")
        done = "moved a slider"
    elif select.count():
        options = select.first.locator("option")
        select.first.select_option(index=1 if options.count() > 1 else 0)
        done = "changed a dropdown"
    else:
        pytest.fail("a widget with neither a slider nor a dropdown")
    button = view.locator("button", has_text="Run")
    if button.count():
        button.first.click()
        done += " and pressed Run"
    return done


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_runs_in_jupyterlab(browser, lab, notebook):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        # a workspace of its own, reset: JupyterLab would otherwise reopen the notebooks of earlier tests
        page.goto(f"{lab}/lab/workspaces/{notebook.stem}/tree/{notebook.name}?reset&token={TOKEN}")
        _wait(page, lambda s: s["idle"], 120, "the kernel to start")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        state = _wait(page, lambda s: s["idle"] and (s["executed"] == s["total"] or s["errors"]), float(os.environ.get("LAB_RUN_TIMEOUT", 600)),
                      "all cells to run")
        page.wait_for_timeout(1000)  # let the last outputs and widget views render
        page.screenshot(path=str(SHOTS / f"{notebook.stem}.png"))
        assert not state["errors"], f"{notebook.name}: " + "; ".join(state["errors"])
        assert not _page_problems(page), f"{notebook.name}: {_page_problems(page)} on the page"

        views = _widget_views(page)
        if _has_widget_cell(notebook):
            assert views.count() >= 1, f"{notebook.name} has a widget cell but no widget view rendered"
        for i in range(views.count()):
            view = views.nth(i)
            view.scroll_into_view_if_needed()
            before = view.inner_html()
            action = _move_one_control(view)
            deadline = time.time() + 180
            while view.inner_html() == before and time.time() < deadline:
                page.wait_for_timeout(500)
            _wait(page, lambda s: s["idle"], 180, "the widget's update")
            page.wait_for_timeout(500)
            view.screenshot(path=str(SHOTS / f"{notebook.stem}_widget{i}.png"))
            assert view.inner_html() != before, f"{notebook.name}: widget {i} did not change after it {action}"
            assert not _page_problems(page), f"{notebook.name}: widget {i} ({action}) left {_page_problems(page)}"
    finally:
        page.evaluate("() => window.jupyterapp && window.jupyterapp.shell.currentWidget && "
                      "window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
        page.close()



def _open_in_rise(browser, lab, name: str):
    """A notebook opened as RISE opens it (jupyterlab-rise's /rise/ page), and the console errors."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.goto(f"{lab}/rise/{name}?token={TOKEN}")
    page.wait_for_selector(".reveal .slides > section", timeout=120_000)
    page.wait_for_timeout(3000)  # let the extensions finish loading
    return page, errors


RISE_NOTEBOOK = "01_filters.ipynb"   # quick, and it ends with a widget


def test_rise_presents_a_notebook_as_slides(browser, lab):
    page, _ = _open_in_rise(browser, lab, RISE_NOTEBOOK)
    try:
        slides = page.evaluate("() => document.querySelectorAll('.reveal .slides > section').length")
        page.screenshot(path=str(SHOTS / "rise_01_filters.png"))
        assert slides >= 3, f"RISE shows {slides} slides of {RISE_NOTEBOOK}: are the cells' slide marks there?"
    finally:
        page.close()


@pytest.mark.xfail(strict=True, reason="jupyterlab-rise 0.43 cannot load the ipywidgets 8 manager (its page has no "
                   "@jupyterlab/console to share), so widgets do not render in RISE: the README says to present "
                   "widgets from the notebook or the static decks. Once this passes, update the README.")
def test_rise_loads_the_widget_manager(browser, lab):
    page, errors = _open_in_rise(browser, lab, RISE_NOTEBOOK)
    page.close()
    failed = [e.splitlines()[0] for e in errors if "jupyterlab-manager" in e or "Shared module" in e]
    assert not failed, failed
