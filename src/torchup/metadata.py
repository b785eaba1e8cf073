"""Reading core metadata (the METADATA file of a wheel, PEP 658's ``.metadata``)."""

from __future__ import annotations

from collections.abc import Mapping

TYPE_CHECKING = False  # packaging.requirements is imported when first used: ~30 ms (issue 15)
if TYPE_CHECKING:
    from packaging.requirements import Requirement

__all__ = ["canonical_name", "requires_dist"]


def canonical_name(name: str) -> str:
    """PEP 503's normalised project name (``Flash_Attn`` -> ``flash-attn``), as
    ``packaging.utils.canonicalize_name`` gives it, without importing that module: it brings
    packaging.tags, logging and subprocess, ~20 ms of every install (issue 15)."""
    value = name.lower().replace("_", "-").replace(".", "-")
    while "--" in value:
        value = value.replace("--", "-")
    return value


def requires_dist(metadata: str, marker_env: Mapping[str, str]) -> list[Requirement]:
    """The ``Requires-Dist`` requirements that apply under ``marker_env``; unparsable lines are skipped."""
    from packaging.requirements import InvalidRequirement, Requirement

    out: list[Requirement] = []
    for line in metadata.splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        try:
            req = Requirement(line.split(":", 1)[1].strip())
        except InvalidRequirement:
            continue
        if req.marker is not None and not req.marker.evaluate(dict(marker_env)):
            continue
        out.append(req)
    return out
