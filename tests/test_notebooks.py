"""Every notebook runs, once: top to bottom in a fresh kernel, then each of its exercises' solutions.

This is `make test`'s only execution of the notebooks (nbval in lax mode would run the same cells
a second time and check nothing more). A notebook ends with a markdown cell holding "## Exercises"
(numbered questions) and, folded in <details><summary>Solutions</summary>, numbered answers. An
answer that involves running something carries its code as a fenced ```python block next to the
prose, written to run in the notebook's namespace after all of its cells ran, with
`ll.param(full, quick=small)` for sizes and steps.

test_notebook_runs_then_its_exercises executes each notebook in a fresh kernel of this Python (nbval's
current-env kernel; LECTURELIB_QUICK=1, LECTURELIB_ALLOW_UNTRAINED=1 and MPLBACKEND=Agg from
tests/conftest.py; working directory notebooks/): a failing cell fails the test naming the cell;
then it runs every solution block in that kernel, and fails naming the notebook, the exercise and
the error.

test_every_exercise_has_its_code is the cheap static check: every numbered question has an answer,
and every answer has a code block unless the question is listed in CONCEPTUAL below (answered by an
argument, or needing what a test cannot have), with the reason.
"""
import json
import pathlib
import re
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# (notebook, exercise number): why its answer has no code to run. Keep this list short and honest:
# a listed exercise that gains a code block fails the test until its entry is removed.
CONCEPTUAL = {
    ("09_deep_art", 4): "needs VGG-19's ImageNet weights (a download) and a GPU at 512 px; offline it would "
                        "tune a random network",
}

# (notebook, exercise number): a solution that fails today because of a library bug, with the bug.
# The test reports these as an expected failure (xfail); once the solution runs, it fails until the
# entry is removed, so a fixed bug cannot hide a new one.
KNOWN_FAILURES: dict = {}

_ITEM = re.compile(r"^(\d+)\.\s")
_FENCE_OPEN = re.compile(r"^(\s*)```python\s*$")
_ITEM_FENCE = re.compile(r"^(\d+)\.(\s+)```python\s*$")   # "1. ```python": the answer opens with its code
_FENCE_CLOSE = re.compile(r"^\s*```\s*$")


def exercises_cell(nb_path: pathlib.Path) -> str:
    """The source of the notebook's last cell, which must be markdown with "## Exercises"."""
    cells = json.loads(nb_path.read_text())["cells"]
    last = cells[-1]
    source = "".join(last["source"])
    assert last["cell_type"] == "markdown" and "## Exercises" in source, \
        f"{nb_path.name}: the last cell must be the markdown cell with '## Exercises'"
    return source


def parse(source: str) -> tuple[list[int], dict[int, list[str]]]:
    """(the numbers of the questions, {number: [the code of each fenced python block of its answer]})."""
    exercises = source[source.index("## Exercises"):]
    assert "<details><summary>Solutions</summary>" in exercises and exercises.rstrip().endswith("</details>"), \
        "the solutions are folded in <details><summary>Solutions</summary> … </details>"
    questions, answers = exercises.split("<details><summary>Solutions</summary>", 1)
    numbers = [int(m.group(1)) for line in questions.splitlines() if (m := _ITEM.match(line))]
    blocks: dict[int, list[str]] = {}
    current, fence, indent = None, None, ""
    for line in answers.splitlines():
        if fence is not None:
            if _FENCE_CLOSE.match(line):
                blocks[current].append(textwrap.dedent("\n".join(fence)))
                fence = None
            else:
                fence.append(line[len(indent):] if line.startswith(indent) else line)
        elif (m := _ITEM_FENCE.match(line)) is not None:
            current = int(m.group(1))
            blocks.setdefault(current, [])
            fence, indent = [], " " * (len(m.group(1)) + 1 + len(m.group(2)))
        elif (m := _ITEM.match(line)) is not None:
            current = int(m.group(1))
            blocks.setdefault(current, [])
        elif (m := _FENCE_OPEN.match(line)) is not None:
            assert current is not None, "a code block before the first numbered answer"
            fence, indent = [], m.group(1)
    assert fence is None, f"exercise {current}: a ```python block is not closed"
    return numbers, blocks


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_has_its_code(nb_path):
    numbers, blocks = parse(exercises_cell(nb_path))
    assert numbers == list(range(1, len(numbers) + 1)), f"{nb_path.name}: questions numbered {numbers}"
    assert sorted(blocks) == numbers, f"{nb_path.name}: answers {sorted(blocks)} for questions {numbers}"
    for n in numbers:
        why = CONCEPTUAL.get((nb_path.stem, n))
        if why is None:
            assert blocks[n], f"{nb_path.name} exercise {n}: its answer needs a ```python block (or an entry, " \
                              f"with the reason, in CONCEPTUAL)"
        else:
            assert not blocks[n], f"{nb_path.name} exercise {n} has code now: remove it from CONCEPTUAL"
    stale = [k for k in CONCEPTUAL if k[0] == nb_path.stem and k[1] not in numbers]
    assert not stale, f"CONCEPTUAL names exercises that do not exist: {stale}"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_then_its_exercises(nb_path):
    import nbformat
    from jupyter_client import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager

    _, blocks = parse(exercises_cell(nb_path))
    nb = nbformat.read(nb_path, as_version=4)
    km = AsyncKernelManager(kernel_name=CURRENT_ENV_KERNEL_NAME, kernel_spec_manager=NbvalKernelspecManager())
    # 300 s a cell: after a widget cell ipykernel 7 sometimes loses its "idle" message and nbclient
    # waits out the whole timeout before going on (seen in make course); 900 s would cost 15 min
    client = NotebookClient(nb, km=km, timeout=300, resources={"metadata": {"path": str(nb_path.parent)}})
    failures, known = [], []
    with client.setup_kernel(cleanup_kc=True):       # cleanup_kc: shut the kernel down afterwards
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                client.execute_cell(cell, index)     # raises, naming the cell, if the notebook itself fails
        for n, codes in blocks.items():
            bug = KNOWN_FAILURES.get((nb_path.stem, n))
            raised = False
            for k, code in enumerate(codes, 1):
                cell = nbformat.v4.new_code_cell(code)
                nb.cells.append(cell)
                try:
                    client.execute_cell(cell, len(nb.cells) - 1)
                except CellExecutionError as err:
                    raised = True
                    which = f"{nb_path.name} exercise {n}" + (f", block {k}" if len(codes) > 1 else "")
                    (known if bug else failures).append(f"{which}: {err.ename}: {err.evalue}" + ("" if bug else f"\n{code}"))
            if bug and not raised:
                failures.append(f"{nb_path.name} exercise {n} runs now: remove it from KNOWN_FAILURES ({bug})")
    assert not failures, "solutions that fail:\n\n" + "\n\n".join(failures)
    if known:
        pytest.xfail("known library bugs: " + "; ".join(known))
