"""Hardware knowledge: NVIDIA driver -> CUDA, GPU model -> compute capability,
AMD gfx and Intel XPU classes, and the PCI device-id table.

Pure data and lookups (the PCI table is a package data file read once per
call of ``pci_table()``; nothing else touches the host).  Every table row names
its source; keys are described in ``SOURCES``.

Public lookups
- ``gpu_by_name(name)`` -> ``GpuModel`` or None: "NVIDIA GeForce RTX 4090",
  "Tesla P100-PCIE-16GB", "NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe MIG 1g.10gb"...
- ``lookup_pci("10de:2684")`` -> ``PciDevice`` or None (name, vendor, and the
  compute capability / gfx target / XPU support the name implies).
- ``driver_floor(cuda, os)`` -> ``DriverFloor``: full-support minimum for the
  toolkit and the minor-version-compatibility floor of its major.
- ``amd_gfx_by_name(name)``, ``xpu_support(name)``.
"""

from __future__ import annotations

import json
import os
import re
from functools import cache, lru_cache

from torchup.lazyre import lazy, top_branches
from torchup.record import record

__all__ = [
    "CUDA_FULL_SUPPORT",
    "CUDA_MINOR_COMPAT",
    "SOURCES",
    "DriverFloor",
    "GpuModel",
    "PciDevice",
    "amd_gfx_by_name",
    "classify_pci_name",
    "community_gfx_override",
    "driver_floor",
    "family_of_cc",
    "gfx_of_override",
    "gpu_by_name",
    "lookup_pci",
    "normalise_gpu_name",
    "pci_table",
    "xpu_support",
]

SOURCES = {
    "NV-CUDA-GPUS": "NVIDIA 'CUDA GPUs' page (developer.nvidia.com/cuda-gpus) and its legacy page "
    "(developer.nvidia.com/cuda-legacy-gpus), as gathered in research/compat-facts.md section 5",
    "NV-KNOWLEDGE": "NVIDIA's published compute-capability list, recalled (not re-read against the page)",
    "NV-MINOR-COMPAT": "NVIDIA 'CUDA Minor Version Compatibility' page, Table 1 "
    "(docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html; 13.x: '>= 580', one floor for "
    "every OS; 11.x: 450.80.02 Linux / 452.39 Windows in the note below the table); "
    "Windows values as in arrayfire src/backend/cuda/device_manager.cpp @492718b5",
    "UV-DRIVER-TABLE": "uv crates/uv-torch/src/backend.rs @26a9dd4 (LINUX_CUDA_DRIVERS, WINDOWS_CUDA_VERSIONS)",
    "CUDA-BUNDLED": "driver bundled with the CUDA installer (runfile / Windows installer names in pytorch/builder "
    "and pytorch .ci install_cuda.sh history), research/compat-facts.md 4b: an upper bound of NVIDIA's Table 3 minimum",
    "NV-TABLE3-3RD": "NVIDIA CUDA release notes 'CUDA Toolkit and Corresponding Driver Versions' table (GA rows), "
    "as quoted by two third-party copies that agree (research/compat-facts.md 4b); its Windows cells for 13.0 and "
    "later read N/A: from 13.0 the Windows toolkit bundles no driver",
    "NV-TABLE3-KNOWLEDGE": "NVIDIA CUDA release notes Table 3, recalled (not re-read)",
    "UV-ROCM-TABLE": "uv crates/uv-torch/src/backend.rs @26a9dd4 LINUX_AMD_GPU_DRIVERS (from torch.cuda.get_arch_list() per ROCm wheel)",
    "AMD-KNOWLEDGE": "AMD product -> LLVM gfx target (llvm.org AMDGPU usage table), recalled",
    "TORCH-XPU-DOCS": "PyTorch 'Getting Started on Intel GPU' (docs.pytorch.org/docs/stable/notes/get_start_xpu.html)",
    "PCI-IDS": "pci.ids (pciutils/pciids, https://pci-ids.ucw.cz), Debian package pci.ids 0.0~2023.04.11-1; "
    "see scripts/make_pci_table.py",
}


