"""Adversarial inputs for a regular expression: the texts that make a backtracking matcher slow.

A backtracking matcher goes quadratic (or worse) on text that starts a match many
times and fails late: a prefix of a match repeated, or a repeated piece pumped
long with no ending after it.  From the parsed pattern this builds a *witness*
(a string shaped like a match, one per alternative of every branch) and turns it
into such texts:

- every literal fragment of the pattern, repeated;
- every prefix of a witness cut between two of its pieces, repeated
  (``'pytorchcuda-->cp '`` repeated is one of these);
- every repeat of the pattern pumped: the witness up to that repeat, then the
  repeated piece over and over, with nothing after it, once and repeated.

``static_problems`` looks at the parsed shape instead: nested quantifiers, unbounded
repeats of wide classes, neighbouring repeats over the same characters, and a leading
repeat that can run over the text a match starts with.

Uses the regex parser of the standard library (``re._parser``, ``sre_parse``
before Python 3.11); it is CPython-internal, which is fine for a test.
"""

from __future__ import annotations

import string
from typing import Iterator

try:
    from re import _constants as C  # Python >= 3.11
    from re import _parser as P
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as C  # type: ignore[no-redef]
    import sre_parse as P  # type: ignore[no-redef]

__all__ = ["attack_texts", "literal_fragments", "static_problems", "witnesses"]

_CANDIDATES = "a1 x._-/\\:,'\"()=+>#\n" + string.ascii_letters + string.digits + string.punctuation + "→─é"
_MAX_VARIANTS = 24
_REPEATS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")  # by name: POSSESSIVE_ is Python >= 3.11


def _in_category(ch: str, cat) -> bool:
    tests = {
        C.CATEGORY_DIGIT: ch.isdigit(),
        C.CATEGORY_NOT_DIGIT: not ch.isdigit(),
        C.CATEGORY_SPACE: ch.isspace(),
        C.CATEGORY_NOT_SPACE: not ch.isspace(),
        C.CATEGORY_WORD: ch.isalnum() or ch == "_",
        C.CATEGORY_NOT_WORD: not (ch.isalnum() or ch == "_"),
    }
    return tests.get(cat, False)


def _in_set(ch: str, items) -> bool:
    negate = False
    hit = False
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            hit = hit or ord(ch) == av
        elif op is C.RANGE:
            hit = hit or av[0] <= ord(ch) <= av[1]
        elif op is C.CATEGORY:
            hit = hit or _in_category(ch, av)
    return hit != negate


def _char_for(op, av) -> str:
    if op is C.LITERAL:
        return chr(av)
    if op is C.NOT_LITERAL:
        return next(c for c in _CANDIDATES if ord(c) != av)
    if op is C.ANY:
        return "a"
    if op is C.IN:
        return next((c for c in _CANDIDATES if _in_set(c, av)), "")
    raise ValueError(op)


def _branch_count(items) -> int:
    """How many witnesses it takes to use every alternative of every branch once."""
    total = 1
    for op, av in items:
        if op is C.BRANCH:
            total += sum(_branch_count(sub) for sub in av[1])
        elif op is C.SUBPATTERN:
            total += _branch_count(av[-1]) - 1
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, C.ASSERT):
            total += _branch_count(av[-1]) - 1
    return total


class _Walk:
    """One witness: a list of pieces (each a string) and the repeats met on the way."""

    def __init__(self, variant: int) -> None:
        self.variant = variant
        self.branches = 0
        self.pieces: list[str] = []
        self.pumps: list[tuple[int, str]] = []  # (pieces before the repeat, one repetition)

    def text(self, items) -> str:
        start = len(self.pieces)
        self.walk(items)
        return "".join(self.pieces[start:])

    def walk(self, items) -> None:
        for op, av in items:
            if op in (C.LITERAL, C.NOT_LITERAL, C.ANY, C.IN):
                self.pieces.append(_char_for(op, av))
            elif op is C.SUBPATTERN:
                self.walk(av[-1])
            elif op is C.BRANCH:
                alts = av[1]
                offset = self.variant - self.branches - 1  # variant n uses the n-th alternative met
                choice = offset if 0 <= offset < len(alts) else 0
                self.branches += len(alts)
                self.walk(alts[choice])
            elif op.name in _REPEATS:
                low, high, sub = av
                before = len(self.pieces)
                one = self.text(sub)
                if high == C.MAXREPEAT or high > 1:
                    self.pumps.append((before, one))
                    if len(sub) == 1 and sub[0][0] in (C.NOT_LITERAL, C.ANY, C.IN):
                        # a class: pump the characters logs have long runs of, too
                        for ch in " \n1a.":
                            if ch != one and _matches(sub[0][0], sub[0][1], ch):
                                self.pumps.append((before, ch))
                if low > 1:
                    self.pieces.append(one * (low - 1))
            elif op is C.AT:
                if av in (C.AT_BEGINNING_LINE, C.AT_END_LINE):
                    self.pieces.append("\n")
            elif op is C.ASSERT and av[0] == 1:  # a lookahead: what follows must look like it
                self.pieces.append(self.text(av[1]))
            # lookbehinds, negative lookarounds, back-references, \b: nothing to add


