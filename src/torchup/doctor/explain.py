"""Turn an error message or a whole log into findings, best first.

Pure: bytes or text in, ``Finding`` objects out.  The knowledge lives in the
problem catalog (``problems.json``, see ``torchup.doctor.problems``); this module
only decodes, cleans, matches and ranks.

Cost is bounded whatever the input: only the first ``HEAD_CHARS``, the last
``TAIL_CHARS`` characters and up to ``MIDDLE_CHARS`` of lines around errors in
between are examined (errors sit at the end of a log; warnings printed at
start-up, such as an unsupported GPU, at its head; see ``torchup.doctor.window``).
The text is lower-cased once.  Each signature names literals one of which every
match contains (computed from the patterns by ``prefilter_index``, shipped in
``problems.marshal``): a signature whose literals are all absent is never
compiled, and one whose literals are present runs only in the lines around them.
"""

from __future__ import annotations

import codecs
import re
import sys
from collections.abc import Mapping
from functools import lru_cache

from torchup.doctor.problems import PREFILTERS, PROBLEMS, Problem, lower_pattern
from torchup.doctor.window import gather
from torchup.findings import Finding
from torchup.lazyre import lazy, top_branches
from torchup.record import record

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["HEAD_CHARS", "MIDDLE_CHARS", "TAIL_CHARS", "Facts", "clean_log", "decode_log", "explain", "prefilter_index"]

HEAD_CHARS = 128 * 1024
MIDDLE_CHARS = 1024 * 1024  # at most, of lines around errors between head and tail (torchup.doctor.window)
TAIL_CHARS = 1024 * 1024
MAX_EVIDENCE = 6
MAX_EVIDENCE_LINE = 240
# the catalog's weight scale (docs/problems.md): a message only one problem produces, a strong shared one
ANCHOR_WEIGHT = 12
SHARED_WEIGHT = 8
CORROBORATING_WEIGHT = 5  # a context signal that sharpens a strong one (3-5 on the scale)

