"""The catalog's data model: releases, builds, companions, and where each fact came from.

Pure data (frozen, keyword-only records: torchup.record) and small pure helpers.  The
catalog is loaded by ``torchup.catalog.load.load_catalog()``; the rules that
judge a build against a machine live in ``torchup.catalog.rules``.

Vocabulary
- A *release* is one torch version on PyPI (``2.14.1``).
- A *variant* is a compute flavour as PyTorch's index names it: ``cpu``,
  ``cu130``, ``rocm7.2``, ``xpu`` (``<index base>/<variant>/`` holds its wheels).
- A *build* is one (release, variant, os, arch): the set of wheels pip can
  pick from for one machine type.  A build carries its wheels (Python tag, ABI
  tag, platform tag), what the platform tag implies (glibc / macOS floor),
  whether PyPI serves the very same binary by default, the CUDA / ROCm
  toolkit, cuDNN, the CUDA architectures compiled in (SASS and PTX) or the
  AMD gfx targets.
- Every fact carries a ``Provenance``: a source key (described in
  ``Catalog.sources``) and a confidence, ``confirmed`` or ``unconfirmed``.
  ``Build.unconfirmed()`` lists the facts a decision would rest on that no
  primary source confirmed, so the tool can say so.

Compute capabilities are written ``"8.6"``; arch-specific targets keep their
suffix, ``"9.0a"``.  ``parse_arch`` reads every spelling found in the wild
(``sm_86``, ``compute_90``, ``8.6+PTX``, ``86``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

from torchup.lazyre import lazy
from torchup.record import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import date
else:
    try:  # the C class datetime.date is: datetime.py first defines pure-Python copies of every
        # class, about 1.5 ms of each plan on Python 3.11, then replaces them with these
        from _datetime import date
    except ImportError:  # an interpreter without the C module
        from datetime import date

__all__ = [
    "CONFIRMED",
    "KINDS",
    "UNCONFIRMED",
    "Build",
    "Catalog",
    "Companion",
    "PlatformNote",
    "Provenance",
    "Release",
    "Wheel",
    "cc_tuple",
    "parse_arch",
    "parse_arch_list",
    "platform_floor",
    "python_tag",
    "today",
    "variant_kind",
    "version_tuple",
]

CONFIRMED = "confirmed"
UNCONFIRMED = "unconfirmed"
KINDS = ("cpu", "cuda", "rocm", "xpu")


@record
class Provenance:
    """Where a fact came from: a key of ``Catalog.sources`` (or free text) and a confidence."""

    source: str
    confidence: str = CONFIRMED

    @property
    def confirmed(self) -> bool:
        return self.confidence == CONFIRMED


_UNKNOWN = Provenance(source="unknown", confidence=UNCONFIRMED)


@record
class Wheel:
    """One wheel of a build, by its tags (``cp312``, ``cp312``, ``manylinux_2_28_x86_64``)."""

    python: str  # interpreter tag: "cp312", "cp313t"
    abi: str  # "cp312", "cp313t", "none", "cp37m"
    platform: str  # "manylinux_2_28_x86_64", "macosx_14_0_arm64", "win_amd64"

    @property
    def tag(self) -> str:
        """The tag in the wheel's file name: ``cp314-cp314t-...`` for the free-threaded ``cp314t``."""
        python = self.python[:-1] if self.python.endswith("t") and self.abi.endswith("t") else self.python
        return f"{python}-{self.abi}-{self.platform}"


@record
class Companion:
    """The torchvision or torchaudio to install with a torch release.

    ``version`` is None when no release of the package goes with this torch.
    ``matched`` is True when the package was built for this very torch
    release; False when it is an older release declared compatible (torchaudio
    2.11.0 is the last torchaudio; pytorch/audio PR #4212 says it supports
    torch >= 2.11, so it is the companion of every torch >= 2.12, unmatched).
    ``pythons`` lists the Python tags that have a wheel (empty: unknown;
    ``("py3",)``: a pure-Python wheel that installs on any Python 3).
    """

    name: str
    version: str | None
    matched: bool = True
    pythons: tuple[str, ...] = ()
    requires_torch: str | None = None  # the torch requirement in its metadata, "==2.5.1"
    note: str | None = None
    provenance: Provenance = _UNKNOWN


