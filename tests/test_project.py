"""The repository's promises: equal environments, one repository address, clean notebooks."""
import json
import pathlib
import re
import subprocess
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
REPO = PYPROJECT["project"]["urls"]["Repository"]
SLUG = REPO.removeprefix("https://github.com/")


def test_binder_and_conda_environments_are_equal():
    assert (ROOT / "environment.yml").read_text() == (ROOT / "binder" / "environment.yml").read_text()


def test_environment_lists_every_dependency():
    env = (ROOT / "environment.yml").read_text()
    for dep in PYPROJECT["project"]["dependencies"]:
        assert f"- {dep}" in env, f"{dep} is in pyproject.toml but not environment.yml"


def test_one_repository_address_everywhere():
    texts = {"README.md": (ROOT / "README.md").read_text()}
    texts.update({nb.name: nb.read_text() for nb in NOTEBOOKS})
    for name, text in texts.items():
        for slug in re.findall(r"github\.com/([\w.-]+/[\w.-]+)", text):
            assert slug == SLUG, f"{name} points at {slug}, not {SLUG} (pyproject.toml)"
        for slug in re.findall(r"mybinder\.org/v2/gh/([\w.-]+/[\w.-]+)", text):
            assert slug == SLUG, f"{name} binder link points at {slug}"


def test_readme_lists_every_notebook_with_badges():
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme and "python -m lecturelib fetch" in readme
    for nb in NOTEBOOKS:
        assert f"colab.research.google.com/github/{SLUG}/blob/main/notebooks/{nb.name}" in readme
        assert f"mybinder.org/v2/gh/{SLUG}/main?labpath=notebooks/{nb.name}" in readme


def test_notebooks_follow_the_pattern():
    assert NOTEBOOKS, "no notebooks"
    for nb in NOTEBOOKS:
        cells = json.loads(nb.read_text())["cells"]
        code = [c for c in cells if c["cell_type"] == "code"]
        sources = ["".join(c["source"]) for c in code]
        assert "google.colab" in sources[0] and f"git+{REPO}" in sources[0], f"{nb.name}: setup cell"
        assert "ll.setup(" in sources[0], f"{nb.name}: setup cell must call ll.setup()"
        assert any("parameters" in c.get("metadata", {}).get("tags", []) for c in code), f"{nb.name}: parameters cell"
        for c in code:
            if "keep_output" not in c.get("metadata", {}).get("tags", []):
                assert not c.get("outputs") and c.get("execution_count") is None, f"{nb.name}: outputs committed"


def test_ci_runs_the_readme_test_commands():
    ci, readme = (ROOT / ".ci" / "run").read_text(), (ROOT / "README.md").read_text()
    for command in ("make test", "make course", "make test-browser"):
        assert command in ci and command in readme, command


def test_make_test_lints_with_ruff():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: .*\blint\b", makefile, re.M) and "-m ruff check" in makefile, "make test must run ruff"
    assert any(d.startswith("ruff") for d in PYPROJECT["project"]["optional-dependencies"]["dev"])
    assert PYPROJECT["tool"]["ruff"]["lint"]["select"], "pyproject.toml names ruff's rules"


def test_cli_doctor():
    out = subprocess.run([sys.executable, "-m", "lecturelib", "doctor"], capture_output=True, text=True, check=True).stdout
    assert "torch" in out and "squeezenet1_1" in out and "digits" in out


def _resolve(root, dotted: str):
    import importlib
    obj = root
    for part in dotted.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            if not hasattr(obj, "__path__"):  # a package's submodule may not be imported yet
                raise
            obj = importlib.import_module(f"{obj.__name__}.{part}")
    return obj


def test_every_lecturelib_name_the_course_mentions_exists():
    """Notebooks (code and prose) and lecturelib's docstrings name `ll.xxx` and `at.xxx`
    (lecturelib.attribution): each must exist, and nothing may cite a file students do not have."""
    import lecturelib
    texts = {nb.name: nb.read_text() for nb in NOTEBOOKS}
    texts.update({p.name: p.read_text() for p in (ROOT / "lecturelib").glob("*.py")})
    texts["README.md"] = (ROOT / "README.md").read_text()
    missing = []
    for name, text in texts.items():
        assert "KNOWN_GOOD" not in text, f"{name} cites KNOWN_GOOD_SETTINGS, which is not part of the course"
        for prefix, root in (("ll", lecturelib), ("at", lecturelib.attribution)):
            for dotted in set(re.findall(rf"(?<![\w.]){prefix}\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)", text)):
                try:
                    _resolve(root, dotted)
                except (AttributeError, ImportError):
                    missing.append(f"{name}: {prefix}.{dotted}")
    assert not missing, "names that do not exist: " + ", ".join(sorted(missing))


def lecturelib_imports() -> dict:
    """{module: {modules it imports}} inside lecturelib, at any depth of the code (a function-level
    import is still an import); `import lecturelib` counts as importing the package's __init__."""
    import ast
    graph = {}
    for path in sorted((ROOT / "lecturelib").glob("*.py")):
        name, edges = path.stem, set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                edges |= {node.module} if node.module else {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lecturelib"):
                edges.add(node.module.split(".")[1] if "." in node.module else "__init__")
            elif isinstance(node, ast.Import):
                edges |= {a.name.split(".")[1] if "." in a.name else "__init__"
                          for a in node.names if a.name.split(".")[0] == "lecturelib"}
        graph[name] = edges - {name, "__main__"}
    return graph


def test_lecturelib_has_no_import_circles():
    graph = lecturelib_imports()
    done, stack = set(), []

    def visit(m):
        if m in stack:
            raise AssertionError("import circle: " + " → ".join(stack[stack.index(m):] + [m]))
        if m in done:
            return
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            visit(n)
        stack.pop()
        done.add(m)
    for m in graph:
        visit(m)


def test_modules_import_only_from_lower_floors():
    """The README's map of floors is the rule: every import goes down (the package's __init__
    counts as floor 6.5: only floors 7 and 8 may import it)."""
    readme = (ROOT / "README.md").read_text()
    floors = {"__init__": 6.5, "__main__": 9}
    for level, cell in re.findall(r"^  \| (\d) \| ([^|]+) \|", readme, re.M):
        floors.update({m: int(level) for m in re.findall(r"`(\w+)`", cell)})
    graph = lecturelib_imports()
    assert set(graph) <= set(floors), f"modules missing from the README's floors: {set(graph) - set(floors)}"
    for m, edges in graph.items():
        for n in edges:
            assert floors[n] < floors[m], f"{m} (floor {floors[m]}) imports {n} (floor {floors[n]})"


def test_no_private_name_crosses_a_module():
    import ast
    modules = {p.stem for p in (ROOT / "lecturelib").glob("*.py")}
    for path in sorted((ROOT / "lecturelib").glob("*.py")):
        tree = ast.parse(path.read_text())
        aliases = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                bad = [a.name for a in node.names if a.name.startswith("_")]
                assert not bad, f"{path.name} imports private {bad} from .{node.module}"
                if node.module is None:
                    aliases |= {a.asname or a.name for a in node.names if a.name in modules}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                assert not node.attr.startswith("_"), f"{path.name} reaches into {node.value.id}.{node.attr}"
