"""Forgiving, honest name lookup: an unknown name raises an error listing the closest valid ones."""
from __future__ import annotations

import difflib
from typing import Iterable


def closest(name: str, choices: Iterable[str], n: int = 5) -> list[str]:
    """The valid names most like `name`: close spellings first, then names containing it.

    Parameters
    ----------
    name : str
    choices : iterable of str
        The valid names.
    n : int
        At most this many.

    Returns
    -------
    list of str
    """
    choices = list(choices)
    close = difflib.get_close_matches(name, choices, n=n, cutoff=0.5)
    lowered = name.lower()
    close += [c for c in choices if lowered in c.lower() and c not in close]
    return close[:n]


def unknown(what: str, name, choices: Iterable[str], hint: str = "") -> KeyError:
    """The error for an unknown name, to raise: its message says what was asked for and what
    would be right.

    Parameters
    ----------
    what : str
        What kind of name ("layer", "model", "sample image", ...).
    name : str or any
        What was asked for.
    choices : iterable of str
        The valid names.
    hint : str
        A sentence appended to the message (what to pass instead).

    Returns
    -------
    NameNotFound
        A KeyError listing the closest valid names (or some valid ones when none is close).
    """
    choices = list(choices)
    near = closest(str(name), choices)
    msg = f"unknown {what} {name!r}"
    if near:
        msg += f"; closest valid: {', '.join(map(repr, near))}"
    else:
        msg += f"; no similar name. Valid ones include: {', '.join(map(repr, choices[:8]))}"
    if hint:
        msg += f". {hint}"
    return NameNotFound(msg)


class NameNotFound(KeyError):
    """KeyError whose message prints as written (KeyError normally shows its repr)."""

    def __str__(self) -> str:
        return str(self.args[0])
