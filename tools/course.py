"""`make course`: run every notebook at its student settings and check the course's budgets.

Each notebook is executed top to bottom in a fresh kernel, offline (LECTURELIB_QUICK unset;
LECTURELIB_ALLOW_UNTRAINED=1 so missing ImageNet weights become marked random ones). The
executed copy, an HTML rendering an instructor can open, and every figure as a PNG go under
build/course/. One table is printed: notebook, wall time, peak resident memory of the kernel,
status. Then `tools/prose.py` checks every number in the markdown against the executed notebook's
code and outputs. The exit status is non-zero when a cell fails, a notebook exceeds its budget, or
the prose quotes a number its run does not show.

    python tools/course.py                      # every notebook
    python tools/course.py 04 08_deepdream      # a few, by number or name
    python tools/course.py --one-core           # on one CPU, as Binder gives a student (`make course-one-core`)
"""
from __future__ import annotations

import argparse
import base64
import os
import pathlib
import shutil
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

from lecturelib.bench import peak_rss_mb

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import prose  # noqa: E402  (tools/prose.py: the numbers in the markdown against the run)

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
# The course's budgets on 2 CPU cores (README, "make course"): per notebook, and for the whole course.
MAX_SECONDS, MAX_MB, MAX_TOTAL_SECONDS = 180, 1536, 15 * 60


def kernel_env() -> dict:
    """The environment a student's kernel has, offline: full settings, untrained weights allowed."""
    env = dict(os.environ, LECTURELIB_ALLOW_UNTRAINED="1", PYTHONHASHSEED="0")
    for name in ("LECTURELIB_QUICK", "MPLBACKEND"):  # full settings; figures inline
        env.pop(name, None)
    return env


def save_figures(nb, folder: pathlib.Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)  # no figure of an earlier run stays behind
    folder.mkdir(parents=True)
    n = 0
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" in data:
                n += 1  # numbered across the notebook: a cell may draw several figures
                (folder / f"cell{i:02d}_{n:02d}.png").write_bytes(base64.b64decode(data["image/png"]))


def cell_timeout(cell) -> int:
    """Seconds a cell may take: 120 for one that builds a widget explorer, else 300."""
    return 120 if "ll.widgets." in cell.source or "W.interactive(" in cell.source else 300


def run(path: pathlib.Path, out: pathlib.Path, max_seconds: float = MAX_SECONDS) -> dict:
    nb = nbformat.read(path, as_version=4)
    # 300 s a cell: no cell of a notebook with a 180 s budget needs more, and a lost kernel reply
    # (the kernel idle, the client waiting) ends in minutes, not 15. The replies lost here were to
    # cells that draw a widget (nbclient issue 312): such a cell gets 120 s, and a rerun follows.
    client = NotebookClient(nb, timeout=300, timeout_func=cell_timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    row = {"name": path.stem, "seconds": float("nan"), "mb": float("nan"), "status": "ok", "cells": []}
    t0 = time.perf_counter()
    try:
        with client.setup_kernel(env=kernel_env()):
            pid = client.km.provisioner.process.pid
            try:
                for index, cell in enumerate(nb.cells):
                    t = time.perf_counter()
                    client.execute_cell(cell, index)
                    row["cells"].append((time.perf_counter() - t, index))
            except CellExecutionError as e:
                first = str(e).strip().splitlines()
                row["status"] = f"cell {index} failed: {first[-1] if first else e}"[:160]
            except CellTimeoutError:
                row["status"] = f"cell {index} timed out"
            finally:
                # Widgets' last state (progress bars at 100 %, explorers' figures) into the
                # executed copy, for `make book` and `make slides` (nbclient's execute() does
                # this; a cell-by-cell loop must ask)
                client.set_widgets_metadata()
                row["seconds"] = time.perf_counter() - t0
                row["mb"] = peak_rss_mb(pid)
    except Exception as e:  # the kernel died (memory) or would not start
        row["status"] = f"kernel error: {type(e).__name__}: {e}"[:160]
        row["seconds"] = time.perf_counter() - t0
    if row["status"] == "ok" and row["seconds"] > max_seconds:
        row["status"] = f"over {max_seconds} s"
    if row["status"] == "ok" and row["mb"] > MAX_MB:
        row["status"] = f"over {MAX_MB} MB"
    out.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out / path.name)
    save_figures(nb, out / path.stem)
    try:
        from nbconvert import HTMLExporter
        html, _ = HTMLExporter().from_notebook_node(nb)
        (out / f"{path.stem}.html").write_text(html, encoding="utf-8")
    except Exception as e:  # the HTML is a convenience; the run's verdict does not depend on it
        print(f"{path.stem}: no HTML ({type(e).__name__}: {e})", file=sys.stderr)
    return row


