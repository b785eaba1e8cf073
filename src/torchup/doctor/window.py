"""What of a big log explain reads: its head, its tail, and the lines around each error in between.

Pure over an iterable of chunks (``str`` or ``bytes``), so a 100 MB log streamed on standard
input is never held whole: memory stays about ``head + middle + tail`` plus one chunk.

Start-up warnings sit at a log's head and the error that stopped a program at its tail; an
error far from either (a first failure followed by megabytes of retries or progress) is found
by a cheap literal scan of the middle for the words logs mark trouble with (``TRIGGERS``),
keeping the lines within ``reach`` of each hit, the earliest first, up to ``middle`` in all.
Each trigger costs one fast substring search per chunk, so the list is short on purpose.
UTF-16 and UTF-32 logs are read as head and tail only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)
if TYPE_CHECKING:
    from typing import Any, AnyStr

__all__ = ["REACH", "TRIGGERS", "gather"]

# Error, error, RuntimeError, OSError; Warning, warning, UserWarning.  Not ERROR or WARNING:
# each trigger costs scanning time over the whole middle, and pip's "ERROR:" ends a log.
# Searched for in one pass (``_trigger_pattern``), which must be changed with them.
TRIGGERS = ("rror", "arning")
REACH = 2048  # characters of context kept either side of a hit in the middle
_LONGEST = max(TRIGGERS, key=len)


def _line_start(buf: Any, at: int, nl: Any, cr: Any) -> int:
    """The start of the line holding ``at`` (a CR ends a line only in a log without LF)."""
    cut = buf.rfind(nl, 0, at)
    if cut < 0:
        cut = buf.rfind(cr, 0, at)
    return cut + 1 if cut >= 0 else 0


def _line_end(buf: Any, at: int, nl: Any, cr: Any) -> int:
    cut = buf.find(nl, at)
    if cut < 0:
        cut = buf.find(cr, at)
    return cut + 1 if cut >= 0 else len(buf)


def gather(
    chunks: Iterable[AnyStr], *, head: int, middle: int, tail: int, reach: int = REACH, aligned: int = 1
) -> AnyStr:
    """The parts of the log made of ``chunks`` that explain examines, joined by line breaks.

    The whole log when it is no bigger than ``head + middle + tail``; else its first ``head``
    and last ``tail`` characters cut at line breaks, and between them the lines around the
    first hits of ``TRIGGERS`` in the middle.  ``aligned=2`` is for UTF-16 bytes: no line
    snapping and no middle scan (the triggers are ASCII), the tail starts at an even offset.
    """
    first: AnyStr | None = None
    ring: deque[AnyStr] = deque()  # the latest chunks, at least ``tail`` long
    ring_len = 0
    total = 0
    heads: list[AnyStr] = []
    windows: list[tuple[int, AnyStr]] = []  # (absolute start, text) in the middle
    kept = 0
    carry_start = 0  # absolute offset of ``carry``
    carry: AnyStr | None = None
    limit = head + middle + tail
    for chunk in chunks:
        if first is None:
            first = chunk[:0]
        if not chunk:
            continue
        if total < head:
            heads.append(chunk[: head - total])
        total += len(chunk)
        ring.append(chunk)
        ring_len += len(chunk)
        while ring_len - len(ring[0]) >= max(tail, limit if total <= limit else 0):
            ring_len -= len(ring.popleft())
        if aligned == 1 and kept < middle:
            carry, carry_start, kept = _scan(carry, carry_start, chunk, windows, kept, head, middle, reach)
    if first is None:
        return ""  # type: ignore[return-value]  # nothing read: an empty log of either type
    if total <= limit:
        return first.join(ring)
    if aligned == 1 and carry is not None and kept < middle:
        _, _, kept = _scan(carry, carry_start, first, windows, kept, head, middle, reach, last=True)
    return _assemble(first, heads, ring, ring_len, total, windows, head, tail, aligned)


def _scan(
    carry: Any,
    carry_start: int,
    chunk: Any,
    windows: list[tuple[int, Any]],
    kept: int,
    head: int,
    middle: int,
    reach: int,
    last: bool = False,
) -> tuple[Any, int, int]:
    """Look for triggers in ``carry + chunk``; the last ``reach`` are left for the next call
    (their context is not read yet) unless ``last``.  Returns the new carry, its offset and
    how much of the middle is now kept."""
    empty = chunk[:0]
    pattern = _trigger_pattern(type(empty))
    start = 0 if carry is None else max(0, len(carry) - reach)
    start = max(start, head - carry_start)
    if carry is not None and not last and len(chunk) >= 2 * reach and _quiet(carry, chunk, pattern, start):
        # most of a big log: nothing to keep, and ``carry + chunk`` (a copy of each chunk) not made
        keep_from = len(chunk) - 2 * reach
        return chunk[keep_from:], carry_start + len(carry) + keep_from, kept
    buf = chunk if carry is None else carry + chunk
    nl, cr = _breaks(empty)
    stop = len(buf) if last else len(buf) - reach
    at = _first(buf, pattern, start, stop)
    while at >= 0 and kept < middle:
        lo = _line_start(buf, max(0, at - reach), nl, cr)
        hi = _line_end(buf, min(len(buf), at + reach), nl, cr)
        piece = buf[lo:hi]
        windows.append((carry_start + lo, piece))
        kept += len(piece)
        at = _first(buf, pattern, hi, stop)
    keep_from = max(0, len(buf) - 2 * reach)
    return buf[keep_from:], carry_start + keep_from, kept


def _quiet(carry: Any, chunk: Any, pattern: Any, start: int) -> bool:
    """True when no trigger begins in ``(carry + chunk)[start:]``, looked for without joining
    them: around the seam in a small copy, then in ``chunk`` where it lies.  (False may be
    said of a quiet chunk, never True of one with a trigger.)"""
    seam = len(_LONGEST) - 1  # a trigger that begins in ``carry`` ends this far into ``chunk`` at most
    if pattern.search(carry + chunk[:seam], start) is not None:
        return False
    # a hit at ``chunk[0]`` looks one character back (``_trigger_pattern``): the seam's search found it
    return pattern.search(chunk, 1) is None


def _breaks(empty: Any) -> tuple[Any, Any]:
    """LF and CR as ``empty``'s type (str or bytes)."""
    return ("\n", "\r") if isinstance(empty, str) else (b"\n", b"\r")


