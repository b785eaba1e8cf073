"""Reading core metadata (the METADATA file of a wheel, PEP 658's ``.metadata``) and the
requirements torchup itself writes.

``requirement`` parses the simple forms torchup renders (``torch==2.14.1+cpu``,
``flash-attn @ https://.../flash_attn-...whl``), the bare names of most ``Requires-Dist``
lines (``filelock``) and a name with version clauses and no spaces (``xformers>=0.0.28``,
``torch>=2.4,<2.6``, what ``plan --with`` is mostly given) by itself, and hands anything else
(extras, markers, spaces, parentheses) to ``packaging.requirements``:
importing that (with its markers, tokenizer and ``dataclasses``) costs ~30 ms, most of
an ``install --dry-run``'s budget (issue 15).  Both give the same name, specifier, URL,
extras and marker (tests/test_metadata.py compares them form by form).
"""

from __future__ import annotations

from collections.abc import Mapping

from torchup.lazyre import lazy
from torchup.record import record

TYPE_CHECKING = False  # packaging.requirements is imported when first used: ~30 ms (issue 15)
if TYPE_CHECKING:
    from packaging.markers import Marker
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet

__all__ = ["SimpleRequirement", "canonical_name", "leading_name", "requirement", "requires_dist", "simple_requirement"]

# PEP 508's name, and a version of the characters PEP 440 spells with (the specifier checks the
# rest); a URL without spaces, quotes, ";" or a fragment packaging might read otherwise
_NAME = lazy(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
# one or more version clauses, comma-separated, no spaces: SpecifierSet judges each clause
_CLAUSES = lazy(r"(?:===?|!=|~=|<=?|>=?)[A-Za-z0-9.!+_*-]+(?:,(?:===?|!=|~=|<=?|>=?)[A-Za-z0-9.!+_*-]+)*")
_LEADING = lazy(r"[ \t]*([A-Za-z0-9._-]*)")
_URL = lazy(r"(?:https?://[A-Za-z0-9.-]+(?::[0-9]+)?|file://)/[A-Za-z0-9._~%/+=-]*")


@record
class SimpleRequirement:
    """A requirement of one of the simple forms, with the attributes of ``packaging``'s."""

    name: str
    specifier: SpecifierSet
    url: str | None = None
    extras: frozenset[str] = frozenset()
    marker: Marker | None = None

    def __str__(self) -> str:
        return self.name + str(self.specifier) + (f" @ {self.url}" if self.url else "")


def canonical_name(name: str) -> str:
    """PEP 503's normalised project name (``Flash_Attn`` -> ``flash-attn``), as
    ``packaging.utils.canonicalize_name`` gives it, without importing that module: it brings
    packaging.tags, logging and subprocess, ~20 ms of every install (issue 15)."""
    value = name.lower().replace("_", "-").replace(".", "-")
    while "--" in value:
        value = value.replace("--", "-")
    return value


def simple_requirement(text: str) -> SimpleRequirement | None:
    """Pure: ``text`` as a ``SimpleRequirement`` when it is ``NAME``, ``NAME`` followed by
    version clauses (``==2.14.1+cpu``, ``>=2.4,<2.6``) or ``NAME @ URL`` (an http, https or file
    URL), spelled plainly without spaces around the clauses; None for any other form
    (``requirement`` then asks ``packaging``), a bad version included."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    name, sep, rest = text.partition(" @ ")
    if sep:
        if not (_NAME.fullmatch(name) and _URL.fullmatch(rest)):
            return None
        return SimpleRequirement(name=name, specifier=SpecifierSet(), url=rest)
    found = _NAME.match(text)  # the longest name at the start (a name ends in a letter or digit)
    clauses = text[found.end() :] if found else ""
    if not found or (clauses and not _CLAUSES.fullmatch(clauses)):
        return None
    try:
        return SimpleRequirement(name=found.group(), specifier=SpecifierSet(clauses))
    except InvalidSpecifier:
        return None


def leading_name(text: str) -> str:
    """Pure: the canonical name a requirement's text starts with, without parsing it: the name
    of the requirement when it parses (a name cannot end in ``-``, ``.`` or ``_``, so a longer
    run fails to parse).  To pass over the requirements on other projects cheaply."""
    found = _LEADING.match(text)  # always matches: both parts may be empty
    return canonical_name(found.group(1) if found else "")


def requirement(text: str) -> SimpleRequirement | Requirement:
    """``text`` as a PEP 508 requirement; ``ValueError`` (``InvalidRequirement``) when it is not one."""
    simple = simple_requirement(text)
    if simple is not None:
        return simple
    from packaging.requirements import Requirement

    return Requirement(text)


def requires_dist(metadata: str, marker_env: Mapping[str, str]) -> list[SimpleRequirement | Requirement]:
    """The ``Requires-Dist`` requirements that apply under ``marker_env``; unparsable lines are skipped."""
    out: list[SimpleRequirement | Requirement] = []
    for line in metadata.splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        try:
            req = requirement(line.split(":", 1)[1].strip())
        except ValueError:
            continue
        if req.marker is not None and not req.marker.evaluate(dict(marker_env)):
            continue
        out.append(req)
    return out