def witnesses(pattern: str) -> Iterator[_Walk]:
    parsed = P.parse(pattern)
    for variant in range(min(_branch_count(list(parsed)), _MAX_VARIANTS)):
        walk = _Walk(variant)
        walk.walk(parsed)
        yield walk


def literal_fragments(pattern: str) -> list[str]:
    """The runs of literal characters in ``pattern``, in every branch."""
    out: list[str] = []

    def visit(items) -> None:
        run = ""
        for op, av in items:
            if op is C.LITERAL:
                run += chr(av)
                continue
            if run:
                out.append(run)
                run = ""
            if op is C.BRANCH:
                for sub in av[1]:
                    visit(sub)
            elif op in (C.SUBPATTERN, C.ASSERT, C.ASSERT_NOT) or op.name in _REPEATS:
                visit(av[-1])
        if run:
            out.append(run)

    visit(P.parse(pattern))
    return out


def _fill(unit: str, size: int) -> str:
    return unit * (size // max(1, len(unit)) + 1) if unit else ""


def attack_texts(pattern: str, size: int) -> dict[str, str]:
    """``{what it is: text of about size characters}`` to run ``pattern`` over."""
    texts: dict[str, str] = {}
    for fragment in dict.fromkeys(literal_fragments(pattern)):
        for sep in ("", " "):
            texts[f"literal {fragment!r}+{sep!r} repeated"] = _fill(fragment + sep, size)
    for walk in witnesses(pattern):
        pieces = walk.pieces
        full = "".join(pieces)
        # cut between pieces of different kinds (a literal run counts as one piece)
        cuts = [i for i in range(1, len(pieces)) if len(pieces[i]) != 1 or len(pieces[i - 1]) != 1
                or pieces[i].isalnum() != pieces[i - 1].isalnum()]
        for cut in cuts:
            head = "".join(pieces[:cut])
            for sep in ("", " "):
                texts[f"prefix {head!r}+{sep!r} repeated"] = _fill(head + sep, size)
        texts[f"match {full!r} repeated"] = _fill(full + " ", size)
        for before, one in walk.pumps:
            if not one:
                continue
            head = "".join(pieces[:before])
            texts[f"{head!r} then {one!r} pumped"] = head + _fill(one, size)
            texts[f"({head!r} then {one!r}*64) repeated"] = _fill(head + one * 64, size)
            # the pumped piece and a stray character that ends nothing
            texts[f"({head!r} then {one!r}*64 then '\\x01') repeated"] = _fill(head + one * 64 + "\x01", size)
    return {what: text[:size] for what, text in texts.items()}


# --- static checks: the shapes that backtrack badly ------------------------------------------------

_ALPHABET = string.printable + "→─é\x01"


def _chars(items) -> set[str]:
    """The characters (of a representative alphabet) a parsed sequence can consume, anywhere."""
    out: set[str] = set()
    for op, av in items:
        if op in (C.LITERAL, C.NOT_LITERAL, C.ANY, C.IN):
            out |= {ch for ch in _ALPHABET if _matches(op, av, ch)}
        elif op is C.BRANCH:
            for sub in av[1]:
                out |= _chars(sub)
        elif op is C.SUBPATTERN or op.name in _REPEATS:
            out |= _chars(av[-1])
    return out


def _matches(op, av, ch: str) -> bool:
    if op is C.LITERAL:
        return ord(ch) == av
    if op is C.NOT_LITERAL:
        return ord(ch) != av
    if op is C.ANY:
        return ch != "\n"
    return _in_set(ch, av)


def _unbounded(op, av) -> bool:
    return op.name in _REPEATS and av[1] == C.MAXREPEAT


def _wide(items) -> bool:
    """A class that matches nearly anything: '.', '[^x]', '\\S', '\\W', '\\D'."""
    if len(items) != 1:
        return True
    op, av = items[0]
    if op in (C.ANY, C.NOT_LITERAL):
        return True
    if op is C.IN:
        return any(o is C.NEGATE or (o is C.CATEGORY and "NOT" in a.name) for o, a in av)
    return op is not C.LITERAL


def _optional(op, av) -> bool:
    """Matches the empty string (so the items on either side of it touch)."""
    if op.name in _REPEATS:
        return av[0] == 0
    return op in (C.AT, C.ASSERT, C.ASSERT_NOT)


def _flatten(items) -> list:
    """A sequence with its plain (unquantified) groups spliced in."""
    out = []
    for op, av in items:
        if op is C.SUBPATTERN:
            out += _flatten(av[-1])
        else:
            out.append((op, av))
    return out


def _leaf(body) -> bool:
    body = list(body)
    return len(body) == 1 and body[0][0] in (C.LITERAL, C.NOT_LITERAL, C.ANY, C.IN)


def _check_sequence(items, head: str | None, tail_required: bool, problems: list[str]) -> None:
    """``head``: the literal text the match must start with before ``items`` (None: not only literals);
    ``tail_required``: something that can fail follows ``items``."""
    seq = _flatten(items)
    guarded = False  # a lookbehind just before: the repeat cannot restart inside its own run
    for i, (op, av) in enumerate(seq):
        rest_required = tail_required or any(not _optional(o, a) for o, a in seq[i + 1 :])
        if op is C.LITERAL:
            head = None if head is None else head + chr(av)
            continue
        if op is C.BRANCH:
            for sub in av[1]:
                _check_sequence(sub, head, rest_required, problems)
            head = None
            continue
        if op in (C.ASSERT, C.ASSERT_NOT):
            guarded = av[0] < 0
            _check_sequence(av[1], None, False, problems)
            continue
        if op.name not in _REPEATS:
            head, guarded = None, False
            continue
        low, high, body = av
        if high > 1:
            for inner_op, inner_av in _walk_all(body):
                if _unbounded(inner_op, inner_av):
                    problems.append("a repeated group contains an unbounded repeat (nested quantifiers)")
        if high == C.MAXREPEAT and _wide(list(body)):
            problems.append("an unbounded repeat of a wide class ('[^\\n]*', '.*', '\\S+'): bound it, e.g. {0,300}")
        if (high == C.MAXREPEAT and head is not None and not guarded and rest_required
                and set(head) <= _chars(body)):
            problems.append(f"the unbounded repeat after {head!r} can run over the next {head!r}: every start rescans it"
                            if head else "a leading unbounded repeat restarts at every character of its run")
        _check_sequence(body, None, True, problems)
        if high > 1 and _leaf(body):
            # the repeats it touches: the next ones, up to the first item that cannot be empty
            mine = _chars(body)
            for op2, av2 in seq[i + 1 :]:
                if (op2.name in _REPEATS and av2[1] > 1 and _leaf(av2[-1]) and C.MAXREPEAT in (high, av2[1])
                        and mine & _chars(av2[-1])):
                    problems.append("two neighbouring repeats can match the same characters (a space is \\s+)")
                if not _optional(op2, av2):
                    break
        head, guarded = None, False


def _walk_all(items):
    for op, av in items:
        yield op, av
        if op is C.BRANCH:
            for sub in av[1]:
                yield from _walk_all(sub)
        elif op is C.SUBPATTERN or op.name in _REPEATS or op in (C.ASSERT, C.ASSERT_NOT):
            yield from _walk_all(av[-1])


def static_problems(pattern: str) -> list[str]:
    """Why ``pattern`` (as compiled) can take more than linear time, by its shape; empty if none found."""
    problems: list[str] = []
    _check_sequence(list(P.parse(pattern)), "", False, problems)
    return list(dict.fromkeys(problems))