def select(names: list[str]) -> list[pathlib.Path]:
    every = sorted(NOTEBOOKS.glob("*.ipynb"))
    if not names:
        return every
    chosen = []
    for name in names:
        hits = [p for p in every if p.stem == name or p.stem.split("_")[0] == name or p.name == name]
        if not hits:
            raise SystemExit(f"no notebook {name!r}; notebooks are: {', '.join(p.stem for p in every)}")
        chosen += hits
    return chosen


def report(r: dict) -> None:
    cells = sorted(r["cells"], reverse=True)
    slowest = ", ".join(f"cell {i} {t:.0f} s" for t, i in cells[:3])
    print(f"  {r['seconds']:6.1f} s  {r['mb']:6.0f} MB  {r['status']}  (slowest: {slowest})", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="numbers or names (default: all)")
    parser.add_argument("--out", help="folder for the executed copies (default build/course, "
                        "or build/course-one-core with --one-core)")
    parser.add_argument("--one-core", action="store_true",
                        help="pin this process and every kernel to one CPU, as Binder gives a student; times are "
                             "measured and reported, not held to the 2-core budget (memory still is)")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out or ROOT / "build" / ("course-one-core" if args.one_core else "course"))
    max_seconds = MAX_SECONDS
    if args.one_core:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})  # kernels started from here inherit it (as `taskset -c` does)
        max_seconds = float("inf")
        print(f"on CPU {cpu} only: times are reported, not held to the {MAX_SECONDS} s budget", flush=True)
    rows = []
    for path in select(args.notebooks):
        print(f"running {path.name} ...", flush=True)
        r = run(path, out, max_seconds)
        report(r)
        if r["status"] == f"over {max_seconds} s" or r["status"].endswith("timed out"):
            # A shared 2-core machine can stall for minutes (CI once measured 1009 s for a notebook
            # that takes 108 s before and after), and a kernel's reply can get lost (the kernel
            # idle, the client waiting). One rerun tells those from a slow or stuck notebook; both
            # results are printed, and the notebook fails if the rerun fails too.
            print(f"  {r['status']}: running {path.name} once more", flush=True)
            first = f"{r['seconds']:.0f} s, {r['status']}"
            r = run(path, out, max_seconds)
            report(r)
            r["note"] = f" (first run: {first})"
        rows.append(r)
    total = sum(r["seconds"] for r in rows)
    width = max(len(r["name"]) for r in rows)
    budget = (f"{MAX_MB} MB per notebook; times on one CPU, not held to a budget" if args.one_core else
              f"budget {MAX_SECONDS} s and {MAX_MB} MB per notebook, {MAX_TOTAL_SECONDS // 60} min in all")
    print(f"\ncourse at student settings ({budget}); executed copies in {out}")
    print(f"{'notebook':{width}s}  {'time':>8s}  {'peak RSS':>9s}  status")
    for r in rows:
        print(f"{r['name']:{width}s}  {r['seconds']:7.1f}s  {r['mb']:6.0f} MB  {r['status']}{r.get('note', '')}")
    print(f"{'total':{width}s}  {total:7.1f}s")
    failed = [r["name"] for r in rows if r["status"] != "ok"]
    # The prose checker: every number in the markdown is printed by the run, set in code or cited
    print("\nnumbers in the prose against each notebook's own run (tools/prose.py):")
    if prose.main([str(out / f"{r['name']}.ipynb") for r in rows]):
        failed.append("the prose check")
    else:
        print("  every number in the markdown is printed, set in code or cited")
    if len(rows) == len(select([])) and total > MAX_TOTAL_SECONDS and not args.one_core:
        failed.append(f"the whole course ({total:.0f} s > {MAX_TOTAL_SECONDS} s)")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
