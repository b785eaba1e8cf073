"""The Plan: what `resolve` chose, and the Refusal when nothing fits.

The JSON form is a public contract (``torchup plan --json``, documented in
``docs/plan.md``).  ``commands`` are filled in by ``render``; ``resolve``
leaves them empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

__all__ = ["PLAN_FORMAT", "Request", "Candidate", "Plan", "Refusal"]

PLAN_FORMAT = 1


@dataclass(frozen=True, kw_only=True)
class Request:
    """What the user asked for on top of the machine."""

    torch: str | None = None  # PEP 440 specifier, "==2.5.1", ">=2.4,<2.6"
    variant: str | None = None  # "cpu", "cu126", "rocm6.4", "xpu", "pypi"
    cuda: str | None = None  # "12.6": any cu126 build
    cpu: bool = False
    with_torchvision: bool = True
    with_torchaudio: bool = True


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """One (torch release, variant) pair considered, kept or rejected."""

    torch: str
    variant: str
    rejected: str | None = None  # the reason, in words a user can act on

    def to_json(self) -> dict:
        return {"torch": self.torch, "variant": self.variant, "rejected": self.rejected}


@dataclass(frozen=True, kw_only=True)
class Plan:
    torch: str  # exact version with local label where an index needs it: "2.14.1+cu126"
    torchvision: str | None
    torchaudio: str | None
    variant: str  # "cpu", "cu126", "rocm6.4", "xpu", or "pypi"
    cuda: str | None = None
    rocm: str | None = None
    index_url: str | None = None  # None: the default index (PyPI or the user's)
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    alternatives: tuple[Candidate, ...] = ()
    considered: tuple[Candidate, ...] = ()  # every candidate, for --explain
    commands: Mapping[str, str] = field(default_factory=dict)
    catalog_age_days: int | None = None

    def to_json(self) -> dict:
        return {
            "torchup_plan": PLAN_FORMAT,
            "torch": self.torch,
            "torchvision": self.torchvision,
            "torchaudio": self.torchaudio,
            "variant": self.variant,
            "cuda": self.cuda,
            "rocm": self.rocm,
            "index_url": self.index_url,
            "commands": dict(self.commands),
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            "alternatives": [c.to_json() for c in self.alternatives],
            "considered": [c.to_json() for c in self.considered],
        }


@dataclass(frozen=True, kw_only=True)
class Refusal:
    """No build fits: ``reasons`` is the user's answer, ``considered`` the evidence."""

    code: str  # "no-build", "unsupported-platform", "no-python-wheel", ...
    message: str
    reasons: tuple[str, ...] = ()
    considered: tuple[Candidate, ...] = ()

    def to_json(self) -> dict:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "reasons": list(self.reasons),
                "considered": [c.to_json() for c in self.considered],
            }
        }