@record
class Build:
    """One (torch release, variant, os, arch): the wheels pip chooses from on one machine type."""

    torch: str  # "2.14.1"
    variant: str  # "cpu", "cu130", "rocm7.2", "xpu"
    os: str  # "linux", "windows", "macos"
    arch: str  # "x86_64", "aarch64"
    wheels: tuple[Wheel, ...] = ()
    released: str | None = None  # ISO date of the release
    requires_python: str | None = None  # PEP 440 specifier from the metadata, ">=3.10"
    glibc_min: str | None = None  # what the binary really needs ("2.28"); None off Linux
    macos_min: str | None = None  # from the platform tag ("14.0"); None off macOS
    pypi_default: bool = False  # PyPI serves this very binary (its local label stripped)
    local_label: str | None = None  # "cu130": "2.14.1+cu130" on PyTorch's index; None if unlabelled
    index_suffix: str | None = None  # "cu130": <index base>/cu130; None: not on PyTorch's index
    cuda: str | None = None  # toolkit the build ships or links, "13.0.3"
    rocm: str | None = None  # "7.2"
    cudnn: str | None = None  # "9.24.0.43"
    sass: tuple[str, ...] = ()  # compute capabilities with cubins: ("7.5", "8.0", ...)
    ptx: tuple[str, ...] = ()  # compute capabilities with PTX: ("12.0",)
    arch_specific: tuple[str, ...] = ()  # "9.0a"-style targets; never count for compatibility
    gfx: tuple[str, ...] = ()  # AMD targets of a ROCm build
    notes: tuple[str, ...] = ()
    provenance: Mapping[str, Provenance] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """``cpu``, ``cuda``, ``rocm`` or ``xpu``."""
        return variant_kind(self.variant)

    @property
    def pythons(self) -> tuple[str, ...]:
        """Python tags with a wheel, in catalog order (``cp310`` ... ``cp314t``)."""
        seen: dict[str, None] = {}
        for wheel in self.wheels:
            seen.setdefault(wheel.python, None)
        return tuple(seen)

    @property
    def version_on_index(self) -> str:
        """The version string on PyTorch's index: ``2.14.1+cu130`` (bare on macOS)."""
        return f"{self.torch}+{self.local_label}" if self.local_label else self.torch

    def wheel_for(self, python: str) -> Wheel | None:
        """The wheel for a Python tag (``cp312``/``cp313t``), or None."""
        for wheel in self.wheels:
            if wheel.python == python:
                return wheel
        return None

    def fact(self, name: str) -> Provenance:
        """Provenance of one fact (``exists``, ``wheels``, ``cuda``, ``cudnn``, ``arches``,
        ``gfx``, ``pypi_default``, ``glibc_min``, ``released``); ``exists`` is the fallback."""
        return self.provenance.get(name) or self.provenance.get("exists") or _UNKNOWN

    def unconfirmed(self, names: Iterable[str] | None = None) -> tuple[str, ...]:
        """Names of the facts (all, or those asked for) that no primary source confirmed."""
        keys = list(names) if names is not None else sorted(self.provenance)
        return tuple(k for k in keys if not self.fact(k).confirmed)


