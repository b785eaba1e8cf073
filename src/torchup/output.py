"""Presenting results: JSON for machines, tidy text for people.

Colour only when the stream is a TTY and ``NO_COLOR`` is unset
(https://no-color.org), never in JSON.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Mapping, TextIO

__all__ = ["Style", "emit_json", "printable", "style_for"]


class Style:
    """ANSI styling that collapses to plain text when colour is off."""

    _CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __getattr__(self, name: str):
        code = self._CODES.get(name)
        if code is None:
            raise AttributeError(name)
        return lambda text: f"\x1b[{code}m{text}\x1b[0m" if self.enabled else text


def style_for(stream: TextIO, env: Mapping[str, str]) -> Style:
    isatty = getattr(stream, "isatty", lambda: False)
    enabled = bool(isatty()) and "NO_COLOR" not in env and env.get("TERM") != "dumb"
    return Style(enabled)


def emit_json(data: Any, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    stream.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def printable(text: str) -> str:
    """``text`` from a file, safe to print on one line: what is not printable (escape
    sequences, carriage returns, newlines, and the Unicode format characters that reorder or
    hide text, such as U+202E) is shown escaped (``\\x1b``, ``\\n``, ``\\u202e``), so a file
    cannot forge or hide torchup's own lines."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