@record
class GpuModel:
    """A GPU model known by name."""

    vendor: str  # "nvidia", "amd", "intel"
    name: str  # the canonical model name matched
    family: str  # "Ampere", "Navi 31", "Alchemist"...
    segment: str  # "consumer", "workstation", "datacenter", "embedded", "integrated"
    compute_capability: str | None = None  # NVIDIA
    gfx: str | None = None  # AMD
    xpu: bool | None = None  # Intel: a target of PyTorch's XPU builds
    source: str = "NV-CUDA-GPUS"
    confidence: str = "confirmed"


@record
class PciDevice:
    pci_id: str  # "10de:2684"
    vendor: str  # "nvidia", "amd", "intel"
    name: str  # pci.ids name, "AD102 [GeForce RTX 4090]"
    compute_capability: str | None = None
    gfx: str | None = None
    xpu: bool | None = None
    family: str | None = None
    source: str = "PCI-IDS"


@record
class DriverFloor:
    """The NVIDIA driver a CUDA toolkit needs on one OS.

    ``full``: minimum for full support of that toolkit (None when unknown);
    ``compat``: minor-version-compatibility floor of its major (cu12x wheels run
    on >= 525.60.13 on Linux, without the newest features and without JIT of
    newer PTX)."""

    cuda: str
    os: str
    full: str | None
    compat: str | None
    full_source: str
    compat_source: str
    full_confirmed: bool
    compat_confirmed: bool


# toolkit major.minor -> (linux full, windows full, source, confirmed): the GA row of each.
# Windows from 13.0 on is None: NVIDIA's table says N/A (no driver bundled); there the
# driver's own report of the CUDA it runs (Machine.cuda_driver_max) decides instead.
# The only copy of these tables in torchup: resolve and doctor both read them here.
CUDA_FULL_SUPPORT: dict[str, tuple[str | None, str | None, str, bool]] = {
    "11.6": ("510.39.01", "511.23", "NV-TABLE3-KNOWLEDGE", False),
    "11.7": ("515.43.04", "516.01", "CUDA-BUNDLED", False),
    "11.8": ("520.61.05", "520.06", "NV-TABLE3-3RD", False),
    "12.1": ("530.30.02", "531.14", "NV-TABLE3-3RD", False),
    "12.4": ("550.54.14", "551.61", "NV-TABLE3-3RD", False),
    "12.6": ("560.28.03", "560.76", "NV-TABLE3-3RD", False),
    "12.8": ("570.26", "570.65", "NV-TABLE3-3RD", False),
    "12.9": ("575.51.03", "576.02", "NV-TABLE3-3RD", False),
    "13.0": ("580.65.06", None, "NV-TABLE3-3RD", False),
    "13.1": ("590.44.01", None, "NV-TABLE3-3RD", False),
    "13.2": ("595.45.04", None, "NV-TABLE3-3RD", False),
}

# CUDA major -> (linux floor, windows floor, source, linux confirmed, windows confirmed).
# NVIDIA's compatibility guide gives 13.x one floor, ">= 580", with no OS split (the R580
# branch is one branch on both); 11.x and 12.x have the Linux / Windows pairs.
CUDA_MINOR_COMPAT: dict[int, tuple[str, str, str, bool, bool]] = {
    11: ("450.80.02", "452.39", "NV-MINOR-COMPAT", True, True),
    12: ("525.60.13", "528.33", "NV-MINOR-COMPAT", True, True),
    13: ("580", "580", "NV-MINOR-COMPAT", True, True),
}


