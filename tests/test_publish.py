"""tools/publish.py (`make book`, `make slides`): widgets drawn in their last state, the slide marks
every notebook carries, the launch row's addresses, and the Pages workflow against its schema.
The built site and decks are opened in Chromium by browser_tests/test_published.py."""
from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import publish  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SLIDE_TYPES = {"slide", "subslide", "fragment", "skip", "notes", "-"}


def _view(model_id: str) -> dict:
    return nbformat.v4.new_output("display_data", data={
        publish.WIDGET_VIEW: {"model_id": model_id, "version_major": 2, "version_minor": 0},
        "text/plain": "VBox(...)"})


def _model(name: str, **state) -> dict:
    return {"model_name": name, "model_module": "@jupyter-widgets/controls", "state": state}


def _notebook_with_widgets():
    png = nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})
    states = {
        # a tqdm bar, left at 30 of 30
        "bar": _model("HBoxModel", children=["IPY_MODEL_l", "IPY_MODEL_p", "IPY_MODEL_r"]),
        "l": _model("HTMLModel", value="steps: 100%"), "p": _model("FloatProgressModel", value=30, max=30),
        "r": _model("HTMLModel", value="| 30/30 [00:03&lt;00:00]"),
        # an explorer: a slider, a dropdown, a button and the figure its Output last held
        "box": _model("VBoxModel", children=["IPY_MODEL_row", "IPY_MODEL_pick", "IPY_MODEL_go", "IPY_MODEL_out"]),
        "row": _model("IntSliderModel", value=12, description="row"),
        "pick": _model("DropdownModel", index=1, _options_labels=["stem", "head"], description="layer"),
        "go": _model("ButtonModel", description="Run"),
        "out": {"model_name": "OutputModel", "model_module": "@jupyter-widgets/output", "state": {"outputs": [png]}},
    }
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("run()", outputs=[_view("bar")]),
                nbformat.v4.new_code_cell("explore()", outputs=[_view("box")]),
                nbformat.v4.new_code_cell("gone()", outputs=[_view("missing")])]
    nb.metadata.widgets = {publish.WIDGET_STATE: {"state": states, "version_major": 2, "version_minor": 0}}
    return nb


def test_freeze_widgets_draws_each_widget_as_it_was_left():
    nb = _notebook_with_widgets()
    frozen = publish.freeze_widgets(nb)
    assert "widgets" not in frozen.metadata  # no widget manager, so no script from a CDN
    bar, explorer, gone = (c.outputs for c in frozen.cells)
    assert len(bar) == 1 and list(bar[0].data) == ["text/plain"]   # plain text, not a red stderr box
    text = bar[0].data["text/plain"]
    assert "steps: 100%" in text and "30/30" in text and "█" * 20 in text
    assert [list(o.get("data", {})) for o in explorer] == [["text/html"], ["image/png", "text/plain"]]
    note = explorer[0].data["text/html"]
    assert "row = 12" in note and "layer = head" in note and "Run the notebook" in note and "Run =" not in note
    assert gone == []  # a view whose state was not saved shows nothing, rather than a dead widget
    assert nb.cells[0].outputs[0].data[publish.WIDGET_VIEW]  # the executed copy itself is untouched


def test_every_cell_carries_a_slide_mark():
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            mark = cell.metadata.get("slideshow", {}).get("slide_type")
            assert mark in SLIDE_TYPES, f"{path.name} cell {i}: slide mark {mark!r} (tools/publish.py write-marks)"
        marks = [c.metadata["slideshow"]["slide_type"] for c in nb.cells]
        assert marks[0] == "slide", f"{path.name}: the title opens the deck"
        assert marks.count("slide") >= 3, f"{path.name}: fewer than three slides"
        setup = [c for c in nb.cells if c.cell_type == "code"][0]
        assert setup.metadata["slideshow"]["slide_type"] == "skip", f"{path.name}: the install cell is shown"


def test_slides_leave_the_exercises_out():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("## Summary\n\n* one\n\n## Exercises\n\n1. two")]
    assert publish.for_slides(nb).cells[0].source == "## Summary\n\n* one"


def test_a_tall_drawing_cell_becomes_code_then_picture():
    png = nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="})
    tall = nbformat.v4.new_code_cell("\n".join(f"line{i} = {i}" for i in range(12)), outputs=[png],
                                     metadata={"slideshow": {"slide_type": "fragment"}})
    short = nbformat.v4.new_code_cell("plot()", outputs=[png])
    nb = nbformat.v4.new_notebook()
    nb.cells = [tall, short]
    code, picture, kept = publish.for_slides(nb).cells
    assert code.source == tall.source and code.outputs == [] and code.metadata["slideshow"]["slide_type"] == "fragment"
    assert picture.outputs == [png] and "remove_input" in picture.metadata["tags"]
    assert picture.metadata["slideshow"]["slide_type"] == "subslide" and picture.id != code.id
    assert kept.outputs == [png] and "tags" not in kept.metadata


def test_launch_links_are_the_readme_badges():
    readme = (ROOT / "README.md").read_text()
    for path in NOTEBOOKS:
        for url in publish.launch_links(path.stem).values():
            assert url in readme, url


def test_a_clear_error_without_make_course(tmp_path, monkeypatch):
    monkeypatch.setattr(publish, "COURSE", tmp_path)
    with pytest.raises(SystemExit, match="run `make course` first"):
        publish.executed()
    with pytest.raises(SystemExit, match="no notebook 99"):
        publish.executed(["99"])


def test_the_pages_workflow_fits_githubs_schema(tmp_path):
    checker = shutil.which("check-jsonschema", path=str(pathlib.Path(sys.executable).parent))
    if checker is None:
        pytest.skip("check-jsonschema is not installed (the dev extra has it)")
    workflow = ROOT / ".github" / "workflows" / "pages.yml"
    run = [checker, "--builtin-schema", "vendor.github-workflows"]
    ok = subprocess.run(run + [str(workflow)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "broken.yml"  # the control: a job without runs-on is refused
    broken.write_text(workflow.read_text().replace("    runs-on: ubuntu-latest\n    timeout-minutes", "    timeout-minutes"))
    assert subprocess.run(run + [str(broken)], capture_output=True).returncode != 0
    text = workflow.read_text()
    assert "make course" in text and "make book" in text and "actions/deploy-pages" in text
