"""The Plan: what `resolve` chose, and the Refusal when nothing fits.

The JSON form is a public contract (the body of ``torchup plan --json``,
documented in ``docs/plan.md``; the envelope around it in ``docs/json.md``).  ``commands`` are filled in by ``render``; ``resolve``
leaves them empty.
"""

from __future__ import annotations

from collections.abc import Mapping

from torchup.record import field, record

__all__ = [
    "DEFAULT_INDEX_BASE",
    "Candidate",
    "Plan",
    "Refusal",
    "Request",
    "StackPin",
    "describe_variant",
    "index_url_for",
]

DEFAULT_INDEX_BASE = "https://download.pytorch.org/whl"


@record
class Request:
    """What the user asked for on top of the machine."""

    torch: str | None = None  # PEP 440 specifier, "==2.5.1", ">=2.4,<2.6"
    variant: str | None = None  # "cpu", "cu126", "rocm6.4", "xpu", "pypi"
    cuda: str | None = None  # "12.6": any cu126 build
    cpu: bool = False
    with_torchvision: bool = True
    with_torchaudio: bool = True
    index_base: str = DEFAULT_INDEX_BASE  # PyTorch's index (--index-base / TORCHUP_INDEX_BASE)
    # packages built against torch to choose together with it (PEP 508: "xformers", "flash-attn>=2.7")
    with_packages: tuple[str, ...] = ()

    @property
    def constrained(self) -> bool:
        return bool(self.torch or self.variant or self.cuda or self.cpu)


@record
class Candidate:
    """One (torch release, variant) pair considered, kept or rejected."""

    torch: str
    variant: str
    rejected: str | None = None  # the reason, in words a user can act on
    note: str | None = None  # for a kept one: what to know ("leaves out GPU 1", "PTX JIT")

    def to_json(self) -> dict:
        out = {"torch": self.torch, "variant": self.variant, "rejected": self.rejected}
        if self.note:
            out["note"] = self.note
        return out


@record
class StackPin:
    """One package pinned together with torch (``--with``): its version, where its wheel comes from, why.

    At most one of ``index_url`` / ``find_links`` / ``url`` is set; none: the default index (PyPI).
    """

    name: str  # canonical project name: "xformers", "flash-attn", "torch-scatter"
    version: str  # exact, with a local label where the source needs one: "2.6.3+pt27cu126"
    index_url: str | None = None  # a PEP 503 index that serves it (PyTorch's)
    find_links: str | None = None  # a page of links (PyG's wheel pages)
    url: str | None = None  # one direct wheel URL (a release asset)
    reason: str = ""

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "index_url": self.index_url,
            "find_links": self.find_links,
            "url": self.url,
            "reason": self.reason,
        }


@record
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
    commands: Mapping[str, str | None] = field(default_factory=dict)
    catalog_age_days: int | None = None
    # the platform the plan is for (renderers need it: conda-forge subdirs, uv markers)
    os: str | None = None
    arch: str | None = None
    python: str | None = None  # "3.12"; free-threaded: "3.13t"
    stack: tuple[StackPin, ...] = ()  # packages chosen with torch (--with), beyond torchvision/torchaudio

    @property
    def base_version(self) -> str:
        """``2.14.1`` for ``2.14.1+cu126``."""
        return self.torch.split("+", 1)[0]

    def to_json(self, *, considered: bool = True) -> dict:
        """The plan's JSON (docs/plan.md); ``considered=False`` leaves the list of every candidate
        out (``plan --json`` without ``--explain``: it is most of the size)."""
        out = {
            "torch": self.torch,
            "torchvision": self.torchvision,
            "torchaudio": self.torchaudio,
            "variant": self.variant,
            "cuda": self.cuda,
            "rocm": self.rocm,
            "index_url": self.index_url,
            "os": self.os,
            "arch": self.arch,
            "python": self.python,
            "commands": dict(self.commands),
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            "alternatives": [c.to_json() for c in self.alternatives],
            "considered": [c.to_json() for c in self.considered],
            "catalog_age_days": self.catalog_age_days,
            "stack": [p.to_json() for p in self.stack],
        }
        if not considered:
            del out["considered"]
        return out


@record
class Refusal:
    """No build fits: ``reasons`` is the user's answer, ``considered`` the evidence."""

    code: str  # "no-build", "unsupported-platform", "no-python-wheel", ...
    message: str
    reasons: tuple[str, ...] = ()
    considered: tuple[Candidate, ...] = ()

    def to_json(self, *, considered: bool = True) -> dict:
        error: dict = {"code": self.code, "message": self.message, "reasons": list(self.reasons)}
        if considered:
            error["considered"] = [c.to_json() for c in self.considered]
        return {"error": error}


def describe_variant(variant: str, *, cuda: str | None = None, rocm: str | None = None, os: str | None = None) -> str:
    """Words for a variant: ``CUDA 12.6 (cu126)``, ``CPU only``, ``ROCm 6.4``."""
    if variant == "cpu":
        return "CPU only"
    if variant == "xpu":
        return "Intel GPU (xpu)"
    if variant.startswith("cu"):
        return f"CUDA {cuda} ({variant})" if cuda else variant
    if variant.startswith("rocm"):
        return f"ROCm {rocm or variant[4:]}"
    if variant == "pypi":
        if cuda:
            return f"PyPI's default build (CUDA {cuda})"
        if os == "macos":
            return "PyPI's default build (CPU, and MPS on Apple silicon)"
        if os is not None:
            return "PyPI's default build (CPU only)"
        return "PyPI's default build"
    return variant


def index_url_for(variant: str, base: str = DEFAULT_INDEX_BASE) -> str | None:
    """PyTorch's index for a variant: ``<base>/<variant>``; None for PyPI's default build."""
    if variant == "pypi":
        return None
    return f"{base.rstrip('/')}/{variant}"
