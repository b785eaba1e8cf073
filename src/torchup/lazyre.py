"""Regular expressions compiled on first use.

A module-level ``re.compile`` runs at import, whether or not the pattern is ever used: some
forty of them cost several milliseconds of every ``torchup`` start (issue 15).  ``lazy``
returns a stand-in that compiles its pattern the first time a method is called on it."""

from __future__ import annotations

import re

__all__ = ["lazy", "top_branches"]


class _LazyPattern:
    __slots__ = ("_compiled", "_flags", "_pattern")

    def __init__(self, pattern: str, flags: int) -> None:
        self._pattern = pattern
        self._flags = flags
        self._compiled: re.Pattern[str] | None = None

    def __getattr__(self, name: str):
        if self._compiled is None:
            self._compiled = re.compile(self._pattern, self._flags)
        return getattr(self._compiled, name)


def lazy(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """``re.compile(pattern, flags)``, done when the pattern is first used."""
    return _LazyPattern(pattern, flags)  # type: ignore[return-value]  # it answers as the pattern does


def top_branches(pattern: str) -> list[str]:
    """``pattern`` cut at each ``|`` outside groups and classes: ``a|b(c|d)`` -> ``a``, ``b(c|d)``."""
    branches, depth, begin, i, in_class = [], 0, 0, 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            i += 1 + (pattern[i + 1 : i + 2] == "^")  # a "]" first in a class is a literal
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            branches.append(pattern[begin:i])
            begin = i + 1
        i += 1
    return [*branches, pattern[begin:]]
