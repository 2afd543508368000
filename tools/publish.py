"""`make book` and `make slides`: the executed course as a static site and as reveal.js decks.

Both read the notebooks that `make course` executed (build/course/*.ipynb) and execute nothing.
Everything a page or a deck loads is served from the build (MathJax, reveal.js, the
theme's fonts): an offline classroom reads them as they are, and the browser test fails on any
request to another host.

    python tools/publish.py book      # build/book/index.html   (Jupyter Book 1.x on Sphinx)
    python tools/publish.py slides    # build/slides/index.html (nbconvert's reveal.js exporter)
    python tools/publish.py book 03 08   # a few notebooks only, by number or name
    python tools/publish.py marks     # each cell's slide mark (write-marks: set the rules' mark where none is)

Widgets cannot move in a static page: each widget is drawn in its last state (the figure its
Output last held; a progress bar's final count) under a line that says to run the notebook.
"""
from __future__ import annotations

import argparse
import copy
import html
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib

import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
COURSE = ROOT / "build" / "course"
BOOK, SLIDES, CACHE = ROOT / "build" / "book", ROOT / "build" / "slides", ROOT / "build" / ".cache"
WIDGET_VIEW, WIDGET_STATE = "application/vnd.jupyter.widget-view+json", "application/vnd.jupyter.widget-state+json"
# The browser's assets, from the npm registry (npm checks each tarball's integrity), served from the
# build: MathJax 3 for pages and decks, reveal.js 4 (the layout nbconvert's template expects)
NPM_PACKAGES = {"mathjax": ("3.2.2", ["es5", "LICENSE"]), "reveal.js": ("4.6.1", ["dist", "plugin", "LICENSE"])}  # Apache-2.0, MIT
MATHJAX_JS = "mathjax/es5/tex-mml-chtml.js"
# One MathJax configuration for pages and decks: $...$ and \\(...\\) typeset where MyST-NB and
# nbconvert put maths (class "math", the outputs), nowhere else (code keeps its dollars)
MATHJAX_CONFIG = {"tex": {"inlineMath": [["$", "$"], ["\\(", "\\)"]], "processEscapes": True, "tags": "ams"},
                  "options": {"ignoreHtmlClass": "tex2jax_ignore|mathjax_ignore",
                              "processHtmlClass": "tex2jax_process|mathjax_process|math|output_area|jp-RenderedMarkdown"}}


def repository() -> tuple[str, str]:
    """(https address, "owner/name") of the repository, from pyproject.toml's [project.urls]."""
    url = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
    return url, url.split("github.com/")[1].strip("/")


def launch_links(stem: str) -> dict[str, str]:
    """Where a student runs notebook `stem`: the same addresses as the README's badges."""
    _, slug = repository()
    return {"Open in Colab": f"https://colab.research.google.com/github/{slug}/blob/main/notebooks/{stem}.ipynb",
            "Launch on Binder": f"https://mybinder.org/v2/gh/{slug}/main?labpath=notebooks/{stem}.ipynb"}


def executed(names=()) -> list[pathlib.Path]:
    """The executed copies of the notebooks (all, or those whose name or number is in `names`);
    a clear error if `make course` has not made them."""
    sources = [p for p in sorted(NOTEBOOKS.glob("*.ipynb")) if not names or {p.stem, p.stem.split("_")[0]} & set(names)]
    if not sources:
        raise SystemExit(f"no notebook {' '.join(names)}; notebooks are: "
                         + ", ".join(p.stem for p in sorted(NOTEBOOKS.glob("*.ipynb"))))
    missing = [p.name for p in sources if not (COURSE / p.name).exists()]
    if missing:
        raise SystemExit(f"no executed copy of {', '.join(missing)} in {COURSE}: run `make course` first "
                         "(the book and the slides show the notebooks as `make course` ran them; they execute nothing)")
    for p in sources:
        if p.stat().st_mtime > (COURSE / p.name).stat().st_mtime:
            print(f"warning: notebooks/{p.name} changed after make course ran it: the pages show the older run",
                  file=sys.stderr)
    return [COURSE / p.name for p in sources]


# --- widgets, frozen -----------------------------------------------------------------------------

