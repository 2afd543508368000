"""The prose checker (`tools/prose.py`, run by `make course`): known answers on tiny notebooks."""
from __future__ import annotations

import pathlib
import sys

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import prose  # noqa: E402


def notebook(markdown: str, source: str = "", printed: str = ""):
    code = new_code_cell(source, outputs=[new_output("stream", name="stdout", text=printed)] if printed else [])
    return new_notebook(cells=[code, new_markdown_cell(markdown)])


def flagged(nb) -> list[str]:
    return [number for _, number, _ in prose.unaccounted(nb)]


def test_a_number_from_another_run_is_flagged_with_its_cell():
    nb = notebook("The map peaks at p 0.36 after 12.8 s.", printed="p(cat) = 0.3612\n")
    assert prose.unaccounted(nb) == [(1, "12.8", "The map peaks at p 0.36 after 12.8 s.")]


def test_printed_numbers_count_as_written_or_rounded_and_percentages_as_fractions():
    nb = notebook("79 % of the boxes, p 0.36, and 1,000 steps.", printed="hits 0.7917  p 0.3612  1000\n")
    assert flagged(nb) == []
    assert flagged(notebook("80 % of the boxes.", printed="hits 0.7917\n")) == ["80%"]
    assert flagged(notebook("It took 12 s.", printed="12.8 s\n")) == ["12"]   # a whole number is not rounded


def test_settings_in_code_count_and_so_do_widget_less_html_outputs():
    nb = notebook("We run 200 steps at sigma 2.5.", source="STEPS = 200\nSIGMA = 2.5")
    assert flagged(nb) == []
    html = new_code_cell("", outputs=[new_output("execute_result", data={"text/html": "<td>0.62</td>"})])
    assert flagged(new_notebook(cells=[html, new_markdown_cell("It scores 0.62.")])) == []


def test_citations_places_equations_and_code_are_not_quantities():
    text = ("## 3. Occlusion\n\nSee section 4, **03 occlusion** and exercise 2 of notebook 06 (Simonyan et al. 2014 report "
            "a 13.7 % error). The loss is $|x - 0.5|^2 + 10 x_3$; run `steps=300`.\n\n"
            "1. first\n2. second\n\n```python\nll.dream(model, steps=40)\n```\n"
            "[paper](https://arxiv.org/abs/1312.6034)")
    assert flagged(notebook(text)) == ["0.5"]   # a decimal in an equation is still a quantity


def test_the_command_line_fails_with_notebook_cell_and_number(tmp_path, capsys):
    path = tmp_path / "nb.ipynb"
    nbformat.write(notebook("It took 42 s."), path)
    assert prose.main([str(path)]) == 1
    out = capsys.readouterr().out
    assert "nb.ipynb: markdown cell 1: '42'" in out
    nbformat.write(notebook("It took 42 s.", printed="42 s"), path)
    assert prose.main([str(path)]) == 0
