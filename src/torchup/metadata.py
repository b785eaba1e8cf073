"""Reading core metadata (the METADATA file of a wheel, PEP 658's ``.metadata``)."""

from __future__ import annotations

from collections.abc import Mapping

from packaging.requirements import InvalidRequirement, Requirement

__all__ = ["requires_dist"]


def requires_dist(metadata: str, marker_env: Mapping[str, str]) -> list[Requirement]:
    """The ``Requires-Dist`` requirements that apply under ``marker_env``; unparsable lines are skipped."""
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
