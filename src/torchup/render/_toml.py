"""TOML text for the documents the renderers build: tables of strings, booleans, integers, arrays
and inline tables, every key and string escaped as TOML 1.0 requires.

Written here rather than imported: the TOML writer torchup used before (tomli-w) imports the whole
``datetime`` module for its date values, about 2 ms of every ``plan --json`` on Python 3.11
(issue 15), and these documents hold no dates.  The layout is the one that writer gives with an
indent of 2, so the renderings did not change: ``tests/test_render_toml.py`` proves the two agree on
every document torchup renders and on generated hostile ones, and that ``tomllib`` reads the text
back as the data.

The layout: in a table, its plain values first (``key = value``), then each sub-table under its
own ``[dotted.header]``; a blank line between sections.  A non-empty array is written one item per
line, indented, each with a trailing comma.  A list of tables is written as inline tables when each
fits on a line of at most 100 characters, else as ``[[header]]`` sections.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)
if TYPE_CHECKING:
    from typing import TypeGuard

__all__ = ["dumps"]

INDENT = "  "
MAX_LINE = 100  # a list of tables longer than this on a line is written as [[header]] sections
_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
# what a basic string cannot hold as itself: '"', '\\' and the control characters but tab
_SHORT_ESCAPES = {"\b": "\\b", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}
_ESCAPED = {
    **{chr(c): f"\\u{c:04x}" for c in [*range(0x20), 0x7F] if c != 0x09},
    **_SHORT_ESCAPES,
}


def dumps(document: Mapping[str, object]) -> str:
    """The TOML text of ``document`` (a mapping of str keys to str, bool, int, list, tuple or mapping)."""
    return "".join(_table(document, header=""))


def string(text: str) -> str:
    """``text`` as a TOML basic string (``"..."``)."""
    if not any(ch in _ESCAPED for ch in text):
        return f'"{text}"'
    return '"' + "".join(_ESCAPED.get(ch, ch) for ch in text) + '"'


def key(name: str) -> str:
    """``name`` as a key: bare when it is letters, digits, ``-`` and ``_``, else quoted."""
    if not isinstance(name, str):
        raise TypeError(f"a TOML key must be a string, not {type(name).__name__}")
    return name if name and _BARE.issuperset(name) else string(name)


def _table(table: Mapping[str, object], *, header: str, array_item: bool = False) -> Iterator[str]:
    plain: list[tuple[str, object]] = []
    sections: list[tuple[str, Mapping[str, object], bool]] = []  # (key, table, one of an array of tables)
    for name, value in table.items():
        if isinstance(value, Mapping):
            sections.append((name, value, False))
        elif _is_table_list(value) and not all(_fits_inline(t) for t in value):
            sections += [(name, t, True) for t in value]
        else:
            plain.append((name, value))
    started = False
    if array_item or (header and (plain or not sections)):
        yield f"[[{header}]]\n" if array_item else f"[{header}]\n"
        started = True
    for name, value in plain:
        yield f"{key(name)} = {_value(value, 0)}\n"
        started = True
    for name, sub, in_array in sections:
        if started:
            yield "\n"
        started = True
        yield from _table(sub, header=f"{header}.{key(name)}" if header else key(name), array_item=in_array)


def _value(value: object, depth: int) -> str:
    if isinstance(value, bool):  # before int: a bool is an int
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return string(value)
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        inner, outer = INDENT * (depth + 1), INDENT * depth
        return "[\n" + ",\n".join(inner + _value(item, depth + 1) for item in value) + f",\n{outer}]"
    if isinstance(value, Mapping):
        return _inline(value)
    raise TypeError(f"torchup writes no TOML value of type {type(value).__name__}")


def _inline(table: Mapping[str, object]) -> str:
    if not table:
        return "{}"
    return "{ " + ", ".join(f"{key(name)} = {_value(value, 0)}" for name, value in table.items()) + " }"


def _is_table_list(value: object) -> TypeGuard[list[Mapping[str, object]] | tuple[Mapping[str, object], ...]]:
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _fits_inline(table: Mapping[str, object]) -> bool:
    line = f"{INDENT}{_inline(table)},"
    return len(line) <= MAX_LINE and "\n" not in line
