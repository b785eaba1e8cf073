"""The catalog of known problems that ``doctor`` and ``explain`` report.

The catalog is data: ``problems.json`` beside this module, one entry per
problem with a stable ``id``, a ``family`` (one of ``torchup.findings.FAMILIES``),
a ``title``, the ``cause``, the ``fix`` (commands, one per line), the
``sources`` the facts come from, and the ``signatures`` that ``explain`` looks
for in error text.  ``docs/problems.md`` is rendered from it
(``python -m torchup.doctor.problems > docs/problems.md``) and a test keeps the
two equal.

A signature is a regular expression matched case-insensitively against the
cleaned log, with a ``weight``; a problem's score is the sum of the weights of
its signatures that match, and it is reported when the score reaches its
``min_score``.  Weights follow one scale (see docs/problems.md):
12 = a message only this problem produces; 8 = strong but shared;
3-5 = context that sharpens a generic message; 1-2 = a bare symptom.
A signature's ``note`` turns named groups of the match into evidence:
``"{found|cuda}"`` formats group ``found`` with the ``cuda`` filter.

Signatures run over logs of a megabyte and more, so each must match in linear
time (tests/test_explain_linear.py checks every one, by shape and on adversarial
text): bound every gap (``[^\\n]{0,300}``, never ``[^\\n]*``, ``\\S+`` or
``.*``); never put two repeats over the same characters side by side (a space is
``\\s+``: write ``\\s`` next to a gap, ``(?:\\s*=>)?\\s*`` rather than
``\\s*(?:=>)?\\s*``); no repeated group that holds a repeat; a gap followed by
another gap stops at its word (``(?:(?!cuda)[^\\n]){0,300}cuda``); a pattern
that starts with a repeat is guarded by a lookbehind (``(?<![0-9])[0-9]+``).

To add a problem, append an entry to ``problems.json`` (doctor-only problems
leave ``signatures`` empty), re-render the docs and rebuild ``problems.marshal``
(``python scripts/build_problems_snapshot.py``).

``problems.marshal`` is the shipped catalog in the form that loads fastest (every
``explain`` loads it: issue 15 wants a short message explained in 60 ms): already
decoded into plain dicts and tuples (``marshal``, the format of the standard
library's ``.pyc`` files), with the literals each pattern needs
(``torchup.doctor.explain.prefilter_index``), and the size and CRC-32 of the
``problems.json`` it was made from.  When they differ, or the file is missing or
unreadable, torchup reads the JSON and explain parses the patterns itself (slower,
the same answer); tests/test_explain.py fails while the snapshot is stale.
"""

from __future__ import annotations

import marshal
import os
import zlib
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from torchup.findings import FAMILIES, Finding
from torchup.lazyre import lazy
from torchup.record import field, fields, record

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "PREFILTERS",
    "PROBLEMS",
    "Problem",
    "Signature",
    "finding",
    "load_problems",
    "lower_pattern",
    "problems_from_snapshot",
    "render_markdown",
    "snapshot_bytes",
]