@record
class Release:
    """One torch release: its date, Python range, builds and companions."""

    version: str
    released: str | None = None  # ISO date of the first upload to PyPI
    requires_python: str | None = None
    builds: tuple[Build, ...] = ()
    companions: tuple[Companion, ...] = ()
    notes: tuple[str, ...] = ()
    provenance: Mapping[str, Provenance] = field(default_factory=dict)

    @property
    def key(self) -> tuple[int, ...]:
        return version_tuple(self.version)

    def companion(self, name: str) -> Companion | None:
        for comp in self.companions:
            if comp.name == name:
                return comp
        return None

    def variants(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for build in self.builds:
            seen.setdefault(build.variant, None)
        return tuple(seen)


@record
class PlatformNote:
    """What the sources say of a platform with no release build in the catalog (``windows`` ``aarch64``)."""

    os: str
    arch: str
    note: str
    provenance: Provenance


@record
class Catalog:
    """Every release known, oldest first, with the data's date and origin."""

    releases: tuple[Release, ...]
    data_date: str  # ISO date the data was last checked against the indexes
    origin: str = "embedded"  # "embedded" or the path of a refreshed cache file
    sources: Mapping[str, str] = field(default_factory=dict)  # source key -> description
    format: int = 1
    warnings: tuple[str, ...] = ()  # e.g. a refreshed cache that could not be read
    platforms: tuple[PlatformNote, ...] = ()  # platforms PyTorch has no confirmed release build for

    def platform_note(self, os: str, arch: str) -> PlatformNote | None:
        """The sources' word on a platform without release builds, if the catalog records one."""
        return next((p for p in self.platforms if (p.os, p.arch) == (os, arch)), None)

    def release(self, version: str) -> Release | None:
        """The release with this exact version (a ``+label`` is ignored)."""
        version = version.split("+")[0]
        for rel in self.releases:
            if rel.version == version:
                return rel
        return None

    def newest(self) -> Release:
        return self.releases[-1]

    def versions(self) -> tuple[str, ...]:
        return tuple(rel.version for rel in self.releases)

    def builds(
        self,
        *,
        os: str,
        arch: str,
        python: str | None = None,
        torch: str | None = None,
        variant: str | None = None,
    ) -> list[Build]:
        """Candidate builds for a machine type, newest release first.

        ``python`` is an interpreter tag (``cp312``, ``cp313t``): only builds with
        a wheel for it are kept.  ``torch`` an exact version, ``variant`` a name.
        Platform floors (glibc, macOS) and hardware are judged by
        ``torchup.catalog.rules``, not here.
        """
        out: list[Build] = []
        for rel in reversed(self.releases):
            if torch is not None and rel.version != torch.split("+")[0]:
                continue
            for build in rel.builds:
                if build.os != os or build.arch != arch:
                    continue
                if variant is not None and build.variant != variant:
                    continue
                if python is not None and build.wheel_for(python) is None:
                    continue
                out.append(build)
        return out

    def age_days(self, today: date | None = None) -> int:
        """Days between the data's date and ``today`` (default: the real today)."""
        today = today or date.today()
        return (today - date.fromisoformat(self.data_date)).days

    def is_stale(self, today: date | None = None, *, max_days: int = 60) -> bool:
        return self.age_days(today) > max_days

    def describe_source(self, key: str) -> str:
        return self.sources.get(key, key)


# --- small pure helpers -------------------------------------------------------

_ARCH_RE = lazy(r"^(?:sm_|compute_)?(\d+)(?:\.(\d+))?([af]?)(\+ptx)?$", re.IGNORECASE)


@lru_cache(maxsize=4096)  # pure, called for every build of every plan
def variant_kind(variant: str) -> str:
    """``cu126`` -> ``cuda``; ``rocm6.4`` -> ``rocm``; ``xpu``; everything else ``cpu``."""
    if variant.startswith("cu") and variant[2:].isdecimal():  # isdecimal: what \d matches
        return "cuda"
    if variant.startswith("rocm"):
        return "rocm"
    if variant == "xpu":
        return "xpu"
    return "cpu"


@lru_cache(maxsize=4096)  # pure, called for every build of every plan
def parse_arch(text: str) -> tuple[str, bool]:
    """One arch token to ``(cc, is_ptx)``: ``sm_86`` -> ("8.6", False),
    ``compute_120`` -> ("12.0", True), ``8.6+PTX`` -> ("8.6", True),
    ``sm_90a`` -> ("9.0a", False).  Raises ``ValueError`` on anything else."""
    raw = text.strip()
    m = _ARCH_RE.match(raw)
    if not m:
        raise ValueError(f"not a CUDA architecture: {text!r}")
    digits, minor, suffix, plus_ptx = m.groups()
    if minor is None:
        if len(digits) < 2:
            raise ValueError(f"not a CUDA architecture: {text!r}")
        major, minor = digits[:-1], digits[-1]
    else:
        major = digits
    is_ptx = bool(plus_ptx) or raw.lower().startswith("compute_")
    return f"{int(major)}.{int(minor)}{suffix.lower()}", is_ptx


def parse_arch_list(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A ``TORCH_CUDA_ARCH_LIST`` (``"7.5;8.0;12.0+PTX"``) or a list of flags
    (``"sm_75 sm_80 compute_120"``) to ``(sass, ptx)``, each sorted.
    ``X+PTX`` gives both a cubin and PTX for X."""
    sass: set[str] = set()
    ptx: set[str] = set()
    for token in re.split(r"[;,\s]+", text.strip()):
        if not token:
            continue
        cc, is_ptx = parse_arch(token)
        if is_ptx:
            ptx.add(cc)
            if "+" in token:
                sass.add(cc)
        else:
            sass.add(cc)
    return tuple(sorted(sass, key=_cc_sort)), tuple(sorted(ptx, key=_cc_sort))


@lru_cache(maxsize=4096)  # pure, called for every build of every plan
def _cc_sort(cc: str) -> tuple[int, int, str]:
    major, rest = cc.split(".")
    minor = rest[: len(rest) - len(rest.lstrip("0123456789"))]
    return int(major), int(minor), rest[len(minor) :]


@lru_cache(maxsize=1024)  # pure; resolve asks it of the same arch strings for every build
def cc_tuple(cc: str) -> tuple[int, int]:
    """``"8.6"`` -> (8, 6); ``"9.0a"`` -> (9, 0)."""
    major, minor, _ = _cc_sort(cc)
    return major, minor


def today() -> date:
    """Today's ``datetime.date``, without importing ``datetime.py`` (see the import above)."""
    return date.today()


@lru_cache(maxsize=4096)  # pure, called for every build of every plan
def version_tuple(text: str) -> tuple[int, ...]:
    """``"550.54.14"`` -> (550, 54, 14); a ``+label`` and non-digits end it."""
    out = []
    for part in text.split("+")[0].split("."):
        digits = 0
        while digits < len(part) and part[digits].isdecimal():  # the leading digits, as \d+ matched them
            digits += 1
        if not digits:
            break
        out.append(int(part[:digits]))
    return tuple(out)


@lru_cache(maxsize=4096)  # pure, called for every build of every plan
def python_tag(version: str, free_threaded: bool = False) -> str:
    """``("3.13", True)`` -> ``cp313t``; ``"3.12.4"`` -> ``cp312``; ``"3.13t"`` -> ``cp313t``."""
    if version.endswith("t"):
        version, free_threaded = version[:-1], True
    major, minor = version.split(".")[:2]
    return f"cp{major}{minor}{'t' if free_threaded else ''}"


_MANYLINUX_LEGACY = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


@lru_cache(maxsize=4096)  # pure, called for every build of every plan
def platform_floor(platform: str) -> tuple[str, str, tuple[int, int] | None]:
    """What a wheel platform tag demands: ``(os, arch, floor)``.

    ``manylinux_2_28_x86_64`` -> ("linux", "x86_64", (2, 28))  (glibc);
    ``manylinux1_x86_64`` -> ("linux", "x86_64", (2, 5));
    ``linux_x86_64`` -> ("linux", "x86_64", None)  (no promise at all);
    ``musllinux_1_2_aarch64`` -> ("linux-musl", "aarch64", (1, 2));
    ``macosx_14_0_arm64`` -> ("macos", "aarch64", (14, 0));
    ``win_amd64`` -> ("windows", "x86_64", None).
    Raises ``ValueError`` for a tag it does not know.
    """
    m = re.fullmatch(r"manylinux_(\d+)_(\d+)_(\w+)", platform)
    if m:
        return "linux", _norm_arch(m.group(3)), (int(m.group(1)), int(m.group(2)))
    m = re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014)_(\w+)", platform)
    if m:
        return "linux", _norm_arch(m.group(2)), _MANYLINUX_LEGACY[m.group(1)]
    m = re.fullmatch(r"musllinux_(\d+)_(\d+)_(\w+)", platform)
    if m:
        return "linux-musl", _norm_arch(m.group(3)), (int(m.group(1)), int(m.group(2)))
    m = re.fullmatch(r"linux_(\w+)", platform)
    if m:
        return "linux", _norm_arch(m.group(1)), None
    m = re.fullmatch(r"macosx_(\d+)_(\d+)_(\w+)", platform)
    if m:
        return "macos", _norm_arch(m.group(3)), (int(m.group(1)), int(m.group(2)))
    if platform in ("win_amd64", "win_arm64", "win32"):
        return "windows", {"win_amd64": "x86_64", "win_arm64": "aarch64", "win32": "x86"}[platform], None
    raise ValueError(f"unknown wheel platform tag: {platform!r}")


def _norm_arch(arch: str) -> str:
    return {"arm64": "aarch64", "amd64": "x86_64", "i686": "x86", "universal2": "universal2"}.get(arch, arch)
