"""Presenting results: JSON for machines, tidy text for people.

Colour only when the stream is a TTY and ``NO_COLOR`` is unset
(https://no-color.org), never in JSON.

Every ``--json`` document, result or error, is one envelope on stdout
(docs/json.md): ``{"format": "torchup/<command>", "version": N, ...}``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping

from torchup.lazyre import lazy

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)
if TYPE_CHECKING:
    import re
    from typing import Any, ClassVar, TextIO


__all__ = ["FORMAT_VERSIONS", "Style", "emit_json", "envelope", "printable", "redact_url", "style_for"]

# The version of each --json document (docs/json.md); bump one when a key of it changes meaning.
FORMAT_VERSIONS = {
    "plan": 1,
    "probe": 1,
    "catalog": 1,
    "catalog-refresh": 1,
    "install": 1,
    "add": 1,
    "guard": 1,
    "verify": 1,
    "doctor": 1,
    "explain": 1,
    "matrix": 1,
    "site": 1,
    "fleet-probe": 1,
    "fleet-plan": 1,
    "fleet-rollout": 1,
    "fleet-verify": 1,
}

# scheme://user[:password]@ - the userinfo of every URL in a text.  The scheme's length is bounded: unbounded,
# every letter of a long run was a start that scanned the rest of the run (100 KB of letters took 13 s)
_USERINFO = lazy(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{0,31}://)(?P<user>[^/@\s:]*)(?P<pw>:[^/@\s]*)?@")


def redact_url(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***`` (``user:***@host``);
    a user name alone (often a token) becomes ``***@host``.  For everything torchup shows or logs."""

    def hide(m: re.Match) -> str:
        return f"{m['scheme']}{m['user']}:***@" if m["pw"] is not None else f"{m['scheme']}***@"

    if "@" not in text:  # no userinfo without one: most texts never reach the pattern
        return text
    return _USERINFO.sub(hide, text)


class Style:
    """ANSI styling that collapses to plain text when colour is off."""

    _CODES: ClassVar[dict[str, str]] = {
        "bold": "1",
        "dim": "2",
        "red": "31",
        "green": "32",
        "yellow": "33",
        "cyan": "36",
    }

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


def envelope(document: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """``{"format": "torchup/<document>", "version": N, **body}``; ``document`` is a key of FORMAT_VERSIONS."""
    return {"format": f"torchup/{document}", "version": FORMAT_VERSIONS[document], **body}


def emit_json(document: str, body: Mapping[str, Any], stream: TextIO | None = None) -> None:
    """Write one envelope (see ``envelope``) as indented JSON to stdout."""
    stream = stream or sys.stdout
    stream.write(json.dumps(envelope(document, body), indent=2, ensure_ascii=False) + "\n")


def map_strings(value: Any, change: Callable[[str], str]) -> Any:
    """``value`` (decoded JSON: dicts, lists, strings, numbers) with ``change`` applied to every
    string in it; keys are kept as they are."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {k: map_strings(v, change) for k, v in value.items()}
    if isinstance(value, list):
        return [map_strings(v, change) for v in value]
    return value


def printable(text: str) -> str:
    """``text`` from a file, safe to print on one line: what is not printable (escape
    sequences, carriage returns, newlines, and the Unicode format characters that reorder or
    hide text, such as U+202E) is shown escaped (``\\x1b``, ``\\n``, ``\\u202e``), so a file
    cannot forge or hide torchup's own lines."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