_PATTERNS: dict[type, Any] = {}


def _trigger_pattern(kind: type) -> Any:
    """One pass for both triggers, compiled on first use (for ``str`` or ``bytes``): a pattern
    that starts with the literal ``r`` is searched for with ``re``'s fast literal scan, and
    ``r[rn]`` drops most of the other ``r`` at once: ~0.7 ms per MB here, against ~1.2 ms for
    ``r(?:ror|(?<=ar)(n)ing)``, ~1.6 ms for a ``find`` per trigger and ~7.7 ms for the plain
    alternation ``rror|arning``, which has no literal start.  An ``arning`` hit is reported
    from its ``r`` (the group says so), so ``_first`` moves it back one."""
    pattern = _PATTERNS.get(kind)
    if pattern is None:
        import re

        source = r"r[rn](?:(?<=rr)or|(?<=arn)(i)ng)"
        pattern = _PATTERNS[kind] = re.compile(source if kind is str else source.encode("ascii"))
    return pattern


def _first(buf: Any, pattern: Any, start: int, stop: int) -> int:
    """Where the first of ``TRIGGERS`` that begins in ``buf[start:stop]`` begins, or -1."""
    at = start
    while at < stop:
        match = pattern.search(buf, at, stop + len("arning") - 1)
        if match is None:
            return -1
        hit = match.start() - 1 if match.group(1) else match.start()
        if hit >= start:
            return hit if hit < stop else -1
        at = match.start() + 1  # an "arning" whose "a" lies before ``start``: look further on
    return -1


def _assemble(
    empty: Any,
    heads: list[Any],
    ring: deque[Any],
    ring_len: int,
    total: int,
    windows: list[tuple[int, Any]],
    head: int,
    tail: int,
    aligned: int,
) -> Any:
    text_head = empty.join(heads)
    text_tail = empty.join(ring)
    tail_start = total - tail
    if aligned > 1:
        cut = -tail_start % aligned  # the tail starts at an offset of the log that is a multiple
        text_tail = text_tail[len(text_tail) - tail + cut :]
        # "\n" * aligned: a character decode_log reads (U+0A0A), not a line break, but aligned
        sep = empty.join([_breaks(empty)[0]] * aligned)
        return sep.join([text_head[: len(text_head) & ~(aligned - 1)], text_tail])
    nl, cr = _breaks(empty)
    cr_only = nl not in text_head and cr in text_head
    sep = cr if cr_only else nl
    end = text_head.rfind(sep)
    text_head = text_head[: end + 1] if end >= 0 else text_head
    text_tail = text_tail[len(text_tail) - tail :]
    brk = _line_end(text_tail, 0, nl, cr)
    if brk < len(text_tail):
        text_tail = text_tail[brk:]
    pieces = [piece[: tail_start - start] for start, piece in windows if start < tail_start]
    return sep.join([text_head, *pieces, text_tail])