@lru_cache(maxsize=256)  # pure, asked for each CUDA build of every plan; a DriverFloor is frozen
def driver_floor(cuda: str, os: str) -> DriverFloor | None:
    """Driver minimums for a CUDA toolkit version (``"12.6"``, ``"13.0.3"``) on
    ``linux`` or ``windows``; None when the major is unknown."""
    parts = cuda.split(".")
    try:
        major = int(parts[0])
    except ValueError:
        return None
    mm = ".".join(parts[:2])
    compat = CUDA_MINOR_COMPAT.get(major)
    if compat is None:
        return None
    windows = os == "windows"
    full = CUDA_FULL_SUPPORT.get(mm)
    return DriverFloor(
        cuda=mm,
        os=os,
        full=(full[1] if windows else full[0]) if full else None,
        compat=compat[1] if windows else compat[0],
        full_source=full[2] if full else "none",
        compat_source=compat[2],
        full_confirmed=bool(full and full[3]),
        compat_confirmed=compat[4] if windows else compat[3],
    )


# --- NVIDIA model names ---------------------------------------------------------

FAMILIES = (
    # (first cc, family)
    ((3, 0), "Kepler"),
    ((5, 0), "Maxwell"),
    ((6, 0), "Pascal"),
    ((7, 0), "Volta"),
    ((7, 5), "Turing"),
    ((8, 0), "Ampere"),
    ((8, 9), "Ada Lovelace"),
    ((9, 0), "Hopper"),
    ((10, 0), "Blackwell"),
)


def family_of_cc(cc: str) -> str:
    """``"8.6"`` -> ``Ampere``; ``"12.0"`` -> ``Blackwell``."""
    major, minor = (int(x) for x in "".join(ch if ch.isdecimal() else " " for ch in cc).split()[:2])
    name = "unknown"
    for start, fam in FAMILIES:
        if (major, minor) >= start:
            name = fam
    if (major, minor) == (7, 2):
        name = "Volta"
    return name


