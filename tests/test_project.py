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
    """lecturelib's docstrings name `ll.xxx` and `at.xxx` (lecturelib.attribution): each must exist,
    and nothing may cite a file students do not have. (The notebooks and the README: next test.)"""
    import lecturelib
    texts = {nb.name: nb.read_text() for nb in NOTEBOOKS}
    texts.update({p.name: p.read_text() for p in (ROOT / "lecturelib").glob("*.py")})
    texts["README.md"] = (ROOT / "README.md").read_text()
    missing = []
    for name, text in texts.items():
        assert "KNOWN_GOOD" not in text, f"{name} cites KNOWN_GOOD_SETTINGS, which is not part of the course"
        if not name.endswith(".py"):
            continue
        for prefix, root in (("ll", lecturelib), ("at", lecturelib.attribution)):
            for dotted in set(re.findall(rf"(?<![\w.]){prefix}\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)", text)):
                try:
                    _resolve(root, dotted)
                except (AttributeError, ImportError):
                    missing.append(f"{name}: {prefix}.{dotted}")
    assert not missing, "names that do not exist: " + ", ".join(sorted(missing))


def _reachable_submodules() -> set:
    """lecturelib's modules that `ll.<module>` reaches right after `import lecturelib as ll` (imported
    by the package, or loaded on first use), asked of a fresh interpreter."""
    code = ("import pathlib, lecturelib as ll; print(' '.join(p.stem for p in pathlib.Path(ll.__file__).parent.glob('*.py') "
            "if not p.stem.startswith('_') and hasattr(ll, p.stem)))")
    return set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())


def _course_references(text: str) -> list:
    """Every lecturelib name a notebook or the README uses, as (how it is written, module it is reached
    through, the dotted chain after it): `ll.a.b` (and `lecturelib.a.b`), `alias.b` after
    `from lecturelib import a as alias`, and `from lecturelib.a import b`."""
    aliases = {"ll": "lecturelib", "lecturelib": "lecturelib"}
    aliases.update({m[1]: f"lecturelib.{m[0]}" for m in re.findall(r"^\s*from lecturelib import (\w+) as (\w+)", text, re.M)})
    aliases.update({m[1]: f"lecturelib.{m[0]}" for m in re.findall(r"^\s*import lecturelib\.(\w+) as (\w+)", text, re.M)})
    refs = []
    for alias, module in aliases.items():
        for dotted in re.findall(rf"(?<![\w.\-/]){alias}\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)", text):
            refs.append((alias, module, dotted.split(".")))
    for module, names in re.findall(r"^\s*from (lecturelib(?:\.\w+)*) import ([^\n#]+)", text, re.M):
        for item in names.strip("() ").split(","):
            name = item.split(" as ")[0].strip()
            if name and not (module == "lecturelib" and " as " in item):   # `from lecturelib import x as y`: above
                refs.append((f"from {module} import", module, [name]))
    return refs


def test_course_names_are_public_and_spelled_one_way():
    """Every lecturelib name a notebook or the README uses is in the `__all__` of the module it is
    reached through, and each object has one spelling across the course: `ll.<name>` when the
    package exports it (`lecturelib.__all__`), otherwise `ll.<module>.<name>` with <module> the
    module that defines it (`ll.evaluation.pointing_game`, not `ll.attribution.pointing_game`)."""
    import importlib
    import types

    import lecturelib
    reachable = _reachable_submodules()
    exported = {id(getattr(lecturelib, n)): n for n in lecturelib.__all__}
    texts = {nb.name: "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"]) for nb in NOTEBOOKS}
    texts["README.md"] = (ROOT / "README.md").read_text()
    problems, spellings = [], {}
    for where, text in texts.items():
        for how, module, chain in _course_references(text):
            obj, owner, written = importlib.import_module(module), None, how
            for part in chain:
                if not isinstance(obj, types.ModuleType):
                    break                                   # an attribute of a public class or object
                written += ("." if not written.startswith("from ") else " ") + part
                if part in getattr(obj, "__all__", ()):
                    owner, obj = obj, getattr(obj, part)
                elif obj is lecturelib and part in reachable:
                    obj = importlib.import_module(f"lecturelib.{part}")
                else:
                    problems.append(f"{where}: {written}: {part!r} is not in {obj.__name__}.__all__"
                                    + ("" if obj is not lecturelib else f" nor a module that ll reaches ({sorted(reachable)})"))
                    break
            else:
                if owner is None:
                    continue                                # a module named in prose: no object to spell
                home = getattr(obj, "__module__", None) if isinstance(obj, (type, types.FunctionType)) else None
                if owner is not lecturelib and id(obj) in exported:
                    problems.append(f"{where}: {written}: spell it ll.{exported[id(obj)]} (lecturelib exports it)")
                elif owner is not lecturelib and home and home.startswith("lecturelib.") and home != owner.__name__:
                    problems.append(f"{where}: {written}: spell it ll.{home.split('.', 1)[1]}.{chain[-1]} (its module)")
                spellings.setdefault(id(obj), {}).setdefault(written, where)
    for ways in spellings.values():
        if len(ways) > 1:
            problems.append("one object, several spellings: " + ", ".join(f"{w} ({n})" for w, n in ways.items()))
    assert not problems, "\n".join(sorted(set(problems)))


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
    counts as floor 7.5: only floors 8 and 9 may import it)."""
    readme = (ROOT / "README.md").read_text()
    floors = {"__init__": 7.5, "__main__": 10}
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