def _text(value: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", value or "")).strip()


def _frozen(model_id: str, states: dict, controls: list[str]) -> list[dict]:
    """The outputs that show widget `model_id` in its last state; its controls' values go to `controls`."""
    w = states.get(model_id)
    if w is None:
        return []
    name, s = w.get("model_name", ""), w.get("state", {})
    children = [c.removeprefix("IPY_MODEL_") for c in s.get("children", [])]
    kinds = [states.get(c, {}).get("model_name") for c in children]
    if kinds == ["HTMLModel", "FloatProgressModel", "HTMLModel"]:  # a tqdm bar: its final count as text
        left, bar, right = (states[c]["state"] for c in children)
        share = bar.get("value", 0) / (bar.get("max") or 1)
        line = f"{_text(left.get('value'))} |{'█' * round(20 * share):<20}| {_text(right.get('value'))}"
        return [nbformat.v4.new_output("display_data", data={"text/plain": line.strip()})]
    if name == "OutputModel":
        return freeze_outputs(s.get("outputs", []), states)
    if children:
        return [o for c in children for o in _frozen(c, states, controls)]
    if name in ("HTMLModel", "HTMLMathModel", "LabelModel") and s.get("value"):
        return [nbformat.v4.new_output("display_data", data={"text/html": s["value"]})]
    value = s.get("value")
    if s.get("_options_labels") and isinstance(s.get("index"), int):  # a dropdown keeps its choice's index
        value = s["_options_labels"][s["index"]]
    if value is not None:
        controls.append(f"{s.get('description') or name.removesuffix('Model')} = {value}")
    return []


def freeze_outputs(outputs: list, states: dict) -> list:
    """`outputs` with every widget view replaced by what the widget last showed."""
    frozen = []
    for out in outputs:
        view = out.get("data", {}).get(WIDGET_VIEW)
        if view is None:
            frozen.append(out)
            continue
        controls: list[str] = []
        shown = _frozen(view["model_id"], states, controls)
        if controls:  # an explorer, not a progress bar: say what the page cannot do
            note = ("<p class=\"frozen-widget\"><em>An interactive explorer, shown as it was left ("
                    + html.escape(", ".join(controls)) + "). Run the notebook to move its controls.</em></p>")
            shown.insert(0, nbformat.v4.new_output("display_data", data={"text/html": note}))
        frozen += shown
    return frozen


def freeze_widgets(nb):
    """A copy of executed notebook `nb` that shows each widget's last state with no widget code."""
    nb = copy.deepcopy(nb)
    states = nb.metadata.pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = freeze_outputs(cell.outputs, states)
    return nb


# --- slide marks ---------------------------------------------------------------------------------

def _draws(cell) -> bool:
    return any(k in o.get("data", {}) for o in cell.get("outputs", []) for k in ("image/png", WIDGET_VIEW))


def slide_mark(cell, executed_cell) -> str:
    """The reveal.js mark the course's rules give a cell (a notebook's own mark wins, see `marks`).

    A title or a numbered section opens a slide and a ### heading a sub-slide; prose after it comes
    as a fragment; a cell that draws (a figure, a widget) gets a sub-slide of its own, so the picture
    is seen whole; the setup and parameters cells are skipped. Exercises are cut off at build time."""
    src = cell.source.lstrip()
    if cell.cell_type == "markdown":
        if src.startswith("## Parameters"):
            return "skip"
        if src.startswith(("# ", "## ")):
            return "slide"
        return "subslide" if src.startswith("### ") else "fragment"
    if "parameters" in cell.metadata.get("tags", []) or "google.colab" in src:
        return "skip"
    return "subslide" if _draws(executed_cell) else "fragment"


def marks(write: bool = False) -> None:
    """Print (or, with `write`, set where missing) each notebook cell's slide mark."""
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        run = nbformat.read(COURSE / path.name, as_version=4)
        changed = False
        for i, (cell, ran) in enumerate(zip(nb.cells, run.cells)):
            mark = cell.metadata.get("slideshow", {}).get("slide_type") or slide_mark(cell, ran)
            if write and "slideshow" not in cell.metadata:
                cell.metadata["slideshow"] = {"slide_type": mark}
                changed = True
            print(f"{path.stem} cell {i:2d} {cell.cell_type:8s} {mark:8s} {cell.source[:60]!r}")
        if changed:
            nbformat.write(nb, path)


TALL = 10   # lines of code above which a drawing cell's picture gets a sub-slide of its own


def _split_tall(cell) -> list:
    """A tall cell that draws, as two slides: its code, then its outputs without the code (so
    the picture is not pushed below the bottom of the slide); any other cell as it is."""
    if cell.cell_type != "code" or not _draws(cell) or cell.source.count("\n") < TALL:
        return [cell]
    code, shown = copy.deepcopy(cell), copy.deepcopy(cell)
    code.outputs = []
    shown.metadata["tags"] = shown.metadata.get("tags", []) + ["remove_input"]
    shown.metadata["slideshow"] = {"slide_type": "subslide"}
    shown["id"] = f"{cell.get('id', 'cell')}-outputs"
    return [code, shown]


def for_slides(nb, source=None):
    """A deck's notebook: widgets frozen, the exercises cut from the summary, and each cell's slide
    mark taken from `source` (the notebook as committed, matched by cell id) where it has one."""
    nb = freeze_widgets(nb)
    marks = {c.get("id"): c.metadata["slideshow"] for c in (source.cells if source else []) if "slideshow" in c.metadata}
    for cell in nb.cells:
        if cell.get("id") in marks:
            cell.metadata["slideshow"] = marks[cell.get("id")]
        if cell.cell_type == "markdown" and "## Exercises" in cell.source:
            cell.source = cell.source.split("## Exercises")[0].rstrip()
    nb.cells = [part for cell in nb.cells for part in _split_tall(cell)]
    return nb


# --- the book ------------------------------------------------------------------------------------

def _lecture_map(pages: list[str]) -> str:
    """The README's table of notebooks with each name a link to its page (badge columns left out:
    their pictures live on other hosts; each page has its own launch row)."""
    readme = (ROOT / "README.md").read_text()
    rows = [line for line in readme.split("## The notebooks", 1)[1].splitlines() if line.startswith("| ")]
    out = ["| # | lecture | what you do |", "|---|---|---|"]
    for line in rows[1:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        stem = cells[1].strip("`")
        if stem in pages:
            out.append(f"| {cells[0]} | [{stem}]({stem}.ipynb) | {cells[2]} |")
    return "\n".join(out)


def _book_config(title: str) -> str:
    url, _ = repository()
    # the theme's launch menu; Jupyter Book's own keys are overridden by html_theme_options below,
    # so the same settings go in both places
    launch = {"notebook_interface": "jupyterlab", "binderhub_url": "https://mybinder.org",
              "colab_url": "https://colab.research.google.com"}
    config = {
        "title": title, "author": "the course's authors", "copyright": "MIT (code), CC BY 4.0 (prose)",
        "only_build_toc_files": True, "exclude_patterns": ["_build", "_clean", "_assets", "**.ipynb_checkpoints"],
        "execute": {"execute_notebooks": "off"},  # make course ran them; nothing runs twice
        "parse": {"myst_enable_extensions": ["colon_fence", "dollarmath", "amsmath"]},
        "repository": {"url": url, "path_to_book": "notebooks", "branch": "main"},
        "launch_buttons": launch,
        "html": {"use_repository_button": True, "home_page_in_navbar": True},
        "sphinx": {"config": {
            "mathjax_path": MATHJAX_JS, "mathjax3_config": MATHJAX_CONFIG,  # from the build, not a CDN
            "myst_update_mathjax": False,  # MATHJAX_CONFIG already holds MyST's classes
            # Jupyter Book's extensions less thebe, which loads a live kernel's scripts from another
            # host (the launch row opens Binder or Colab instead)
            "extensions": ["sphinx_togglebutton", "sphinx_copybutton", "myst_nb", "jupyter_book", "sphinx_comments",
                           "sphinx_external_toc", "sphinx.ext.intersphinx", "sphinx_design", "sphinx_book_theme"],
            # no _static/ folder: Jupyter Book would put a <script> tag on every page for each .js in it
            "html_static_path": ["_assets"], "html_css_files": ["course.css"],
            "html_context": {"default_mode": "light"},
            "html_theme_options": {"use_download_button": True, "repository_url": url,
                                   "launch_buttons": launch,
                                   "path_to_docs": "notebooks", "repository_branch": "main"},
            "suppress_warnings": ["mystnb.unknown_mime_type"],
        }},
    }
    return json.dumps(config, indent=1)  # YAML is a superset of JSON


def book(names=()) -> pathlib.Path:
    """Build the site under build/book/ from the executed notebooks; returns its index page."""
    paths = executed(names)
    stage = ROOT / "build" / ".book"
    shutil.rmtree(stage, ignore_errors=True)
    for folder in ("_assets", "_clean"):
        (stage / folder).mkdir(parents=True)
    for path in paths:
        nb = freeze_widgets(nbformat.read(path, as_version=4))
        links = " · ".join(f"[{k}]({v})" for k, v in launch_links(path.stem).items())
        row = nbformat.v4.new_markdown_cell(
            f"**Run it yourself:** {links} · {{download}}`download the notebook <_clean/{path.name}>`",
            metadata={"slideshow": {"slide_type": "skip"}})
        nb.cells.insert(1, row)
        nbformat.write(nb, stage / path.name)
        shutil.copy(NOTEBOOKS / path.name, stage / "_clean" / path.name)  # without outputs, to run
    title = "Seeing inside ConvNets"
    intro = (ROOT / "README.md").read_text().split("\n\n")[1]
    (stage / "index.md").write_text(
        f"# {title}\n\n{intro}\n\n## The lectures\n\n{_lecture_map([p.stem for p in paths])}\n\n"
        "Each page is the notebook as `make course` ran it at student settings; open it in Colab or Binder "
        "(the row at the top of each page) to run it and move the widgets. Slides: `make slides`.\n")
    (stage / "_toc.yml").write_text(json.dumps(
        {"format": "jb-book", "root": "index", "chapters": [{"file": p.stem} for p in paths]}, indent=1))
    (stage / "_config.yml").write_text(_book_config(title))
    (stage / "_assets" / "course.css").write_text(
        ".frozen-widget { color: #555; border-left: 3px solid #bbb; padding-left: .6em; }\n"
        ".cell_output img { max-width: 100%; height: auto; }\n")
    _npm_assets(stage / "_assets", ["mathjax"])
    jb = pathlib.Path(sys.executable).parent / "jupyter-book"
    subprocess.run([str(jb), "build", "--all", "-q", str(stage)], check=True)
    shutil.rmtree(BOOK, ignore_errors=True)
    shutil.copytree(stage / "_build" / "html", BOOK)
    return BOOK / "index.html"


# --- the slides ----------------------------------------------------------------------------------

def _npm_assets(folder: pathlib.Path, names: list[str]) -> None:
    """The npm packages `names` (of NPM_PACKAGES), their needed parts copied into `folder`; the
    registry's tarballs are kept in build/.cache, so a second build needs no network."""
    CACHE.mkdir(parents=True, exist_ok=True)
    for name in names:
        version, keep = NPM_PACKAGES[name]
        tgz = CACHE / f"{name}-{version}.tgz"
        if not tgz.exists():
            if shutil.which("npm") is None:
                raise SystemExit(f"npm is needed once, to fetch {name}: on Debian/Ubuntu `apt-get install npm`")
            subprocess.run(["npm", "pack", "-q", f"{name}@{version}", "--pack-destination", str(CACHE)],
                           check=True, stdout=subprocess.DEVNULL)
        with tarfile.open(tgz) as t:
            t.extractall(CACHE / f"{name}-{version}", filter="data")
        for part in keep:
            src, dst = CACHE / f"{name}-{version}" / "package" / part, folder / name / part
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(src, dst) if src.is_dir() else shutil.copy(src, dst)


def slides(names=()) -> pathlib.Path:
    """Build one reveal.js deck per notebook under build/slides/; returns the decks' index page."""
    from nbconvert import SlidesExporter

    paths = executed(names)
    shutil.rmtree(SLIDES, ignore_errors=True)
    assets = SLIDES / "_static"
    assets.mkdir(parents=True)
    _npm_assets(assets, ["reveal.js", "mathjax"])
    from traitlets.config import Config

    config = Config()
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_input_tags = {"remove_input"}
    exporter = SlidesExporter(config=config,
        reveal_url_prefix="_static/reveal.js", reveal_transition="none", reveal_theme="white",
        mathjax_url=f"_static/{MATHJAX_JS}",
        template_name="reveal", extra_template_paths=[str(ROOT / "tools" / "templates")])
    exporter.template_file = "course_reveal.html.j2"
    items = []
    for path in paths:
        deck = for_slides(nbformat.read(path, as_version=4), nbformat.read(NOTEBOOKS / path.name, as_version=4))
        body, _ = exporter.from_notebook_node(deck,
                                              resources={"mathjax_config": json.dumps(MATHJAX_CONFIG)})
        (SLIDES / f"{path.stem}.slides.html").write_text(body, encoding="utf-8")
        items.append(f'<li><a href="{path.stem}.slides.html">{html.escape(path.stem)}</a></li>')
    (SLIDES / "index.html").write_text(
        "<!doctype html><meta charset=utf-8><title>Seeing inside ConvNets: slides</title>"
        "<h1>Seeing inside ConvNets: slides</h1><p>One deck per lecture (arrow keys or space to advance; "
        "<kbd>s</kbd> for speaker notes). To present live, with cells to run and widgets to move, open the "
        "notebook in JupyterLab and press the RISE button.</p><ul>" + "".join(items) + "</ul>\n")
    return SLIDES / "index.html"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["book", "slides", "marks", "write-marks"])
    parser.add_argument("notebooks", nargs="*", help="numbers or names (default: all)")
    args = parser.parse_args(argv)
    t = time.perf_counter()
    if args.what in ("marks", "write-marks"):
        executed()
        marks(write=args.what == "write-marks")
        return 0
    page = (book if args.what == "book" else slides)(args.notebooks)
    print(f"{args.what}: {page} ({time.perf_counter() - t:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