DATA_FILE = os.path.join(os.path.dirname(__file__), "problems.json")
SNAPSHOT_FILE = os.path.join(os.path.dirname(__file__), "problems.marshal")
SNAPSHOT_FORMAT = 1
DEFAULT_MIN_SCORE = 3.0
_ID = lazy(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_NOTE_FIELD = lazy(r"\{(\w+)(?:\|(\w+))?\}")
NOTE_FILTERS = ("cuda",)
# the facts of a target a problem can be limited to (``only_on``), with the values each may take
FACT_KEYS: Mapping[str, tuple[Any, ...]] = MappingProxyType(
    {
        "os": ("linux", "windows", "macos"),
        "arch": ("x86_64", "aarch64", "x86", "armv7l", "ppc64le", "s390x", "riscv64"),
        "python_bits": (32, 64),
        "free_threaded": (True, False),
    }
)


@record
class Signature:
    """One thing to look for in error text.

    ``pattern`` is a regular expression, matched case-insensitively (write group
    names in lower case); ``note`` optionally formats its named groups as evidence.
    """

    pattern: str
    weight: float
    note: str = ""


@record
class Problem:
    id: str
    family: str
    title: str
    cause: str
    fix: tuple[str, ...] = ()
    signatures: tuple[Signature, ...] = ()
    min_score: float = DEFAULT_MIN_SCORE
    supersedes: tuple[str, ...] = ()  # ids dropped from explain's answer when this one matches
    sources: tuple[str, ...] = ()
    # the only targets it can happen on, {fact: allowed values} (see FACT_KEYS); explain drops
    # the problem when a known fact of the target is not among them
    only_on: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    # the specific causes behind this problem's generic message: one that matched on that
    # message alone is a guess, dropped; this problem then lists them all as causes checked
    candidates: tuple[str, ...] = ()


def lower_pattern(pattern: str) -> str:
    """``pattern`` as explain runs it: for lower-cased text, tolerant of line wrapping.

    explain lower-cases the log once and matches case-sensitively, which lets
    ``re`` use its fast literal search (re.IGNORECASE is ~10x slower on big logs),
    so letters are lowered here, except in escapes (``\\S``, ``\\W`` keep their
    meaning) and ``(?P`` group syntax.  A literal space outside a character class
    (and not quantified) becomes ``\\s+``: terminals, rich tracebacks and issue
    trackers wrap long messages, so a word gap may be a newline and indentation.
    """
    out = []
    i = 0
    n = len(pattern)
    in_class = False
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
            out.append(ch.lower())
            i += 1
            continue
        if ch == "[":
            in_class = True
            out.append("[")
            i += 1
            # a ']' first in the class (after an optional '^') is a literal
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":
                out.append("]")
                i += 1
            continue
        if pattern.startswith("(?P", i):  # named groups: (?P<name>...), (?P=name)
            out.append("(?P")
            i += 3
            continue
        if ch == " ":
            j = i
            while j < n and pattern[j] == " ":
                j += 1
            if j < n and pattern[j] in "?*+{":
                out.append(pattern[i:j])  # a quantified space keeps its meaning
            else:
                out.append("\\s+")
            i = j
            continue
        out.append(ch.lower())
        i += 1
    return "".join(out)


def _problem_from_json(raw: Mapping[str, Any], where: str, errors: list[str], check_patterns: bool) -> Problem | None:
    known = {
        "id",
        "family",
        "title",
        "cause",
        "fix",
        "signatures",
        "min_score",
        "supersedes",
        "sources",
        "only_on",
        "candidates",
    }
    for key in sorted(set(raw) - known):
        errors.append(f"{where}: unknown key {key!r}")
    for key in ("id", "family", "title", "cause"):
        if not isinstance(raw.get(key), str) or not raw.get(key):
            errors.append(f"{where}.{key}: required, a non-empty string")
    raw_id = raw.get("id")
    pid = raw_id if isinstance(raw_id, str) else "?"
    if pid != "?" and not _ID.match(pid):
        errors.append(f"{where}.id: {pid!r} is not lower-case-with-dashes")
    if raw.get("family") not in FAMILIES:
        errors.append(f"{where}.family: {raw.get('family')!r} is not one of the families")
    for key in ("fix", "supersedes", "sources", "candidates"):
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            errors.append(f"{where}.{key}: must be a list of strings")
    sigs = []
    for n, sig in enumerate(raw.get("signatures", [])):
        swhere = f"{where}.signatures[{n}]"
        if (
            not isinstance(sig, dict)
            or not isinstance(sig.get("re"), str)
            or not isinstance(sig.get("weight"), (int, float))
        ):
            errors.append(f"{swhere}: needs 're' (string) and 'weight' (number)")
            continue
        for key in sorted(set(sig) - {"re", "weight", "note"}):
            errors.append(f"{swhere}: unknown key {key!r}")
        note = sig.get("note", "")
        if check_patterns:
            _check_pattern(sig["re"], note, swhere, errors)
        sigs.append(Signature(pattern=sig["re"], weight=float(sig["weight"]), note=note))
    only_on = raw.get("only_on", {})
    if not isinstance(only_on, dict):
        errors.append(f"{where}.only_on: must be an object {{fact: [values]}}")
        only_on = {}
    for key, values in only_on.items():
        allowed = FACT_KEYS.get(key)
        if allowed is None:
            errors.append(f"{where}.only_on: unknown fact {key!r} (one of {', '.join(FACT_KEYS)})")
        elif (
            not isinstance(values, list)
            or not values
            or any(v not in allowed or type(v) is not type(allowed[0]) for v in values)
        ):
            errors.append(f"{where}.only_on.{key}: must be a non-empty list of {list(allowed)}")
    min_score = raw.get("min_score", DEFAULT_MIN_SCORE)
    if not isinstance(min_score, (int, float)) or min_score <= 0:
        errors.append(f"{where}.min_score: must be a positive number")
        min_score = DEFAULT_MIN_SCORE
    if sigs and sum(s.weight for s in sigs if s.weight > 0) < min_score:
        errors.append(f"{where}: its signatures can never reach min_score {min_score}")
    if errors:
        return None
    return Problem(
        id=raw["id"],
        family=raw["family"],
        title=raw["title"],
        cause=raw["cause"],
        fix=tuple(raw.get("fix", [])),
        signatures=tuple(sigs),
        min_score=float(min_score),
        supersedes=tuple(raw.get("supersedes", [])),
        sources=tuple(raw.get("sources", [])),
        only_on=MappingProxyType({k: tuple(v) for k, v in only_on.items()}),
        candidates=tuple(raw.get("candidates", [])),
    )


def _check_pattern(pattern: str, note: str, where: str, errors: list[str]) -> None:
    import re

    try:
        compiled = re.compile(lower_pattern(pattern))
    except re.error as exc:
        errors.append(f"{where}: bad regular expression: {exc}")
        return
    if compiled.match(""):
        errors.append(f"{where}: pattern matches the empty string")
    for name, filt in _NOTE_FIELD.findall(note):
        if name not in compiled.groupindex:
            errors.append(f"{where}.note: no group named {name!r} (group names are lower case)")
        if filt and filt not in NOTE_FILTERS:
            errors.append(f"{where}.note: unknown filter {filt!r}")


def load_problems(data: Mapping[str, Any], *, check_patterns: bool = True) -> dict[str, Problem]:
    """Validate the catalog's JSON and return ``{id: Problem}`` in catalog order.

    Collects every problem before failing; a bad catalog is a bug in torchup,
    so this raises ``ValueError`` listing them.  ``check_patterns`` compiles every
    signature to check it (about 80 ms for the shipped catalog): the shipped
    catalog is checked by the tests, so loading it at run time skips that.
    """
    errors: list[str] = []
    problems: dict[str, Problem] = {}
    entries = data.get("problems") if isinstance(data, Mapping) else None
    if not isinstance(entries, list):
        raise ValueError('problems catalog: top level must be {"problems": [...]}')
    for n, raw in enumerate(entries):
        where = f"problems[{n}]"
        if not isinstance(raw, dict):
            errors.append(f"{where}: must be an object")
            continue
        own: list[str] = []
        problem = _problem_from_json(raw, where, own, check_patterns)
        errors += own
        if problem is None:
            continue
        if problem.id in problems:
            errors.append(f"{where}.id: duplicate id {problem.id!r}")
        problems[problem.id] = problem
    for problem in problems.values():
        for other in problem.supersedes:
            if other not in problems:
                errors.append(f"{problem.id}.supersedes: unknown id {other!r}")
        for other in problem.candidates:
            if other not in problems:
                errors.append(f"{problem.id}.candidates: unknown id {other!r}")
    if errors:
        raise ValueError("problems catalog is invalid:\n  " + "\n  ".join(errors))
    return problems


def _source_id(json_bytes: bytes) -> tuple[int, int]:
    return len(json_bytes), zlib.crc32(json_bytes)


def snapshot_bytes(problems: Mapping[str, Problem], prefilters: Mapping[str, Any], json_bytes: bytes) -> bytes:
    """``problems.marshal`` for ``problems``, loaded from the JSON whose bytes are ``json_bytes``,
    with ``prefilters`` (``{pattern: literal sets or None}``, lists or tuples)."""
    rows = []
    for problem in problems.values():
        values = {name: getattr(problem, name) for name in fields(Problem)}
        values["signatures"] = tuple(
            {name: getattr(sig, name) for name in fields(Signature)} for sig in problem.signatures
        )
        values["only_on"] = dict(problem.only_on)
        rows.append(values)
    literals = {
        pattern: None if sets is None else tuple(tuple(alts) for alts in sets) for pattern, sets in prefilters.items()
    }
    return marshal.dumps((SNAPSHOT_FORMAT, _source_id(json_bytes), tuple(rows), literals), 4)


def problems_from_snapshot(data: bytes, json_bytes: bytes) -> tuple[dict[str, Problem], dict[str, Any]] | None:
    """``({id: Problem}, prefilters)`` from a snapshot made from ``json_bytes``; None when ``data``
    is not one this torchup reads or was made from other JSON."""
    try:
        fmt, source, rows, prefilters = marshal.loads(data)
    except (ValueError, EOFError, TypeError):
        return None
    if fmt != SNAPSHOT_FORMAT or tuple(source) != _source_id(json_bytes):
        return None
    # every field is in the stored values, checked when the snapshot was made: the records'
    # __init__ (one keyword check and update per object, ~560 of them) is skipped
    new = object.__new__
    problems = {}
    for values in rows:
        signatures = []
        for sig_values in values["signatures"]:
            sig = new(Signature)
            sig.__dict__.update(sig_values)
            signatures.append(sig)
        values["signatures"] = tuple(signatures)
        values["only_on"] = MappingProxyType(values["only_on"])
        problem = new(Problem)
        problem.__dict__.update(values)
        problems[problem.id] = problem
    return problems, prefilters


def _load_shipped(json_path: str, snapshot_path: str) -> tuple[Mapping[str, Problem], Mapping[str, Any]]:
    """The shipped catalog and its patterns' prefilters: from the snapshot when it is that of
    the JSON, else from the JSON with no prefilters (explain computes them)."""
    with open(json_path, "rb") as fh:
        json_bytes = fh.read()
    try:
        with open(snapshot_path, "rb") as fh:
            loaded = problems_from_snapshot(fh.read(), json_bytes)
    except OSError:
        loaded = None
    if loaded is None:
        import json

        # the tests check every pattern of the shipped catalog (test_the_shipped_catalog_is_valid)
        return MappingProxyType(load_problems(json.loads(json_bytes), check_patterns=False)), MappingProxyType({})
    problems, prefilters = loaded
    return MappingProxyType(problems), MappingProxyType(prefilters)


PROBLEMS: Mapping[str, Problem]
# {pattern: literal sets, or None}: what every match of each shipped pattern contains (explain)
PREFILTERS: Mapping[str, tuple[tuple[str, ...], ...] | None]
PROBLEMS, PREFILTERS = _load_shipped(DATA_FILE, SNAPSHOT_FILE)


def finding(
    problem_id: str,
    *,
    evidence: Iterable[str] = (),
    score: float = 0.0,
    problems: Mapping[str, Problem] | None = None,
) -> Finding:
    """The Finding for a catalogued problem, with this case's evidence.

    ``KeyError`` for an unknown id: ids are a contract, a typo is a bug.
    """
    problem = (PROBLEMS if problems is None else problems)[problem_id]
    return Finding(
        id=problem.id,
        family=problem.family,
        title=problem.title,
        cause=problem.cause,
        fix=problem.fix,
        evidence=tuple(evidence),
        score=score,
    )


def _fact_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _md_code(text: str) -> str:
    """``text`` as a code span inside a table cell (pipes escaped, backticks fenced)."""
    text = text.replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def render_markdown(problems: Mapping[str, Problem]) -> str:
    """docs/problems.md, rendered from the catalog (so the docs cannot drift)."""
    out = [
        "# Problems torchup knows",
        "",
        "<!-- generated by `python -m torchup.doctor.problems > docs/problems.md`;"
        " edit src/torchup/doctor/problems.json instead, then run scripts/build_problems_snapshot.py -->",
        "",
        "`torchup doctor` and `torchup explain` report findings as",
        '`{"findings": [{"id", "family", "title", "cause", "fix", "evidence"}, ...]}`, best first.',
        "Each `id` below is stable. `family` is one of: " + ", ".join(f"`{f}`" for f in FAMILIES) + ".",
        "",
        "`explain` adds to each finding `confidence` (`high`, `medium` or `low`) and `basis`, the evidence",
        "that set it: `high` rests on a message only that problem produces (weight 12 and more), or on a",
        "strong signal (8 and more) another of its signals (5 and more) corroborates; `medium` on a strong",
        "shared signal, on weaker signals that agree, or on high evidence while the log also holds another",
        "family's own message; `low` on a generic message alone (the finding then lists the causes that",
        "fit), on one context signal, or when the log also shows something that argues against the cause.",
        "",
        "`explain` finds a problem by its signatures: regular expressions matched",
        "case-insensitively against the log (ANSI colours, CRLF and encodings removed).",
        "A problem's score is the sum of the weights of its matching signatures; it is",
        f"reported when the score reaches its minimum (default {DEFAULT_MIN_SCORE:g}), highest score first.",
        "Weights: 12 = a message only this problem produces; 8 = strong but shared;",
        "3-5 = context that sharpens a generic message; 1-2 = a bare symptom.",
        "A space in a pattern matches any run of whitespace, line breaks included, because",
        "terminals and issue trackers wrap long messages.",
        "Patterns are written to run in linear time whatever the log: every gap is bounded",
        "(`[^\\n]{0,300}`), and no two neighbouring repeats can match the same text.",
        "",
        "`torchup explain [FILE|-] [--json]` reads a file or standard input in any encoding",
        "(UTF-8, UTF-16 with or without a byte-order mark as PowerShell writes it, cp1252),",
        "strips ANSI colours and control bytes, reads line ends as a terminal shows them (CRLF;",
        "a lone CR ends a line in a log without LF, and elsewhere redraws its line, so a progress",
        "bar leaves its last frame), and examines the first 128 KB and the last",
        "1 MB of the text (start-up warnings sit at the head of a log, the fatal error at its",
        "end) and, in between, the lines within 2 KB of each `error` or `warning` word (`Error`,",
        "`RuntimeError`, `UserWarning`; not upper-case `ERROR` or `WARNING`), the first 1 MB of",
        "them. A log is streamed, so 100 MB on standard input costs about 27 MB of memory.",
        "UTF-16 and UTF-32 logs are read as head and tail only. Exit codes: 0 when something",
        "matched, 1 when nothing did (an empty list, not an error), 2 when the input cannot be read.",
        "",
        "What is known of the machine the log came from ranks the causes: a problem's `Only on` line",
        "below drops it when the target is another OS, CPU or Python width, and a generic finding says",
        "which of its causes the target rules out. `--machine FILE` reads it from a machine file",
        "(`torchup probe --json`); `--context` probes the target Python of this machine (`--python PATH`",
        "names another). Context is opt-in: the probe adds 0.2-0.5 s, more than explain itself takes.",
        "",
    ]
    for family in FAMILIES:
        members = [p for p in problems.values() if p.family == family]
        if not members:
            continue
        out += [f"## {family}", ""]
        for p in members:
            out += [f"### `{p.id}`: {p.title}", "", f"Family: `{p.family}`.", "", f"**Cause.** {p.cause}", ""]
            if p.fix:
                out += ["**Fix.**", "", "```", *p.fix, "```", ""]
            if p.signatures:
                out += [f"**Signatures** (reported at score >= {p.min_score:g}):", ""]
                out += ["| weight | pattern |", "|---:|---|"]
                out += [f"| {s.weight:g} | {_md_code(s.pattern)} |" for s in p.signatures]
                out.append("")
            else:
                out += ["Found by `doctor` from the state of the environment (no text signature).", ""]
            if p.supersedes:
                out += ["Replaces when both match: " + ", ".join(f"`{s}`" for s in p.supersedes) + ".", ""]
            if p.only_on:
                out += [
                    "Only on: "
                    + "; ".join(f"{k} " + " or ".join(_fact_value(v) for v in vals) for k, vals in p.only_on.items())
                    + " (dropped when what torchup knows of the target says otherwise).",
                    "",
                ]
            if p.candidates:
                out += [
                    "A generic message: the specific causes checked are "
                    + ", ".join(f"`{c}`" for c in p.candidates)
                    + "; one of them found by this message alone is not reported, and this finding lists"
                    " which are still possible and which the target rules out.",
                    "",
                ]
            if p.sources:
                out += ["Sources: " + "; ".join(p.sources) + ".", ""]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":  # pragma: no cover - the docs generator
    import sys

    sys.stdout.write(render_markdown(PROBLEMS))
