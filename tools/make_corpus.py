"""Take the charrnn corpus: a fixed snapshot of Python source from the standard library.

Run once (the result is committed); every machine then trains and evaluates on the same text.

    python tools/make_corpus.py            # from this interpreter's standard library

It takes the top-level modules of the standard library in name order, keeps those that are plain
ASCII without tabs and that Python's tokenizer reads, and stops at about 2.9 MB. The files are
joined with a header line each. The last files (about 5 %) are the held-out text: the notebook and
the tests measure on it, and a copy ships inside the package so a plain `pip install` has it.
Writes data/charrnn/ (corpus.txt, LICENSE-PSF.txt, SHA256SUMS) and lecturelib/weights/charrnn_heldout.txt.
"""
from __future__ import annotations

import hashlib
import io
import pathlib
import sys
import sysconfig
import tokenize

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "charrnn"
HELDOUT = ROOT / "lecturelib" / "weights" / "charrnn_heldout.txt"
TARGET_BYTES = 2_900_000
HELDOUT_FRACTION = 0.05
MAX_FILE_BYTES = 120_000   # no single module dominates


def readable(text: str) -> bool:
    if not text.isascii() or "\t" in text:
        return False
    try:
        list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return False
    return True


def main() -> int:
    stdlib = pathlib.Path(sysconfig.get_paths()["stdlib"])
    chunks, total = [], 0
    for path in sorted(stdlib.glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if len(text) > MAX_FILE_BYTES or not readable(text):
            continue
        chunks.append(f"# ---- {path.name}\n{text.rstrip()}\n\n")
        total += len(chunks[-1])
        if total >= TARGET_BYTES:
            break
    n_held = 0
    while sum(len(c) for c in chunks[len(chunks) - n_held:]) < HELDOUT_FRACTION * total:
        n_held += 1
    corpus = "".join(chunks)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "corpus.txt").write_text(corpus)
    heldout = "".join(chunks[len(chunks) - n_held:])
    HELDOUT.write_text(heldout)
    (OUT / "LICENSE-PSF.txt").write_text((stdlib / "LICENSE.txt").read_text())
    sums = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(ROOT)}\n"
                   for p in (OUT / "corpus.txt", HELDOUT))
    (OUT / "SHA256SUMS").write_text(sums)
    print(f"{len(chunks)} modules of Python {sys.version.split()[0]}, {len(corpus):,} characters; "
          f"held out: the last {n_held} ({len(heldout):,} characters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