# Ordered: the first pattern that matches the normalised name wins, so the
# specific ones ("rtx 6000 ada", "rtx a6000", "titan x pascal") come before the
# general ones.  Patterns use the normalised form of ``normalise_gpu_name``.
_C, _W, _D, _E = "consumer", "workstation", "datacenter", "embedded"
_S, _K = "NV-CUDA-GPUS", "NV-KNOWLEDGE"
_NVIDIA: tuple[tuple[str, str, str, str], ...] = (
    # pattern, cc, segment, source
    # Blackwell
    (r"\bgb10\b|dgx spark", "12.1", _D, _S),
    (r"\b(gb300|b300)\b", "10.3", _D, _S),
    (r"\b(gb200|b200|b100)\b", "10.0", _D, _S),
    (r"\bjetson (agx )?thor\b|\bthor\b|\bt5000\b|\bt4000\b", "11.0", _E, _S),
    (r"\brtx pro \d{4}\b.*blackwell|\brtx pro \d{4}\b", "12.0", _W, _S),
    (r"\brtx 50[5-9]0\b", "12.0", _C, _S),
    # Hopper
    (r"\bgh200\b|\bh100\b|\bh200\b|\bh800\b|\bh20\b", "9.0", _D, _S),
    # Ada
    (r"\brtx (2000|4000|4500|5000|6000)( sff)? ada\b|\b(2000|4000|4500|5000|6000) ada generation\b", "8.9", _W, _S),
    (r"\bl40s?\b|\bl4\b|\bl20\b", "8.9", _D, _S),
    (r"\brtx 40[5-9]0\b", "8.9", _C, _S),
    # Ampere
    (r"\bjetson (agx )?orin\b|\borin\b", "8.7", _E, _S),
    (r"\ba100\b|\ba30\b|\ba800\b", "8.0", _D, _S),
    (r"\brtx a(2000|3000|4000|4500|5000|5500|6000)\b|\ba(500|1000|2000|3000|4000|5000) laptop\b", "8.6", _W, _S),
    (r"\ba40\b|\ba10g?\b|\ba16\b|\ba2\b", "8.6", _D, _S),
    (r"\brtx 30[5-9]0\b|\bmx570\b", "8.6", _C, _S),
    # Volta
    (r"\bjetson (agx )?xavier\b|\bxavier\b", "7.2", _E, _S),
    (r"\bv100\b|\btitan v\b|\bgv100\b", "7.0", _D, _S),
    # Turing
    (r"\bquadro rtx (3000|4000|5000|6000|8000)\b|\bt(400|500|550|600|1000|1200)\b", "7.5", _W, _S),
    (r"\bt4\b", "7.5", _D, _S),
    (r"\brtx 20[6-8]0\b|\bgtx 16[5-6]0\b|\btitan rtx\b|\bmx(450|550)\b", "7.5", _C, _S),
    # Pascal
    (r"\bjetson tx2\b|\btx2\b", "6.2", _E, _S),
    (r"\bp100\b|\bgp100\b", "6.0", _D, _S),
    (r"\btitan xp\b|\btitan x pascal\b", "6.1", _C, _S),
    (r"\bp40\b|\bp4\b|\bp6\b", "6.1", _D, _S),
    (r"\bquadro p\d{3,4}\b|\bp(400|600|620|1000|2000|2200|3200|4000|5000|6000)\b", "6.1", _W, _S),
    (r"\bgtx 10[5-8]0\b|\bgt 1030\b|\bmx(150|250|350)\b", "6.1", _C, _S),
    # Maxwell
    (r"\bjetson nano\b|\btx1\b", "5.3", _E, _S),
    (r"\bm40\b|\bm60\b|\bm6\b|\bm4\b", "5.2", _D, _S),
    (r"\bm10\b", "5.0", _D, _K),
    (r"\bquadro m(2000|4000|5000|6000)\b", "5.2", _W, _S),
    (r"\bquadro k(620|1200|2200)\b|\bk(620|1200|2200)\b", "5.0", _W, _S),
    (r"\bgtx 9[5-8]0\b|\btitan x\b", "5.2", _C, _S),
    (r"\bgtx 750\b", "5.0", _C, _S),
    # Kepler
    (r"\bk80\b", "3.7", _D, _S),
    (r"\bk20x?[mcs]?\b|\bk40[mcst]?\b|\bquadro k6000\b", "3.5", _D, _S),
    (r"\bk10\b", "3.0", _D, _S),
    (r"\bgtx (780|titan)\b|\bgtx titan black\b|\btitan z\b|\bgtx 780 ti\b", "3.5", _C, _S),
    (r"\bgtx 6[5-9]0\b|\bgtx 7[67]0\b", "3.0", _C, _K),
)


_SEPARATORS = str.maketrans(dict.fromkeys("-_/,()[]", " "))
_VENDOR_WORDS = ("nvidia", "corporation", "geforce")
_TITAN_X_PASCAL = lazy(r"\btitan\s+x\s*\(?pascal\)?")


def normalise_gpu_name(name: str) -> str:
    """Lower-case, vendor words and trademarks dropped, separators to spaces:
    ``"Tesla P100-PCIE-16GB"`` -> ``"tesla p100 pcie 16gb"``.  String operations rather than
    regular expressions (compiling five cost more than the rest of a GPU's lookup); the test
    against the patterns they replace is tests/test_catalog_hardware.py."""
    text = name.lower()
    for mark in ("(r)", "(tm)", "\u00ae", "\u2122"):  # (R), (TM), the registered and trade mark signs
        text = text.replace(mark, " ")
    text = _drop_words(text.translate(_SEPARATORS), _VENDOR_WORDS)
    if "titan" in text:
        text = _TITAN_X_PASCAL.sub("titan x pascal", text)
    return " ".join(text.split())


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"  # what \w matches in a str pattern