# CSI sequences (colours, cursor moves), OSC sequences (titles, links) and the
# two-character escapes; then the C0 controls a log has no use for.  A pattern that starts
# with a literal (ESC, CR) is searched for with re's fast literal scan; one that starts with
# an alternation or a lookbehind is tried at every position (CRLF: 21 ms against 0.6 ms on 1 MB).
_ANSI = lazy(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROLS = lazy(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# the same characters, each looked for with a fast character search: most logs have none, and
# 30 of those cost ~0.6 ms a MB against ~4.5 ms for one search of the class above
_CONTROL_CHARS = tuple(map(chr, [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F]))
_CRLF = lazy(r"\r(?<!\r\r)\r*\n")  # the lookbehind: one try per run of CRs, not one per CR
_NOTE_FIELD = lazy(r"\{(\w+)(?:\|(\w+))?\}")
_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


@record
class Facts:
    """What torchup knows of the target a log came from; None is "unknown".

    explain drops the problems these facts rule out (a catalog entry's ``only_on``):
    a 32-bit-Python problem on a 64-bit Python, a Windows DLL problem on Linux.
    """

    os: str | None = None  # "linux", "windows", "macos"
    arch: str | None = None  # "x86_64", "aarch64", "x86"
    python: str | None = None  # "3.12"
    python_bits: int | None = None  # 32, 64
    free_threaded: bool | None = None
    torch: str | None = None  # the installed torch version; "" when none is installed

    @classmethod
    def from_machine(cls, machine: Any) -> Facts:
        """From a probed ``torchup.machine.Machine`` (doctor has one)."""
        torch = machine.installed.get("torch", "") if machine.installed else None
        return cls(
            os=machine.os,
            arch=machine.arch,
            python=machine.python,
            python_bits=machine.python_bits,
            free_threaded=machine.free_threaded,
            torch=torch,
        )

    @classmethod
    def from_markers(cls, markers: Mapping[str, str], *, torch: str | None = None) -> Facts:
        """From the PEP 508 environment markers of the target (what ``install`` inspects).

        The markers name the OS's machine type, not the interpreter's: a 32-bit Python
        on 64-bit Windows says ``AMD64``.  So the width is known only where it is
        certain: macOS runs 64-bit programs only, and a 32-bit OS runs 32-bit ones.
        """
        from torchup.machine import normalise_arch, normalise_os

        os_ = normalise_os(markers.get("platform_system", "") or markers.get("sys_platform", ""))
        arch = normalise_arch(markers.get("platform_machine", ""))
        bits = 64 if os_ == "macos" else 32 if arch in ("x86", "armv7l") else None
        return cls(os=os_, arch=arch, python=markers.get("python_version") or None, python_bits=bits, torch=torch)

    def describe(self) -> str:
        """``Python 3.12 (64-bit) on linux x86_64, torch 2.5.1``: the known facts, in words."""
        python = " ".join(
            filter(
                None,
                [
                    f"Python {self.python}" if self.python else "Python",
                    f"({self.python_bits}-bit)" if self.python_bits else None,
                    "free-threaded" if self.free_threaded else None,
                ],
            )
        )
        where = " ".join(filter(None, [self.os, self.arch]))
        torch = None if self.torch is None else f"torch {self.torch}" if self.torch else "no torch installed"
        return ", ".join(filter(None, [python + (f" on {where}" if where else ""), torch]))

    def what_rules_out(self, problem: Problem) -> str | None:
        """Why ``problem`` cannot be this target's, or None when nothing known says so."""
        for key, allowed in problem.only_on.items():
            value = getattr(self, key)
            if value is None or value in allowed:
                continue
            if key == "python_bits":
                return f"this Python is {value}-bit"
            if key == "free_threaded":
                return "this Python is free-threaded" if value else "this Python is not free-threaded"
            return f"the target's {'OS' if key == 'os' else 'CPU'} is {value}"
        return None


def decode_log(data: bytes) -> str:
    """Decode a log of unknown encoding; never fails.

    A byte-order mark decides when there is one.  Without one, NUL bytes in
    alternate positions mean UTF-16 (what Windows PowerShell's ``>`` writes,
    sometimes without a BOM once cut); otherwise UTF-8, else cp1252, which maps
    every byte (so a stray Latin-1 byte in a UTF-8 log costs only that byte).
    """
    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, errors="replace")
    sample = data[:4096]
    if len(sample) >= 4:
        even_nul = sample[0::2].count(0)
        odd_nul = sample[1::2].count(0)
        half = len(sample) // 2
        if odd_nul > half * 0.3 and even_nul < half * 0.05:
            return data[: len(data) & ~1].decode("utf-16-le", errors="replace")
        if even_nul > half * 0.3 and odd_nul < half * 0.05:
            return data[: len(data) & ~1].decode("utf-16-be", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Valid multi-byte UTF-8 sequences mean a UTF-8 log with a few broken bytes;
    # none at all means a legacy code page (cp1252 also covers printable Latin-1).
    if re.search(rb"[\xc2-\xf4][\x80-\xbf]{1,3}", data):
        return data.decode("utf-8", errors="replace")
    return data.decode("cp1252", errors="replace")


def _cr_terminated(text: str) -> bool:
    """True when a lone CR ends the lines: the text has CRs and no LF but trailing ones.

    Old Mac tools and some Windows programs write such logs; elsewhere a lone CR is a
    progress bar returning to the start of its line.
    """
    end = len(text)
    while end and text[end - 1] in "\r\n":
        end -= 1
    return "\r" in text and text.find("\n", 0, end) < 0


def _window(text: str) -> str:
    return gather([text], head=HEAD_CHARS, middle=MIDDLE_CHARS, tail=TAIL_CHARS)


def _overlay(line: str) -> str:
    """A line with CRs as a terminal shows it: each CR returns to column 0 and what follows
    overwrites (``'abcdef\\rxy'`` shows ``'xycdef'``).  Linear: built from the last write back."""
    writes = line.split("\r")
    shown = writes[-1]
    for earlier in reversed(writes[:-1]):
        if len(earlier) > len(shown):
            shown += earlier[len(shown) :]
    return shown


def clean_log(text: str) -> str:
    """Strip ANSI escapes and control bytes; line ends as a terminal shows them.

    CRLF (and CR CR LF) is a line end.  In a log with no LF, each lone CR ends a line;
    otherwise a lone CR redraws its line (progress bars) and only what stays on screen is kept.
    """
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    if "\r" in text:
        text = _CRLF.sub("\n", text)
    if "\r" in text:
        if _cr_terminated(text):
            text = text.replace("\r", "\n")
        else:
            text = "\n".join(_overlay(line) if "\r" in line else line for line in text.split("\n"))
    if any(ch in text for ch in _CONTROL_CHARS):
        text = _CONTROLS.sub("", text)
    return text


def _lower(text: str) -> str:
    low = text.lower()
    if len(low) == len(text):
        return low
    # a few non-ASCII letters change length when lowered; offsets must line up
    return text.translate(_ASCII_LOWER)


@lru_cache(maxsize=4096)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(lower_pattern(pattern), re.MULTILINE)


_MIN_LITERAL = 3


def _sre_modules() -> tuple[Any, Any]:
    """The regex parser and its constants, to find the literal text a pattern cannot match
    without (imported only when a pattern's prefilter is not shipped)."""
    if sys.version_info >= (3, 11):
        from re import _constants, _parser  # type: ignore[attr-defined]

        return _parser, _constants
    import sre_constants  # pragma: no cover - Python 3.10
    import sre_parse

    return sre_parse, sre_constants


def _literal_sets(items) -> list[list[str]]:
    """Sets of literal strings such that every match of ``items`` (a parsed regex
    sequence) contains at least one string of each set; only sets whose strings all
    have ``_MIN_LITERAL`` characters or more."""
    _, _sre_constants = _sre_modules()
    sets: list[list[str]] = []

    def consider(alts: list[str] | None) -> None:
        if alts and min(len(a) for a in alts) >= _MIN_LITERAL:
            sets.append(alts)

    run: list[str] = []
    for op, av in items:
        if op is _sre_constants.LITERAL:
            run.append(chr(av))
            continue
        if run and op is _sre_constants.BRANCH:
            # the parser factors a shared start out of the branches (``pipenv|pdm`` is
            # ``p(?:ipenv|dm)``): the literal before the branch with each branch's own start
            consider(["".join(run) + _leading_literal(list(sub)) for sub in av[1]])
        if run:
            consider(["".join(run)])
            run = []
        if op is _sre_constants.SUBPATTERN:
            sets += _literal_sets(list(av[-1]))
        elif op is _sre_constants.BRANCH:
            collected: list[str] = []
            for sub in av[1]:
                found = _most_selective(_literal_sets(list(sub)))
                if found is None:
                    break
                collected += found
            else:
                consider(collected)
        elif op in (_sre_constants.MAX_REPEAT, _sre_constants.MIN_REPEAT) and av[0] >= 1:
            sets += _literal_sets(list(av[2]))
    if run:
        consider(["".join(run)])
    return sets


def _selectivity(alts: list[str]) -> tuple[int, int]:
    return min(len(a) for a in alts), -len(alts)


def _most_selective(sets: list[list[str]]) -> list[str] | None:
    return max(sets, key=_selectivity) if sets else None


def _leading_literal(items) -> str:
    """The literal text every match of ``items`` (a parsed regex sequence) starts with."""
    _, _sre_constants = _sre_modules()
    lead = []
    for op, av in items:
        if op is not _sre_constants.LITERAL:
            break
        lead.append(chr(av))
    return "".join(lead)


REACH = 2000  # a match is looked for within this many characters of its literal (then whole lines)


def prefilter_index(problems: Mapping[str, Problem]) -> dict[str, _Prefilter | None]:
    """``{pattern: literal sets or None}`` for every signature: what ``problems.marshal`` holds.

    Parsing 400 patterns costs ~80 ms, more than explain's whole budget for a short
    message, so the index ships precomputed; a test keeps it equal to this.
    """
    return {
        sig.pattern: _parse_prefilter(lower_pattern(sig.pattern))
        for problem in problems.values()
        for sig in problem.signatures
    }


_Prefilter = tuple[tuple[str, ...], ...]


@lru_cache(maxsize=4096)
def _prefilter(pattern: str) -> _Prefilter | None:
    """Sets of literals (lower case): a match of ``pattern`` contains one of each set.

    A substring test costs far less than a regex search that cannot start from a
    literal prefix; signatures missing a set are skipped.  The most selective set
    comes first: the regex runs only around its occurrences.  None means "always
    run the regex" (no usable literal, or the parser is unavailable).
    """
    if pattern in PREFILTERS:  # the shipped catalog's, from problems.marshal
        return PREFILTERS[pattern]
    return _parse_prefilter(lower_pattern(pattern))


def _parse_prefilter(pattern: str) -> _Prefilter | None:
    """The literal sets of ``pattern`` (as ``lower_pattern`` writes it), most selective first."""
    try:
        sets = _literal_sets(list(_sre_modules()[0].parse(pattern)))
    except Exception:  # noqa: BLE001 - the parser is CPython-internal: any failure degrades to no prefilter
        return None
    unique = {tuple(dict.fromkeys(alts)): None for alts in sorted(sets, key=_selectivity, reverse=True)}
    return tuple(unique) or None


def _line_of(text: str, start: int, end: int) -> str:
    first = text.rfind("\n", 0, start) + 1
    last = text.find("\n", end)
    last = len(text) if last < 0 else last
    lines = [ln.strip() for ln in text[first:last].split("\n")]
    line = " / ".join(ln for ln in lines[:3] if ln)
    if len(line) > MAX_EVIDENCE_LINE:
        line = line[: MAX_EVIDENCE_LINE - 3] + "..."
    return line


def _cuda(value: str) -> str:
    """11040 -> 11.4 (the integer form CUDA reports versions in)."""
    if value.isdigit() and len(value) >= 4:
        number = int(value)
        return f"{number // 1000}.{number % 1000 // 10}"
    return value


_FILTERS = {"cuda": _cuda}


def _note(note: str, match: re.Match[str], original: str) -> str:
    def field(m: re.Match[str]) -> str:
        name, filt = m.group(1), m.group(2)
        span = match.span(name)
        value = original[span[0] : span[1]] if span[0] >= 0 else ""
        return _FILTERS[filt](value) if filt else value

    return _NOTE_FIELD.sub(field, note)


_FEW_SPANS = 4  # a literal set with no more occurrences than this leaves little to search
_BIG_REGION = 64 * 1024  # characters: a pattern searched over this much is searched the fast way
_GLOBAL_FLAGS = lazy(r"\(\?[aiLmsux]+\)")
_BACKREFERENCE = lazy(r"\\[1-9]|\(\?P=|\(\?\(")  # and conditionals: group numbers change when cut


_WORD_RUN = lazy(r"\\b(\w{2,})(?![*+?{])")  # \b and a run of word characters, its last one not repeated


def _with_literal_start(branch: str) -> str | None:
    """``branch`` written to start with a literal, same matches at the same places, or None.

    ``\buvx\b`` becomes ``uvx(?<=\buvx)\b``: the word boundary before a word character, checked
    behind it (a pattern that starts with ``\b`` has no literal start).  A plain or escaped
    character that is not repeated already is one."""
    run = _WORD_RUN.match(branch)
    if run is not None:
        word = run.group(1)
        return word + "(?<=\\b" + word + ")" + branch[run.end() :]
    first = branch[:2] if branch[:1] == "\\" else branch[:1]
    plain = first.isalnum() or first in "-_/<>'\"=:,;!@#%&~ "
    escaped = len(first) == 2 and not first[1].isalnum()  # \. \+ \( ...
    if (plain or escaped) and branch[len(first) : len(first) + 1] not in "*?{":
        return branch
    return None


@lru_cache(maxsize=1024)
def _fast_way(pattern: str) -> tuple[str, list[re.Pattern[str]]] | None:
    """How to find the first match of ``pattern`` (as ``_compile`` runs it) in a long region faster
    than its own search, which tries a pattern that does not start with a literal at every
    position (~8 ms a MB against well under 1 ms for one that does):

    - ``("branches", [...])``: a top-level alternation whose branches each start with a literal
      or can be written to (``_with_literal_start``): the first match starts where the earliest
      of the branches' first matches does; a single ``\bword...`` is one such branch;
    - ``("lines", [...])``: ``^...`` (multi-line): searched for as ``\n...``, one try per line;
    - None: neither (or global flags, back-references or conditionals, which cutting would change).
    """
    if _GLOBAL_FLAGS.match(pattern) or _BACKREFERENCE.search(pattern):
        return None
    branches = top_branches(pattern)
    if len(branches) == 1 and pattern.startswith("^") and pattern[1:2] not in "*?{":
        return "lines", [re.compile("\n(?:" + pattern[1:] + ")", re.MULTILINE)]
    rewritten = [_with_literal_start(b) for b in branches]
    if len(branches) == 1 and rewritten[0] == pattern:
        return None  # it starts with a literal already: its own search is the fast one
    if any(b is None for b in rewritten):
        return None
    return "branches", [re.compile(b, re.MULTILINE) for b in rewritten if b is not None]


def _search_region(rx: re.Pattern[str], text: str, start: int, end: int) -> re.Match[str] | None:
    """``rx.search(text, start, end)``, the same match, found faster in a long region
    (``_fast_way``): the place it starts is found by patterns that start with a literal, and
    ``rx`` itself then matches there, so the match object (groups included) is its own."""
    way = _fast_way(rx.pattern)
    if way is None:
        return rx.search(text, start, end)
    kind, parts = way
    if kind == "lines":
        match = rx.match(text, start, end)  # a match at the region's own start, which no "\n" precedes
        if match is not None:
            return match
        found = parts[0].search(text, start, end)
        return None if found is None else rx.match(text, found.start() + 1, end)
    starts = [m.start() for part in parts if (m := part.search(text, start, end)) is not None]
    return rx.match(text, min(starts), end) if starts else None


# every digit as 0 in the words ``_Text.has`` looks literals up in: a log with a counter, a loss
# or a timestamp on each line has as many distinct words as lines, and looking ~500 literals up
# among 30,000 of them cost ~150 ms of a 1 MB training log; with the digits folded, a few hundred
def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted ``(start, end)`` spans with those that overlap or touch made one."""
    out: list[tuple[int, int]] = []
    for lo, hi in spans:
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


_FOLD_DIGITS = bytes.maketrans(b"123456789", b"000000000")


class _Text:
    """The lower-cased log with what the signatures ask of it remembered: which literals occur
    (looked up among the distinct words of its distinct lines, digits folded, far fewer than its
    characters) and the spans around each literal's occurrences."""

    def __init__(self, low: str) -> None:
        self.low = low
        self._words: bytes | None = None
        self._seen: dict[str, bool] = {}
        self._spans: dict[str, list[tuple[int, int]]] = {}

    def has(self, literal: str) -> bool:
        """Whether ``literal`` may occur in the text: never False when it does; True when it does
        not only rarely (a literal with digits: ``cu12`` is looked up as ``cu00``), which costs
        a search that finds nothing, not an answer."""
        hit = self._seen.get(literal)
        if hit is None:
            if literal.split() != [literal]:  # it holds whitespace
                hit = literal in self.low
            else:
                # a literal without whitespace lies inside one word (UTF-8 bytes split at ASCII
                # whitespace only, which it holds none of); "\n" joins no two words into it
                if self._words is None:
                    # distinct lines first: splitting a repetitive log into words costs ~8 ms a MB
                    lines = "\n".join(set(self.low.split("\n"))).encode("utf-8", "surrogatepass")
                    self._words = b"\n".join(set(lines.translate(_FOLD_DIGITS).split()))
                hit = literal.encode("utf-8", "surrogatepass").translate(_FOLD_DIGITS) in self._words
            self._seen[literal] = hit
        return hit

    def present(self, pattern: str) -> bool:
        """False when a set of ``pattern``'s required literals is absent (cheap)."""
        sets = _prefilter(pattern)
        return sets is None or all(any(self.has(literal) for literal in alts) for alts in sets)

    def search(self, pattern: str) -> re.Match[str] | None:
        """The first match of ``pattern``, looked for only in whole lines around its literals."""
        rx = _compile(pattern)
        sets = _prefilter(pattern)
        if sets is None or len(self.low) <= 8 * REACH:
            regions = [(0, len(self.low))]
        else:
            regions = _merged(sorted(span for literal in self._narrowest(sets) for span in self._spans_of(literal)))
        # the fast way compiles a few more patterns: worth it over a lot of text, not a short one
        fast = sum(hi - lo for lo, hi in regions) >= _BIG_REGION
        for lo, hi in regions:
            match = _search_region(rx, self.low, lo, hi) if fast else rx.search(self.low, lo, hi)
            if match is not None:
                return match
        return None

    def _narrowest(self, sets: _Prefilter) -> list[str]:
        """The present literals of the set that leaves the fewest lines to search: the first
        whose occurrences are few (finding a literal's occurrences is a pass over the text),
        else the one whose occurrences are fewest."""
        best: list[str] = []
        best_count = -1
        for alts in sets:
            present = [literal for literal in alts if self.has(literal)]
            count = sum(len(self._spans_of(literal)) for literal in present)
            if best_count < 0 or count < best_count:
                best, best_count = present, count
            if count <= _FEW_SPANS:
                break
        return best

    def _spans_of(self, literal: str) -> list[tuple[int, int]]:
        spans = self._spans.get(literal)
        if spans is None:
            # each found occurrence stands for the next REACH characters too: its span reaches
            # 2 * REACH past it, so a match around any occurrence it skipped is inside
            low, spans = self.low, []
            at = low.find(literal)
            while at >= 0:
                lo = low.rfind("\n", 0, max(0, at - REACH)) + 1
                hi = low.find("\n", at + len(literal) + 2 * REACH)
                spans.append((lo, len(low) if hi < 0 else hi))
                at = low.find(literal, at + REACH)
            self._spans[literal] = spans
        return spans


class _Match:
    """What a problem's signatures found in one log.

    A plain class: a dataclass costs a few milliseconds to create at import (it compiles
    generated code), a noticeable share of a short explain's whole run."""

    __slots__ = ("against", "evidence", "last", "patterns", "score", "strongest", "weights")

    def __init__(
        self,
        score: float,
        last: int,  # offset of the latest positive match, -1 when none
        evidence: list[tuple[int, str]],
        patterns: set[str],  # the patterns of the positive signatures that matched
        strongest: tuple[float, str],  # the weight of the strongest positive match and the text it matched
        weights: tuple[float, ...],  # of every positive match, strongest first
        against: tuple[str, ...],  # what negative signatures matched: evidence against the problem
    ) -> None:
        self.score, self.last, self.evidence, self.patterns = score, last, evidence, patterns
        self.strongest, self.weights, self.against = strongest, weights, against


_NO_MATCH = _Match(0.0, -1, [], set(), (0.0, ""), (), ())


def _score(problem: Problem, text: str, low: _Text) -> _Match:
    # Branch and bound: strongest signatures first; once the signatures still
    # possible cannot reach min_score, stop.  Context signatures (common words)
    # are then never searched for unless an anchor message is present.
    positive = sorted((sig for sig in problem.signatures if sig.weight > 0), key=lambda sig: -sig.weight)
    bound = sum(sig.weight for sig in positive)
    possible = []
    for sig in positive:
        if bound < problem.min_score:
            return _NO_MATCH
        if low.present(sig.pattern):
            possible.append(sig)
        else:
            bound -= sig.weight
    if bound < problem.min_score:
        return _NO_MATCH
    score = 0.0
    last = -1
    evidence: list[tuple[int, str]] = []
    matched: set[str] = set()  # the patterns of the positive signatures that matched
    strongest = (0.0, "")
    against: list[str] = []
    for sig in possible + [sig for sig in problem.signatures if sig.weight <= 0]:
        if sig.weight <= 0 and not low.present(sig.pattern):
            continue
        match = low.search(sig.pattern)
        if match is None:
            continue
        score += sig.weight
        if sig.weight < 0:
            against.append(_matched_text(text, match))
        if sig.weight <= 0:
            continue
        matched.add(sig.pattern)
        last = max(last, match.start())
        evidence.append((match.start(), _line_of(text, match.start(), match.end())))
        if sig.weight > strongest[0]:
            strongest = (sig.weight, _matched_text(text, match))
        if sig.note:
            evidence.append((match.start(), _note(sig.note, match, text)))
    weights = tuple(sorted((sig.weight for sig in possible if sig.pattern in matched), reverse=True))
    return _Match(score, last, evidence, matched, strongest, weights, tuple(against))


def _dedupe(items: list[tuple[int, str]]) -> tuple[str, ...]:
    """Evidence in text order, without repeats or lines another line already contains."""
    lines = [line for _, line in sorted(items, key=lambda item: item[0]) if line]
    kept: list[str] = []
    for line in lines:
        if line in kept or any(line != other and line in other for other in lines):
            continue
        kept.append(line)
    return tuple(kept[:MAX_EVIDENCE])


def _guesses(problems: Mapping[str, Problem], matched: Mapping[str, set[str]]) -> set[str]:
    """Candidates of a generic problem that matched on the generic message alone."""
    out = set()
    for generic in problems.values():
        shared = {sig.pattern for sig in generic.signatures}
        out |= {c for c in generic.candidates if c in matched and matched[c] <= shared}
    return out


def _checked(problem: Problem, problems: Mapping[str, Problem], facts: Facts | None) -> str:
    """The cause of a generic problem, with the specific causes checked and what ruled some out."""
    possible, ruled_out = [], []
    for cid in problem.candidates:
        why = facts.what_rules_out(problems[cid]) if facts else None
        if why:
            ruled_out.append(f"{problems[cid].title} [{cid}]: {why}")
        else:
            possible.append(f"{problems[cid].title} [{cid}]")
    cause = problem.cause
    if facts is not None:
        cause += f" The target: {facts.describe()}."
    if possible:
        cause += " Causes checked, still possible: " + "; ".join(possible) + "."
    if ruled_out:
        cause += " Ruled out by what torchup knows of the target: " + "; ".join(ruled_out) + "."
    return cause


def _confidence(problem: Problem, match: _Match, rivals: list[tuple[str, str]]) -> tuple[str, str]:
    """How sure a finding is, and the evidence that says so; pure.

    high: a message only this cause produces (weight >= 12), or a strong shared signal (>= 8)
    that another signal of weight >= 5 corroborates; in both cases with nothing against it
    and no other family's own message in the log.  medium: such evidence while another
    family's own message is also there, a strong shared signal alone, or several weaker ones
    that agree.  low: a generic message (the finding lists the causes that fit), one context
    signal or symptom, or evidence against the cause.  Wrong and confident is worse than no
    answer, so every doubt lowers the level.
    """
    weights = match.weights
    line = _quote(match.strongest[1])
    if problem.candidates:
        if len(weights) > 1:
            return "medium", (
                f"{line} is a generic message several causes produce, sharpened by"
                f" {len(weights) - 1} more signal(s); the cause lists the causes that fit"
            )
        return "low", f"{line} is a generic message several causes produce; the cause lists those that fit"
    if match.against:
        return "low", f"{line} fits, but the log also shows {_quote(match.against[0])}, which argues against it"
    corroborated = len(weights) > 1 and weights[0] >= SHARED_WEIGHT and weights[1] >= CORROBORATING_WEIGHT
    if weights[0] >= ANCHOR_WEIGHT or corroborated:
        why = (
            f"{line} is a message only this cause produces"
            if weights[0] >= ANCHOR_WEIGHT
            else f"{line} and {len(weights) - 1} more signal(s) of this cause agree"
        )
        if rivals:
            other, other_line = rivals[0]
            return "medium", f"{why}, but the log also shows {_quote(other_line)} [{other}]"
        return "high", why
    if weights[0] >= SHARED_WEIGHT:
        return "medium", f"{line} is a strong signal, but other causes share it"
    if len(weights) > 1:
        return "medium", f"{len(weights)} weaker signals agree, the strongest: {line}"
    return "low", f"only one context signal or symptom matched: {line}"


def _quote(line: str, limit: int = 120) -> str:
    return "'" + (line if len(line) <= limit else line[: limit - 3] + "...") + "'"


def _matched_text(text: str, match: re.Match[str]) -> str:
    """What a signature matched, as the log has it, on one line."""
    return " ".join(text[match.start() : match.end()].split())


_LOG_FACT_PROBLEM = "driver-too-old"


def _with_log_facts(scored: list, problems: Mapping[str, Problem], text: str, size: int) -> list:
    """``scored`` with what the log's own facts imply (``log_facts``): a CUDA build and a driver that
    cannot run it, shown side by side, are an anchor for ``driver-too-old`` whatever the failure's words."""
    from torchup.doctor.log_facts import driver_below_build

    problem = problems.get(_LOG_FACT_PROBLEM)
    evidence = driver_below_build(text) if problem is not None else None
    if problem is None or evidence is None:
        return scored
    for i, (score, order, p, match) in enumerate(scored):
        if p.id == problem.id:
            match.evidence.append((match.last, evidence))
            match.weights = tuple(sorted((*match.weights, float(ANCHOR_WEIGHT)), reverse=True))
            scored[i] = (score + ANCHOR_WEIGHT, order, p, match)
            return scored
    last = len(text) - 1
    match = _Match(
        float(ANCHOR_WEIGHT),
        last,
        [(last, evidence)],
        set(),
        (float(ANCHOR_WEIGHT), evidence),
        (float(ANCHOR_WEIGHT),),
        (),
    )
    order = -list(problems).index(problem.id)
    return [*scored, (ANCHOR_WEIGHT + 0.5 * last / size, order, problem, match)]


def explain(text: str, *, problems: Mapping[str, Problem] | None = None, facts: Facts | None = None) -> list[Finding]:
    """The catalogued problems ``text`` shows, best first (empty when none).

    ``text`` may be a single message or a whole log, raw (ANSI colours, CRLF);
    this is the function ``torchup install`` calls on a failed install.  ``facts``,
    what is known of the target the log came from, drops the problems they rule
    out.  A generic message (pip's "No matching distribution") with nothing more
    specific gives the generic problem, listing the causes checked, not one guess.
    """
    problems = PROBLEMS if problems is None else problems
    text = clean_log(_window(text))
    low = _Text(_lower(text))
    size = max(1, len(text))
    scored: list[tuple[float, int, Problem, _Match]] = []
    matched: dict[str, set[str]] = {}
    for order, problem in enumerate(problems.values()):
        if not problem.signatures:
            continue
        match = _score(problem, text, low)
        if match.score < problem.min_score or match.last < 0:
            continue
        # a later match ranks a little higher: a log's last error is usually the one that stopped it
        scored.append((match.score + 0.5 * match.last / size, -order, problem, match))
        matched[problem.id] = match.patterns
    scored = _with_log_facts(scored, problems, text, size)
    gone = _guesses(problems, matched)
    if facts is not None:
        gone |= {item[2].id for item in scored if facts.what_rules_out(item[2])}
    scored = [item for item in scored if item[2].id not in gone]
    kept = {item[2].id for item in scored}
    dropped = {other for item in scored for other in item[2].supersedes if other in kept}
    scored = [item for item in scored if item[2].id not in dropped]
    scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
    anchored = [(p.family, p.id, m.strongest[1]) for _, _, p, m in scored if m.strongest[0] >= ANCHOR_WEIGHT]
    findings = []
    for score, _, p, match in scored:
        rivals = [(pid, line) for family, pid, line in anchored if family != p.family]
        confidence, basis = _confidence(p, match, rivals)
        findings.append(
            Finding(
                id=p.id,
                family=p.family,
                title=p.title,
                cause=_checked(p, problems, facts) if p.candidates else p.cause,
                fix=p.fix,
                evidence=_dedupe(match.evidence),
                score=round(score, 3),
                confidence=confidence,
                basis=basis,
            )
        )
    return findings
