"""Regular expressions compiled on first use.

A module-level ``re.compile`` runs at import, whether or not the pattern is ever used: some
forty of them cost several milliseconds of every ``torchup`` start (issue 15).  ``lazy``
returns a stand-in that compiles its pattern the first time a method is called on it."""

from __future__ import annotations

import re

__all__ = ["lazy"]


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