def _drop_words(text: str, words: tuple[str, ...]) -> str:
    """Each of ``words`` standing as a word (``\bword\b``) replaced by a space."""
    for word in words:
        at = text.find(word)
        while at >= 0:
            end = at + len(word)
            if (at == 0 or not _is_word(text[at - 1])) and (end == len(text) or not _is_word(text[end])):
                text = text[:at] + " " + text[end:]
            at = text.find(word, at + 1)
    return text


_META = set("\\.^$*+?{}[]()|")


def _leading_literal(alternative: str) -> frozenset[str] | None:
    """Texts one of which a match of ``alternative`` must contain, from how it starts: its
    leading literal (a character a quantifier may drop left out), or each branch of a
    leading group; None when it starts otherwise."""
    while alternative.startswith("\\b"):
        alternative = alternative[2:]
    if alternative.startswith("("):
        end, depth = 0, 1
        while depth:  # the parenthesis closing the leading group (the patterns escape none inside it)
            end += 1
            depth += (alternative[end] == "(") - (alternative[end] == ")")
        if alternative[end + 1 : end + 2] in ("?", "*", "{"):
            return None  # an optional group: the match need not contain any of it
        branches = [_leading_literal(b) for b in top_branches(alternative[1:end])]
        if any(b is None for b in branches):
            return None
        return frozenset().union(*branches)  # type: ignore[arg-type]
    literal = ""
    for ch in alternative:
        if ch in _META:
            if ch in "?*{":
                literal = literal[:-1]  # the character before may be absent
            break
        literal += ch
    return frozenset([literal]) if literal else None


def literal_needles(pattern: str) -> frozenset[str] | None:
    """Texts one of which every match of ``pattern`` contains, or None when that is not known:
    a name containing none of them is not searched with the pattern, whose compiling is what
    costs (a name is matched against up to forty patterns, once per run)."""
    needles: set[str] = set()
    for alternative in top_branches(pattern):
        found = _leading_literal(alternative)
        if found is None:
            return None
        needles |= found
    return frozenset(needles)


# what literal_needles finds in each pattern of _NVIDIA, written out (computing them costs more at
# start-up than the compiling they save); tests/test_catalog_hardware.py fails when they disagree
_NVIDIA_NEEDLES: tuple[tuple[str, ...] | None, ...] = (
    ("dgx spark", "gb10"),
    ("b300", "gb300"),
    ("b100", "b200", "gb200"),
    ("jetson ", "t4000", "t5000", "thor"),
    ("rtx pro ",),
    ("rtx 50",),
    ("gh200", "h100", "h20", "h200", "h800"),
    ("2000", "4000", "4500", "5000", "6000", "rtx "),
    ("l20", "l4", "l40"),
    ("rtx 40",),
    ("jetson ", "orin"),
    ("a100", "a30", "a800"),
    ("a", "rtx a"),
    ("a10", "a16", "a2", "a40"),
    ("mx570", "rtx 30"),
    ("jetson ", "xavier"),
    ("gv100", "titan v", "v100"),
    ("quadro rtx ", "t"),
    ("t4",),
    ("gtx 16", "mx", "rtx 20", "titan rtx"),
    ("jetson tx2", "tx2"),
    ("gp100", "p100"),
    ("titan x pascal", "titan xp"),
    ("p4", "p40", "p6"),
    ("p", "quadro p"),
    ("gt 1030", "gtx 10", "mx"),
    ("jetson nano", "tx1"),
    ("m4", "m40", "m6", "m60"),
    ("m10",),
    ("quadro m",),
    ("k", "quadro k"),
    ("gtx 9", "titan x"),
    ("gtx 750",),
    ("k80",),
    ("k20", "k40", "quadro k6000"),
    ("k10",),
    ("gtx ", "gtx 780 ti", "gtx titan black", "titan z"),
    ("gtx 6", "gtx 7"),
)


