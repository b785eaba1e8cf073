"""Which torchvision / torchaudio release goes with a torch release, from PyPI facts alone.

Pure: the facts are what PyPI shows of each companion release (its first upload
day, the torch requirement in its metadata, its wheels' Python tags), read by
``scripts/build_catalog.py`` for the snapshot and by ``torchup catalog refresh``.
Both call ``pick_companion`` so the snapshot and a refresh cannot disagree.

The rule, in order (docs/catalog.md, "Companions"):
1. a release whose requirement pins ``torch==`` this version: built for it;
2. a release uploaded the same day as this torch whose requirement admits it, or
   that has no torch requirement at all (torchaudio 2.11.0): released with it;
3. the newest release whose torch requirement admits this version: it installs,
   but it was not built for this release (``matched`` False).
A release without a torch requirement is evidence only in step 2: it says
nothing about which torch it works with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from torchup.catalog.model import Companion, Provenance

__all__ = ["CompanionRelease", "pick_companion", "pythons_of_tags"]


@dataclass(frozen=True, kw_only=True)
class CompanionRelease:
    """What PyPI shows of one torchvision / torchaudio release."""

    version: str
    released: str | None  # ISO date of its first upload
    requires_torch: str | None  # the torch specifier in its metadata (">=2.11", "==2.5.1"); None: none
    pythons: tuple[str, ...] = ()  # interpreter tags of its wheels ("cp312", "cp313t", "py3")


def pythons_of_tags(tags: Iterable) -> tuple[str, ...]:
    """Interpreter tags of ``packaging.tags.Tag`` objects, free-threaded ones as ``cp313t``, in Python order."""
    seen = {t.interpreter + ("t" if t.abi.endswith("t") and t.abi.startswith("cp3") else "") for t in tags}
    return tuple(sorted(seen, key=_py_key))


def _py_key(tag: str) -> tuple[int, int, bool]:
    digits = "".join(ch for ch in tag if ch.isdigit())
    return int(digits[:1] or 0), int(digits[1:] or 0), tag.endswith("t")


def pick_companion(
    name: str, torch_version: str, torch_day: str | None, releases: Iterable[CompanionRelease], *, source: str
) -> Companion | None:
    """The ``name`` release that goes with ``torch_version`` (uploaded on ``torch_day``), or None when
    no release of it admits this torch.  ``source`` names the reading in the provenance."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    torch_v = Version(torch_version)
    pinned: list[tuple[Version, CompanionRelease]] = []
    same_day: list[tuple[Version, CompanionRelease]] = []
    admits: list[tuple[Version, CompanionRelease]] = []
    for rel in releases:
        try:
            ver = Version(rel.version)
            spec = SpecifierSet(rel.requires_torch) if rel.requires_torch else None
        except (InvalidVersion, InvalidSpecifier):
            continue
        if ver.is_prerelease or ver.is_devrelease:
            continue
        if spec is not None and not spec.contains(torch_v):
            continue
        if spec is not None and any(s.operator == "==" and Version(s.version) == torch_v for s in spec):
            pinned.append((ver, rel))
        elif torch_day is not None and rel.released == torch_day:
            same_day.append((ver, rel))
        elif spec is not None:
            admits.append((ver, rel))
    tier = pinned or same_day or admits
    if not tier:
        return None
    ver, rel = max(tier, key=lambda pair: pair[0])
    note = None
    if tier is same_day:
        if rel.requires_torch:
            note = f"{name} {ver} requires torch {rel.requires_torch}; released with this torch"
        else:
            note = (
                f"{name} {ver} was released with this torch; its metadata has no torch requirement, "
                "so pip will not keep it in step with torch"
            )
    elif tier is admits:
        note = (
            f"{name} {ver} requires torch {rel.requires_torch}; the newest release whose torch requirement "
            "admits it, not built for this torch"
        )
    if note and rel.pythons == ("py3",):
        note += " (one py3 wheel per platform: any Python 3)"
    return Companion(
        name=name,
        version=str(ver),
        matched=tier is not admits,
        pythons=rel.pythons,
        requires_torch=rel.requires_torch,
        note=note,
        provenance=Provenance(source=source),
    )
