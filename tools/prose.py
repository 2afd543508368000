"""The prose checker (`make course` runs it on the executed notebooks): every number in a
notebook's markdown must be printed by that notebook's run, be a setting in its code, or be a
citation. A number a student cannot find in their own run is a number from someone else's.

A number in markdown is accounted for when
  - the same number appears in a code cell or in an output (stream, text, HTML) of the same
    notebook, as written or rounded to the digits the prose gives ("0.36" for a printed 0.3612;
    "79 %" for a printed 0.79 or 79.2 %);
  - it is a year, or in a sentence that cites (a year or "et al.": the paper's own numbers), or
    part of a link's address;
  - it names a place, not a quantity: a heading's or a list's numbering, "section 3",
    "exercise 2", "notebook 06", "**03 occlusion**", "Fig. 7", "cell 4";
  - it is a whole number in an equation ($...$): an exponent, an index, a constant;
  - it is code: a fenced block or `inline code` (a solution's settings).

    python tools/prose.py build/course/*.ipynb     # exit status 1 and one line per number if any
"""
from __future__ import annotations

import re
import sys

import nbformat

NUMBER = re.compile(r"(?<![\w.])(\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][-+]?\d+)?)(?![\w])(\s*%)?")
PLACE = re.compile(r"(?:exercises?|sections?|§|notebooks?|lectures?|modules?|cells?|parts?|fig\.|figures?|"
                   r"chapters?|tables?|eq\.|equations?|#)\s*$",
                   re.IGNORECASE)
MATH = re.compile(r"\$\$.+?\$\$|\$[^$\n]+\$", re.DOTALL)
CODE = re.compile(r"```.*?```|`[^`\n]+`", re.DOTALL)   # code in markdown (solutions): its numbers are settings
LINK_TARGET = re.compile(r"\]\([^)]*\)|<https?://[^>]*>|https?://\S+")
LIST_MARK = re.compile(r"^\s*(?:#+\s*|[-*]\s+)?(?:\d+[.)])+\s", re.MULTILINE)
YEAR = re.compile(r"(?<!\d)(?:19[5-9]\d|20[0-2]\d)(?!\d)")   # 1950-2029: a citation's year


def _value(token: str) -> float:
    return float(token.replace(",", ""))


def _decimals(token: str) -> int:
    mantissa = token.replace(",", "").lower().split("e")[0]
    return len(mantissa.split(".")[1]) if "." in mantissa else 0


def known_numbers(nb) -> tuple[set, list, list]:
    """The numbers a notebook's code and outputs show: the tokens as written, their values, and the
    values printed as percentages."""
    texts = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":   # code shown in the prose (solutions): its settings count
            texts += [m.group(0) for m in CODE.finditer(cell.source)]
        if cell.cell_type != "code":
            continue
        texts.append(cell.source)
        for out in cell.get("outputs", []):
            if "text" in out:
                texts.append(out["text"])
            for kind in ("text/plain", "text/html", "text/markdown", "text/latex"):
                if kind in out.get("data", {}):
                    texts.append(out["data"][kind])
    tokens, values, percents = set(), [], []
    for text in texts:
        text = text if isinstance(text, str) else "".join(text)
        for m in NUMBER.finditer(text):
            tokens.add(m.group(1).replace(",", ""))
            (percents if m.group(2) else values).append(_value(m.group(1)))
    return tokens, values, percents


def _accounted(token: str, percent: bool, known: tuple) -> bool:
    """Printed as written, or rounded to the prose's digits (a whole number in the prose matches a
    printed decimal only as a percentage: "79 %" for 0.7917 or 79.2 %)."""
    tokens, values, percents = known
    if token.replace(",", "") in tokens:
        return True
    v, d = _value(token), _decimals(token)
    if percent:
        return any(round(100 * k, d) == v for k in values if k <= 1) or any(round(k, d) == v for k in percents)
    return d > 0 and any(round(k, d) == v for k in values + percents)


def _blank(text: str, pattern: re.Pattern) -> str:
    """`text` with each match of `pattern` replaced by spaces (positions kept)."""
    return pattern.sub(lambda m: " " * len(m.group(0)), text)


def _math_without_constants(m: re.Match) -> str:
    """An equation with its whole numbers (exponents, indices, constants) blanked out: what
    stays to be checked are its decimals, the measured values a formula might quote."""
    return re.sub(r"(?<![\w.])\d+(?![\w.])", lambda e: " " * len(e.group(0)), m.group(0))


def _cites(sentence: str) -> bool:
    """A sentence with "et al." or a year cites a paper (a year alone in prose is one too)."""
    return "et al" in sentence or bool(YEAR.search(sentence))


def _sentence(text: str, at: int) -> str:
    """The sentence of `text` around position `at`."""
    start = max(text.rfind(". ", 0, at), text.rfind("\n\n", 0, at)) + 1
    ends = [e for e in (text.find(". ", at), text.find("\n\n", at)) if e >= 0]
    return text[start:min(ends) if ends else len(text)]


def unaccounted(nb) -> list[tuple[int, str, str]]:
    """(cell index, number, its context) for each number in markdown that the notebook's own code
    and outputs do not show and that is no citation, place or equation constant."""
    known = known_numbers(nb)
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        text = _blank(cell.source, CODE)
        text = _blank(text, LINK_TARGET)
        text = _blank(text, LIST_MARK)
        text = MATH.sub(_math_without_constants, text)
        for m in NUMBER.finditer(text):
            token, percent = m.group(1), bool(m.group(2))
            if (re.fullmatch(r"0\d", token) or PLACE.search(text[max(0, m.start() - 20):m.start()])
                    or _cites(_sentence(cell.source, m.start()))):
                continue
            if not _accounted(token, percent, known):
                context = " ".join(cell.source[max(0, m.start() - 40):m.end() + 20].split())
                problems.append((index, token + ("%" if percent else ""), context))
    return problems


def main(paths: list[str]) -> int:
    bad = 0
    for path in paths:
        for index, number, context in unaccounted(nbformat.read(path, as_version=4)):
            bad += 1
            print(f"{path}: markdown cell {index}: {number!r} is printed nowhere in this notebook's run, "
                  f"is no setting in its code and no citation: ...{context}...")
    if bad:
        print(f"{bad} number(s) in the prose that the run does not show: print them, or describe them in "
              "words that hold on any machine")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