@lru_cache(maxsize=256)  # pure: the same name always gives the same model
def gpu_by_name(name: str) -> GpuModel | None:
    """The model a GPU name denotes, or None.  NVIDIA names give a compute
    capability; AMD names a gfx target; Intel names the XPU support."""
    norm = normalise_gpu_name(name)
    if not norm:
        return None
    for (pattern, cc, seg, src), needles in zip(_NVIDIA, _NVIDIA_NEEDLES):
        if needles is not None and not any(n in norm for n in needles):
            continue  # cannot match: left uncompiled
        m = re.search(pattern, norm)
        if m:
            return GpuModel(
                vendor="nvidia",
                name=m.group(0),
                family=family_of_cc(cc),
                segment=seg,
                compute_capability=cc,
                source=src,
                confidence="confirmed" if src == _S else "unconfirmed",
            )
    amd = _amd_match(norm)
    if amd is not None:
        return amd
    return _intel_match(norm)


# --- AMD ----------------------------------------------------------------------

_A = "AMD-KNOWLEDGE"
_AMD: tuple[tuple[str, str, str, str], ...] = (
    # pattern, gfx, family, segment
    (r"\bmi35[05]x?\b", "gfx950", "CDNA 4", _D),
    (r"\bmi300[axb]?\b|\bmi325x?\b|aqua vanjaram", "gfx942", "CDNA 3", _D),
    (r"\bmi2[15]0x?\b|\bmi250x\b|aldebaran", "gfx90a", "CDNA 2", _D),
    (r"\bmi100\b|arcturus", "gfx908", "CDNA", _D),
    (r"\bmi50\b|\bmi60\b|radeon vii|vega 20|radeon pro vii", "gfx906", "Vega 20", _D),
    (r"\brx 90[67]0( xt| gre)?\b|navi 48|ai pro r9700", "gfx1201", "Navi 48", _C),
    (r"\brx 9060( xt)?\b|navi 44", "gfx1200", "Navi 44", _C),
    (r"\bstrix halo\b|radeon 8060s|radeon 8050s", "gfx1151", "Strix Halo", "integrated"),
    (r"\bradeon 8[89]0m\b|strix point", "gfx1150", "Strix Point", "integrated"),
    (r"\bradeon 7[48]0m\b|phoenix", "gfx1103", "Phoenix", "integrated"),
    (r"\brx 7900( xtx| xt| gre)?\b|\bw7900\b|\bw7800\b|navi 31", "gfx1100", "Navi 31", _C),
    (r"\brx 7[78]00( xt)?\b|\bw7700\b|navi 32", "gfx1101", "Navi 32", _C),
    (r"\brx 7600( xt)?\b|\bw7600\b|\bw7500\b|navi 33", "gfx1102", "Navi 33", _C),
    (r"\brx 6[89][05]0( xt)?\b|\bw6800\b|navi 21", "gfx1030", "Navi 21", _C),
    (r"\brx 67[05]0( xt)?\b|navi 22", "gfx1031", "Navi 22", _C),
    (r"\brx 66[05]0( xt)?\b|\bw6600\b|navi 23", "gfx1032", "Navi 23", _C),
    (r"\bvega (56|64)\b|vega 10|\bmi25\b|vega frontier", "gfx900", "Vega 10", _C),
    (r"\brx (470|480|570|580|590)\b|ellesmere|polaris", "gfx803", "Polaris", _C),
)


@cache
def _amd_re():
    return tuple((re.compile(p), g, f, s) for p, g, f, s in _AMD)


def _amd_match(norm: str) -> GpuModel | None:
    for rx, gfx, fam, seg in _amd_re():
        m = rx.search(norm)
        if m:
            return GpuModel(
                vendor="amd", name=m.group(0), family=fam, segment=seg, gfx=gfx, source=_A, confidence="unconfirmed"
            )
    return None


