"""A Finding: one diagnosed problem, as `doctor`, `explain` and `install` report it.

The JSON form is a public contract (``{"findings": [...]}``, see
``docs/problems.md``); ``id`` values are stable and ``family`` is one of
``FAMILIES``.
"""

from __future__ import annotations

from torchup.record import record

__all__ = ["CONFIDENCE_LEVELS", "FAMILIES", "Finding", "findings_to_json"]

CONFIDENCE_LEVELS = ("", "high", "medium", "low")

FAMILIES = (
    "cpu-build",
    "gpu-arch",
    "driver",
    "cuda-unavailable",
    "companion-mismatch",
    "no-wheel",
    "linux-shared-lib",
    "windows-dll",
    "env-mixing",
    "pip-install",
    "conda",
    "resolver-tools",
    "numpy",
    "platform-abi",
    "apple-mps",
    "intel-xpu",
    "rocm",
)


@record
class Finding:
    id: str
    family: str
    title: str
    cause: str
    fix: tuple[str, ...] = ()  # commands or steps, one per line
    evidence: tuple[str, ...] = ()  # the lines / facts that triggered it
    score: float = 0.0  # ranking weight; higher is a better match (not serialised)
    # how sure explain is ("high", "medium", "low") and the evidence that set it; "" when not rated
    # (doctor's findings rest on probed state, not on matched text)
    confidence: str = ""
    basis: str = ""

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"finding {self.id!r}: unknown family {self.family!r}")
        if self.confidence not in CONFIDENCE_LEVELS:
            raise ValueError(f"finding {self.id!r}: unknown confidence {self.confidence!r}")

    def to_json(self) -> dict:
        out = {
            "id": self.id,
            "family": self.family,
            "title": self.title,
            "cause": self.cause,
            "fix": list(self.fix),
            "evidence": list(self.evidence),
        }
        if self.confidence:
            out["confidence"] = self.confidence
            out["basis"] = self.basis
        return out


def findings_to_json(findings: list[Finding] | tuple[Finding, ...]) -> dict:
    return {"findings": [f.to_json() for f in findings]}