# The overrides the ROCm community sets for consumer cards ROCm's builds leave out: the
# real gfx target's family -> the HSA_OVERRIDE_GFX_VERSION value (torchruntime@33277c6
# configuration.py and README, research/probing.md 4.1 and 4.4).  Unofficial: AMD does
# not support running one target's kernels on another.
COMMUNITY_GFX_OVERRIDES: tuple[tuple[str, str], ...] = (
    (r"gfx103[1-6]", "10.3.0"),  # RDNA2 (Navi 22/23/24, APUs) -> gfx1030
    (r"gfx101[0-2]", "10.3.0"),  # RDNA1 (Navi 1x) -> gfx1030
    (r"gfx110[1-3]", "11.0.0"),  # RDNA3 (Navi 32/33, Phoenix APUs) -> gfx1100
)


def gfx_of_override(value: str) -> str | None:
    """``HSA_OVERRIDE_GFX_VERSION`` (``"10.3.0"``) -> the target ROCm then reports
    (``gfx1030``): ``gfx`` + major in decimal + minor and stepping in hex, as
    rocm_agent_enumerator formats a KFD version; None when malformed."""
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", value.strip())
    if not m:
        return None
    major, minor, step = (int(g) for g in m.groups())
    if major > 63 or minor > 255 or step > 255:
        return None
    return f"gfx{major}{minor:x}{step:x}"


def community_gfx_override(gfx: str) -> str | None:
    """The unofficial ``HSA_OVERRIDE_GFX_VERSION`` value used for ``gfx``'s family, or None."""
    for pattern, value in COMMUNITY_GFX_OVERRIDES:
        if re.fullmatch(pattern, gfx):
            return value
    return None


def amd_gfx_by_name(name: str) -> str | None:
    """``"Radeon RX 7900 XTX"`` -> ``gfx1100``; None when unknown."""
    model = _amd_match(normalise_gpu_name(name))
    return model.gfx if model else None


# --- Intel --------------------------------------------------------------------

_X = "TORCH-XPU-DOCS"
_INTEL: tuple[tuple[str, str, str, bool], ...] = (
    # pattern, family, segment, XPU target (validated by PyTorch)
    (r"data center gpu max|ponte vecchio", "Ponte Vecchio", _D, True),
    (r"\barc (pro )?b\d{2,3}\b|battlemage", "Battlemage", _C, True),
    (r"\barc (pro )?a\d{2,3}m?\b|\bdg2\b|alchemist", "Alchemist", _C, True),
    (r"lunar lake|arc graphics 1[34]0v|\b1[34]0v\b", "Lunar Lake", "integrated", True),
    (r"arrow lake|\b1[34]0t\b", "Arrow Lake", "integrated", True),
    (r"meteor lake|\barc graphics\b", "Meteor Lake", "integrated", True),
    (r"panther lake", "Panther Lake", "integrated", True),
    (r"data center gpu flex|\bats m\b", "Arctic Sound", _D, False),
    (r"\buhd graphics\b|\biris\b|\bhd graphics\b", "Gen9-Gen12 iGPU", "integrated", False),
)


@cache
def _intel_re():
    return tuple((re.compile(p), f, s, x) for p, f, s, x in _INTEL)


def _intel_match(norm: str) -> GpuModel | None:
    for rx, fam, seg, xpu in _intel_re():
        m = rx.search(norm)
        if m:
            return GpuModel(
                vendor="intel",
                name=m.group(0),
                family=fam,
                segment=seg,
                xpu=xpu,
                source=_X,
                confidence="confirmed" if xpu else "unconfirmed",
            )
    return None


def xpu_support(name: str) -> bool | None:
    """True for Intel GPUs PyTorch's XPU builds list as supported, False for
    Intel GPUs they do not, None when the name is not a known Intel GPU."""
    model = _intel_match(normalise_gpu_name(name))
    return model.xpu if model else None


# --- PCI ids --------------------------------------------------------------------

_VENDORS = {"10de": "nvidia", "1002": "amd", "8086": "intel"}


def _pci_path() -> str:
    return os.path.join(os.path.dirname(os.path.realpath(__file__)), "data", "pci.json")


def pci_table() -> dict[str, str]:
    """``{"10de:2684": "AD102 [GeForce RTX 4090]", ...}`` from the package data."""
    with open(_pci_path(), "rb") as fh:
        data = json.loads(fh.read())
    out: dict[str, str] = {}
    for vendor, devices in data["devices"].items():
        for dev, name in devices.items():
            out[f"{vendor}:{dev}"] = name
    return out


_NV_CHIP_CC = (
    # pci.ids NVIDIA names start with the chip code, which fixes the architecture
    # (chip -> compute capability as in NVIDIA's CUDA GPUs list).
    (r"^gk210", "3.7"),
    (r"^gk(110|208)", "3.5"),
    (r"^gk20a", "3.2"),
    (r"^gk", "3.0"),
    (r"^gm20b", "5.3"),
    (r"^gm20", "5.2"),
    (r"^gm", "5.0"),
    (r"^gp100", "6.0"),
    (r"^gp10b", "6.2"),
    (r"^gp", "6.1"),
    (r"^gv11b", "7.2"),
    (r"^gv", "7.0"),
    (r"^tu", "7.5"),
    (r"^ga100", "8.0"),
    (r"^ga10b", "8.7"),
    (r"^ga", "8.6"),
    (r"^ad", "8.9"),
    (r"^gh", "9.0"),
    (r"^gb1\d\d", "10.0"),
    (r"^gb2", "12.0"),
)


def _chip_cc(name: str) -> str | None:
    chip = name.lower().split()[0].split("[")[0] if name.strip() else ""
    for rx, cc in _NV_CHIP_CC:
        if re.match(rx, chip):
            return cc
    return None


def classify_pci_name(vendor: str, name: str) -> dict:
    """What a pci.ids device name tells: ``compute_capability`` (NVIDIA, from the
    chip code, else the bracketed model), ``gfx`` (AMD), ``xpu`` (Intel)."""
    out: dict = {}
    bracket = re.findall(r"\[([^\]]+)\]", name)
    model_text = " ".join(bracket) or name
    if vendor == "nvidia":
        # the chip code names the silicon, so it wins over the marketing name
        # (pci.ids has "GK107 [GeForce GT 1030]", "GP102 [TITAN X]").
        cc = _chip_cc(name)
        if cc is None:
            model = gpu_by_name(model_text)
            cc = model.compute_capability if model and model.vendor == "nvidia" else None
        if cc:
            out["compute_capability"] = cc
            out["family"] = family_of_cc(cc)
    elif vendor == "amd":
        model = _amd_match(normalise_gpu_name(name))
        if model:
            out["gfx"] = model.gfx
            out["family"] = model.family
    elif vendor == "intel":
        model = _intel_match(normalise_gpu_name(name))
        if model:
            out["xpu"] = model.xpu
            out["family"] = model.family
    return out


def lookup_pci(pci_id: str, table: dict[str, str] | None = None) -> PciDevice | None:
    """``"10de:2684"`` (or ``"0x10de:0x2684"``) -> the device, classified; None
    when the id is not a GPU of NVIDIA, AMD or Intel in the table."""
    m = re.fullmatch(r"(?:0x)?([0-9a-fA-F]{4}):(?:0x)?([0-9a-fA-F]{4})", pci_id.strip())
    if not m:
        return None
    vendor_id, device_id = m.group(1).lower(), m.group(2).lower()
    vendor = _VENDORS.get(vendor_id)
    if vendor is None:
        return None
    key = f"{vendor_id}:{device_id}"
    name = (table if table is not None else pci_table()).get(key)
    if name is None:
        return None
    info = classify_pci_name(vendor, name)
    return PciDevice(pci_id=key, vendor=vendor, name=name, **info)
