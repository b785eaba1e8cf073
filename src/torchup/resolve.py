"""resolve: (Machine, Request, Catalog) -> Plan, or a Refusal with the reasons.

Pure.  Every (torch release, variant) build the catalog knows for the machine's
OS and wheel architecture is a candidate; each is kept or rejected with a
reason a user can act on (``torchup plan --explain`` lists them all).  The
checks, in order: the user's constraints, a wheel for this Python, the
platform floors (glibc / musl / macOS), then the hardware -- the NVIDIA driver
against the build's CUDA (full support or minor-version compatibility), every
GPU against the build's kernels (``torchup.catalog.rules``).

Ranking of the kept ones (``_rank``), best first:

1. the number of the machine's GPUs the build can use (a CPU build uses none),
   discrete GPUs first (an Intel iGPU or AMD APU counts after them), so a GPU is
   never given up for a newer CPU-only release;
2. the newest torch;
3. the driver's support level for the build's CUDA: full before
   minor-version compatibility;
4. every GPU served by compiled kernels before a GPU served by PTX JIT;
5. PyPI's default build (no extra index needed);
6. a build whose existence a primary source confirmed;
7. the newer toolkit.

A CUDA build is never kept on a machine with no NVIDIA GPU: it would download
gigabytes of NVIDIA libraries for nothing (PyPI's Linux builds are CUDA builds,
so the CPU build comes from PyTorch's ``cpu`` index there).
"""

from __future__ import annotations

from functools import lru_cache

from torchup.catalog import rules
from torchup.catalog.model import CONFIRMED, Build, Catalog, Release, python_tag
from torchup.catalog.model import version_tuple as _version_tuple
from torchup.machine import Gpu, Machine
from torchup.plan import Candidate, Plan, Refusal, Request, describe_variant, index_url_for
from torchup.record import record, replace

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)

if TYPE_CHECKING:
    from datetime import date

    from packaging.specifiers import SpecifierSet

    from torchup.catalog.stack import StackCatalog
    from torchup.stack import StackChoice

__all__ = ["Verdict", "judge_build", "judge_builds", "machine_summary", "parse_torch_spec", "resolve", "wheel_arch"]

# the same few hundred version strings are compared thousands of times per resolve
version_tuple = lru_cache(maxsize=4096)(_version_tuple)

_KIND_VENDOR = {"cuda": "nvidia", "rocm": "amd", "xpu": "intel"}
# facts whose confidence is worth telling the user about when a choice rests on them
_FACTS = ("exists", "wheels", "pypi_default", "cuda", "arches", "gfx", "glibc_min")
_MAX_ALTERNATIVES = 3


class _Judged:
    """The verdict on one build: made for every build of the platform on every plan, so a plain
    class with slots (a record's checked keyword ``__init__`` cost 10% of judging)."""

    __slots__ = (
        "asked_without_gpu",
        "build",
        "covered",
        "driver_only",
        "gfx_override",
        "hardware",
        "left_out",
        "level",
        "ptx",
        "rejected",
    )

    def __init__(
        self,
        build: Build,
        rejected: str | None = None,
        covered: tuple[int, ...] = (),
        left_out: tuple[tuple[int, str], ...] = (),
        level: str | None = None,
        ptx: tuple[int, ...] = (),
        hardware: bool = False,
        driver_only: bool = False,
        asked_without_gpu: bool = False,
        gfx_override: str | None = None,
    ) -> None:
        self.build = build
        self.rejected = rejected  # None: it runs here
        self.covered = covered  # indices into machine.gpus the build can use
        self.left_out = left_out  # GPUs of the build's vendor it cannot use, with why
        self.level = level  # driver support level for a CUDA build
        self.ptx = ptx  # GPUs served only through PTX JIT
        self.hardware = hardware  # rejected for a hardware reason (driver, GPU, no GPU)
        self.driver_only = driver_only  # rejected only because of the driver
        self.asked_without_gpu = asked_without_gpu  # a GPU build asked for by name, on a machine without that GPU
        self.gfx_override = gfx_override  # AMD GPUs judged as HSA_OVERRIDE_GFX_VERSION's target (unofficial)


# --- small public helpers ---------------------------------------------------------


def wheel_arch(machine: Machine) -> str:
    """The architecture pip looks for: a 32-bit Python on a 64-bit OS wants
    32-bit wheels, an x86_64 Python under Rosetta wants x86_64 wheels."""
    if machine.python_bits == 32:
        return {"x86_64": "x86", "aarch64": "armv7l"}.get(machine.arch, machine.arch)
    if machine.rosetta:
        return "x86_64"
    return machine.arch


def parse_torch_spec(text: str) -> SpecifierSet:
    """``2.14``/``2.14.1`` -> ``==2.14.*``/``==2.14.1``; anything else is PEP 440.
    Raises ``ValueError`` with a readable message."""
    # imported here: only --torch needs it, and start-up time counts
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    text = text.strip()
    try:
        if text and text[0].isdigit():
            Version(text)
            parts = text.split(".")
            return SpecifierSet(f"=={text}" if len(parts) >= 3 else f"=={text}.*")
        return SpecifierSet(text)
    except (InvalidSpecifier, InvalidVersion):
        raise ValueError(f"{text!r} is not a version or a PEP 440 specifier (e.g. 2.14, ==2.5.1, >=2.4,<2.6)") from None


def machine_summary(machine: Machine) -> str:
    """One line: ``Linux x86_64 (glibc 2.36), Python 3.11 (venv), no GPU``."""
    os_name = {"linux": "Linux", "windows": "Windows", "macos": "macOS"}.get(machine.os, machine.os)
    bits = [f"{os_name} {machine.arch}"]
    extra = []
    if machine.wsl:
        extra.append("WSL2" if machine.wsl in (2, True) else "WSL1")
    if machine.libc:
        extra.append(machine.libc)
    if machine.macos_version:
        extra.append(f"macOS {machine.macos_version}")
    if machine.jetson_l4t:
        extra.append(f"Jetson L4T {machine.jetson_l4t}")
    if extra:
        bits[0] += f" ({', '.join(extra)})"
    py = f"Python {machine.python}{'t' if machine.free_threaded else ''}"
    py_extra = [
        x
        for x in (
            f"{machine.python_bits}-bit" if machine.python_bits == 32 else None,
            "under Rosetta" if machine.rosetta else None,
            machine.python_env,
        )
        if x
    ]
    bits.append(py + (f" ({', '.join(py_extra)})" if py_extra else ""))
    if machine.gpus:
        names = []
        for gpu in machine.gpus:
            label = gpu.name or f"{gpu.vendor} GPU"
            cc = rules.gpu_compute_capability(gpu) if gpu.vendor == "nvidia" else None
            detail = f"sm_{cc.replace('.', '')}" if cc else gpu.gfx
            names.append(f"{label} ({detail})" if detail else label)
        bits.append(", ".join(names))
    else:
        bits.append("no GPU")
    if machine.nvidia_driver:
        bits.append(f"NVIDIA driver {machine.nvidia_driver}")
    elif any(g.vendor == "nvidia" for g in machine.gpus):
        bits.append("no NVIDIA driver loaded")
    return ", ".join(bits)


# --- judging one build ------------------------------------------------------------


def _driver_os(machine: Machine) -> str:
    # Under WSL the driver is the Windows host's: its version follows Windows numbering.
    return "windows" if machine.wsl else machine.os


def driver_unknown(machine: Machine) -> bool:
    """NVIDIA GPUs, and nothing said about their driver: unknown, which is not absent.
    A probe that finds a GPU with no driver bound says so (``driver_loaded: false``);
    a machine file may simply leave the driver out (docs/machine-file.md)."""
    nvidia = [g for g in machine.gpus if g.vendor == "nvidia"]
    return (
        bool(nvidia)
        and not machine.nvidia_driver
        and not machine.cuda_driver_max
        and not any(g.driver_loaded is False for g in nvidia)
    )


def _asked_for_by_name(build: Build, request: Request) -> bool:
    """The user named this GPU build (``--variant cu126``, ``--cuda 12.6``, ``--variant pypi``
    where PyPI's default is a CUDA build): building an image on a host without the GPU is
    common, so the build is given, with a note, rather than refused."""
    return build.kind != "cpu" and bool((request.variant and request.variant != "cpu") or request.cuda)


def _request_reason(build: Build, request: Request, spec: SpecifierSet | None) -> str | None:
    if spec is not None and not spec.contains(build.torch, prereleases=True):
        return f"torch {build.torch} does not match --torch {spec}"
    if request.cpu and build.kind != "cpu":
        return (
            f"--cpu was asked for; this is a {describe_variant(build.variant, cuda=build.cuda, rocm=build.rocm)} build"
        )
    if request.variant:
        if request.variant == "pypi":
            if not build.pypi_default:
                return "--variant pypi was asked for; this build is not PyPI's default"
        elif build.variant != request.variant:
            return f"--variant {request.variant} was asked for; this is {build.variant}"
    if request.cuda:
        if build.kind != "cuda" or build.cuda is None:
            return f"--cuda {request.cuda} was asked for; this is not a CUDA build"
        if version_tuple(build.cuda)[:2] != version_tuple(request.cuda)[:2]:
            return f"--cuda {request.cuda} was asked for; this build uses CUDA {build.cuda}"
    return None


def _gpu_label(index: int, gpu: Gpu) -> str:
    cc = rules.gpu_compute_capability(gpu) if gpu.vendor == "nvidia" else None
    name = gpu.name or f"{gpu.vendor} GPU"
    detail = f"sm_{cc.replace('.', '')}" if cc else (gpu.gfx or "")
    return f"GPU {index} ({name}{', ' + detail if detail else ''})"


def _jetson_reason(machine: Machine, build: Build, gpus: list[tuple[int, Gpu]]) -> str | None:
    """PyTorch's aarch64 CUDA wheels are built for SBSA servers (Grace, GH200).
    Jetson modules before Thor (Orin sm_87, Xavier sm_72, Nano sm_53) run NVIDIA's
    JetPack builds instead -- conda-forge even keeps a separate Tegra build
    (compat-facts.md section 7).  Thor (sm_110) is served by the cu130 aarch64
    wheels, whose arch list names 11.0 (pytorch RELEASE.md, 2.12-2.14)."""
    if not machine.jetson_l4t or build.kind != "cuda" or build.arch != "aarch64":
        return None
    ccs = [rules.gpu_compute_capability(g) for _, g in gpus]
    if ccs and all(cc and version_tuple(cc) >= (11,) for cc in ccs):
        return None
    return (
        f"torch {build.version_on_index} is built for aarch64 servers (SBSA); this Jetson (L4T {machine.jetson_l4t}) "
        "needs NVIDIA's JetPack builds of PyTorch, or conda-forge's Tegra build"
    )


def _judge(
    machine: Machine,
    build: Build,
    request: Request,
    spec: SpecifierSet | None,
    *,
    any_driver: bool = False,
    gpu_optional: bool = False,
) -> _Judged:
    reason = _request_reason(build, request, spec)
    if reason:
        return _Judged(build=build, rejected=reason)
    tag = python_tag(machine.python, bool(machine.free_threaded))
    reason = rules.why_not_python(build, tag) or rules.why_not_platform(
        build, machine.os, wheel_arch(machine), machine.libc, machine.macos_version, python=tag
    )
    if reason:
        return _Judged(build=build, rejected=reason)
    kind = build.kind
    if kind == "cpu":
        apple = tuple(
            i for i, g in enumerate(machine.gpus) if g.vendor == "apple" and rules.why_not_gpu(build, g) is None
        )
        return _Judged(build=build, covered=apple)
    vendor = _KIND_VENDOR[kind]
    gpus = [(i, g) for i, g in enumerate(machine.gpus) if g.vendor == vendor]
    override = _override_target(machine) if kind == "rocm" else None
    if override:  # ROCm reports the override in place of every GPU's own target
        gpus = [(i, replace(g, gfx=override)) for i, g in gpus]
    if not gpus and (gpu_optional or _asked_for_by_name(build, request)):
        return _Judged(build=build, asked_without_gpu=True)
    if not gpus:
        what = {"cuda": "NVIDIA", "rocm": "AMD", "xpu": "Intel"}[kind]
        cost = " and would download gigabytes of NVIDIA CUDA libraries for nothing" if kind == "cuda" else ""
        return _Judged(
            build=build,
            hardware=True,
            rejected=f"torch {build.version_on_index} needs an {what} GPU; none was found{cost}",
        )
    if kind == "cuda":
        reason = _jetson_reason(machine, build, gpus)
        if reason:
            return _Judged(build=build, rejected=reason, hardware=True)
    # the GPUs first: when the build has no kernels for them, the driver does not matter
    covered: list[int] = []
    left_out: list[tuple[int, str]] = []
    ptx_jit: list[int] = []
    # identical GPUs (a fleet node's eight) are judged once; compared, not hashed: a record's hash
    # is a tuple of all its fields, and most machines have one GPU
    seen: list[tuple[Gpu, tuple[str | None, bool]]] = []
    for i, gpu in gpus:
        # an NVIDIA GPU without a driver on a machine with none is the driver check's to report
        unbound = gpu.driver_loaded is False and not any_driver and (kind != "cuda" or machine.nvidia_driver)
        if unbound:
            left_out.append((i, f"{gpu.name or 'this GPU'} is seen on the PCI bus but no driver is loaded for it"))
            continue
        verdict = next((v for g, v in seen if g is gpu or g == gpu), None)
        if verdict is None:
            why = rules.why_not_gpu(build, gpu)
            verdict = (why, why is None and kind == "cuda" and rules.needs_ptx_jit(build, gpu))
            seen.append((gpu, verdict))
        why, jit = verdict
        if why is None:
            covered.append(i)
            if jit:
                ptx_jit.append(i)
        else:
            left_out.append((i, why))
    if not covered:
        reason = left_out[0][1]
        if len(left_out) > 1:
            reason += f" (and {len(left_out) - 1} more GPU{'s' if len(left_out) > 2 else ''}: see the plan's notes)"
        return _Judged(build=build, rejected=reason, hardware=True)
    level = None
    if kind == "cuda":
        if any_driver:
            reason, level = rules.why_not_driver(build, "99999", _driver_os(machine))
        elif driver_unknown(machine):
            reason, level = None, rules.DRIVER_UNKNOWN
        else:
            reason, level = rules.why_not_driver(
                build, machine.nvidia_driver, _driver_os(machine), driver_cuda=machine.cuda_driver_max
            )
        if reason:
            return _Judged(build=build, rejected=reason, hardware=True, driver_only=True)
        if level == rules.MINOR_COMPAT and ptx_jit:
            # PTX made by CUDA X.y cannot be JIT-compiled by a driver of an older X.z: minor-version
            # compatibility runs compiled kernels only (NVIDIA's CUDA Compatibility guide; the load
            # fails with CUDA_ERROR_UNSUPPORTED_PTX_VERSION).  A newer driver would run it.
            jit_out = [
                (
                    i,
                    f"{_gpu_label(i, machine.gpus[i])} has only PTX in torch {build.version_on_index}, and the "
                    f"driver runs CUDA {build.cuda} by minor-version compatibility, which cannot JIT-compile "
                    "PTX from a newer CUDA",
                )
                for i in ptx_jit
            ]
            covered = [i for i in covered if i not in ptx_jit]
            left_out += jit_out
            ptx_jit = []
            if not covered:
                return _Judged(build=build, rejected=jit_out[0][1], hardware=True, driver_only=True)
    return _Judged(
        build=build,
        covered=tuple(covered),
        left_out=tuple(left_out),
        level=level,
        ptx=tuple(ptx_jit),
        gfx_override=override,
    )


def judge_build(machine: Machine, build: Build, request: Request | None = None) -> tuple[str | None, tuple[int, ...]]:
    """The resolver's verdict on one build for ``machine``, the one ``resolve`` makes of every
    candidate: ``(why not, ())`` when it is rejected, else ``(None, the indices of the machine's
    GPUs it uses)``.  ``torchup matrix`` and ``catalog --gpu`` show it; they keep no rules of their own."""
    request = request or Request()
    spec = parse_torch_spec(request.torch) if request.torch else None
    judged = _judge(machine, build, request, spec)
    return judged.rejected, judged.covered


def _override_target(machine: Machine) -> str | None:
    from torchup.catalog import hardware

    return hardware.gfx_of_override(machine.hsa_override_gfx) if machine.hsa_override_gfx else None


def _integrated(gpu: Gpu) -> bool:
    """An integrated GPU (Intel iGPU, AMD APU) counts after any discrete one: a laptop
    with an RTX card and a Core Ultra iGPU wants the CUDA build, not the XPU one."""
    if gpu.vendor not in ("intel", "amd") or not gpu.name:
        return False
    from torchup.catalog import hardware

    model = hardware.gpu_by_name(gpu.name)
    return bool(model and model.segment == "integrated")


def _rank(j: _Judged, gpus: tuple[Gpu, ...] = ()) -> tuple:
    b = j.build
    level = {rules.FULL: 2, rules.MINOR_COMPAT: 1}.get(j.level or "", 2)
    toolkit = version_tuple(b.cuda or b.rocm or "0")
    discrete = sum(1 for i in j.covered if i < len(gpus) and not _integrated(gpus[i]))
    return (
        discrete,
        len(j.covered),
        version_tuple(b.torch),
        level,
        not j.ptx,
        b.pypi_default,
        b.fact("exists").confirmed,
        toolkit,
        b.variant,
    )


@record
class Verdict:
    """One build judged for one machine: ``rejected`` is the reason, else ``rank`` orders the kept
    ones (greater is better, the order ``resolve`` chooses by; its first three places are the
    discrete GPUs used, all GPUs used and the torch version)."""

    build: Build
    rejected: str | None
    rank: tuple = ()


def judge_builds(machine: Machine, request: Request, catalog: Catalog, *, gpu_optional: bool = False) -> list[Verdict]:
    """Every build of the catalog for the machine's platform, kept or rejected, as ``resolve``
    judges them.  ``gpu_optional``: a GPU build also runs on a machine without that GPU (it
    uses none), as one environment shared by GPU and CPU-only nodes must."""
    spec = parse_torch_spec(request.torch) if request.torch else None
    impl = (machine.python_implementation or "cpython").lower()
    out = []
    for b in catalog.builds(os=machine.os, arch=wheel_arch(machine)):
        if impl != "cpython":
            why = f"PyTorch publishes wheels for CPython only; this Python is {machine.python_implementation}"
            out.append(Verdict(build=b, rejected=why))
            continue
        j = _judge(machine, b, request, spec, gpu_optional=gpu_optional)
        out.append(Verdict(build=b, rejected=j.rejected, rank=() if j.rejected else _rank(j, machine.gpus)))
    return out


# --- the plan ---------------------------------------------------------------------


def _alternatives(best: _Judged, kept: list[_Judged]) -> list[_Judged]:
    """The other variants of the chosen release, then the best of each older
    minor series (2.13.x, 2.12.x ...), at most ``_MAX_ALTERNATIVES``."""
    same = [j for j in kept if j.build.torch == best.build.torch and j.build.variant != best.build.variant]
    series: dict[tuple[int, ...], _Judged] = {}
    for j in kept:
        key = version_tuple(j.build.torch)[:2]
        if key < version_tuple(best.build.torch)[:2]:
            series.setdefault(key, j)
    return (same[:2] + list(series.values()))[:_MAX_ALTERNATIVES]


def _note(machine: Machine, j: _Judged) -> str | None:
    bits = []
    if j.left_out:
        bits.append("leaves out " + ", ".join(_gpu_label(i, machine.gpus[i]) for i, _ in j.left_out))
    if j.ptx:
        bits.append("PTX JIT for " + ", ".join(_gpu_label(i, machine.gpus[i]) for i in j.ptx))
    if j.level == rules.MINOR_COMPAT:
        bits.append(f"CUDA {j.build.cuda} by minor-version compatibility")
    if not j.covered and machine.gpus:
        bits.append("does not use the GPU")
    return "; ".join(bits) or None


def _variant_name(build: Build) -> str:
    return "pypi" if build.pypi_default else build.variant


def _companion(release: Release, name: str, build: Build, tag: str, pypi: bool, warnings: list[str]) -> str | None:
    comp = release.companion(name)
    if comp is None or comp.version is None:
        note = f" ({comp.note})" if comp is not None and comp.note else ""
        warnings.append(f"no {name} release goes with torch {release.version}{note}: left out")
        return None
    if not comp.matched:
        warnings.append(
            f"{name} has no release built for torch {release.version} (its last is {comp.version}): left out; "
            f"add {name}=={comp.version} yourself if you need it"
        )
        return None
    pure = any(p.startswith("py") for p in comp.pythons)
    if comp.pythons and not pure and tag not in comp.pythons:
        py = tag[2] + "." + tag[3:]
        warnings.append(f"{name} {comp.version} has no wheel for Python {py}: left out")
        return None
    # a pure-Python companion carries no build label on any index: pin the bare version
    # (a bare pin also matches a labelled file, PEP 440 local-version matching)
    if pypi or not build.local_label or pure:
        return comp.version
    return f"{comp.version}+{build.local_label}"


def _unconfirmed_warning(catalog: Catalog, build: Build) -> str | None:
    # only the facts this build has: a Windows build has no glibc floor, a CPU build no arch list
    has = {"cuda": build.cuda, "arches": build.sass or build.ptx, "gfx": build.gfx, "glibc_min": build.glibc_min}
    names = tuple(n for n in build.unconfirmed(_FACTS) if has.get(n, True))
    if not names:
        return None
    words = {
        "exists": "that the build exists",
        "wheels": "the Python versions of its wheels",
        "pypi_default": "whether PyPI serves it",
        "cuda": "its CUDA version",
        "arches": "its GPU architecture list",
        "gfx": "its AMD gfx list",
        "glibc_min": "its glibc floor",
    }
    by_source: dict[str, list[str]] = {}
    for n in names:
        by_source.setdefault(build.fact(n).source, []).append(words.get(n, n))
    # the source's whole description: a warning is never cut (it is also read from --json)
    parts = [f"{' and '.join(facts)} [{catalog.describe_source(src)}]" for src, facts in by_source.items()]
    return (
        f"this choice rests on catalog facts no primary source confirmed for torch {build.version_on_index}: "
        + "; ".join(parts)
        + " ('torchup catalog' shows the sources)"
    )


def _needs(build: Build) -> str:
    """What a GPU build needs where it runs: the GPU architectures, and for CUDA the driver on each OS."""
    from torchup.catalog import hardware

    if build.kind == "cuda":
        arches = ", ".join(f"sm_{cc.replace('.', '')}" for cc in build.sass)
        bits = [f"an NVIDIA GPU ({arches})" if arches else "an NVIDIA GPU"]
        if build.cuda:
            floors = [(os_name, hardware.driver_floor(build.cuda, os_name)) for os_name in ("linux", "windows")]
            drivers = [
                f"{floor.compat} on {os_name.capitalize()}" for os_name, floor in floors if floor and floor.compat
            ]
            if drivers:
                bits.append(f"an NVIDIA driver >= {' / '.join(drivers)} (CUDA {'.'.join(build.cuda.split('.')[:2])})")
        return " and ".join(bits)
    if build.kind == "rocm":
        return "an AMD GPU with one of " + ", ".join(build.gfx) if build.gfx else "an AMD GPU supported by ROCm"
    return "an Intel GPU supported by PyTorch's XPU builds"


def _driver_advice(machine: Machine, better: _Judged, chosen: _Judged | None) -> str | None:
    from torchup.catalog import hardware

    b = better.build
    if b.cuda is None:
        return None
    floor = hardware.driver_floor(b.cuda, _driver_os(machine))
    if floor is None:
        return None
    # a GPU served through PTX JIT needs the driver of full support: minor-version compatibility
    # runs compiled kernels only
    need = (floor.full or floor.compat) if better.ptx else (floor.compat or floor.full)
    full = f" (>= {floor.full} for full CUDA {floor.cuda} support)" if floor.full and floor.full != need else ""
    what = f"torch {b.torch} for CUDA {b.cuda}"
    if not machine.nvidia_driver:
        now = " so the plan is the CPU build for now" if chosen and chosen.build.kind == "cpu" else ""
        return (
            f"no NVIDIA driver is loaded{now}: install NVIDIA driver >= {need}{full} "
            f"and run torchup again to get {what}"
        )
    return (
        f"an NVIDIA driver >= {need}{full} would run {what} (this one is {machine.nvidia_driver}): "
        "update the driver to get it"
    )


def _reasons(machine: Machine, catalog: Catalog, best: _Judged, judged: list[_Judged], url: str | None) -> list[str]:
    b = best.build
    out = []
    newer = [j for j in judged if j.rejected and version_tuple(j.build.torch) > version_tuple(b.torch)]
    newest = catalog.newest().version
    if (
        not newer
        and version_tuple(newest) > version_tuple(b.torch)
        and not any(version_tuple(j.build.torch) > version_tuple(b.torch) for j in judged)
    ):
        out.append(
            f"torch {b.torch} is the last release with a {b.os} {b.arch} build "
            f"(PyTorch publishes none for it after that; the newest release is {newest})"
        )
    elif not newer:
        out.append(f"torch {b.torch} is the newest release with a build for this machine")
    else:
        # per newer release, the rejection that matters: of a build of the chosen kind
        # (the CUDA build, when a CUDA build was chosen), else of PyPI's default build
        def relevance(j: _Judged) -> tuple:
            return (j.build.kind == b.kind, j.build.pypi_default)

        by_release: dict[str, _Judged] = {}
        for j in newer:
            have = by_release.get(j.build.torch)
            if have is None or relevance(j) > relevance(have):
                by_release[j.build.torch] = j
        for version, j in sorted(by_release.items(), key=lambda kv: version_tuple(kv[0]), reverse=True)[:2]:
            out.append(f"not torch {version}: {j.rejected}")
    desc = describe_variant(_variant_name(b), cuda=b.cuda, rocm=b.rocm, os=b.os)
    if best.covered:
        gpus = ", ".join(_gpu_label(i, machine.gpus[i]) for i in best.covered)
        if b.kind == "cpu":
            out.append(f"{desc}: uses {gpus} through MPS")
        else:
            out.append(f"{desc}: its kernels cover {gpus}")
    elif b.kind == "cpu":
        nvidia = [g for g in machine.gpus if g.vendor == "nvidia"]
        if nvidia and not machine.nvidia_driver:
            out.append(
                f"{desc} for now: the NVIDIA GPU has no driver loaded (the warnings say which driver to install)"
            )
        elif machine.gpus:
            gpu_kinds = {k for k, v in _KIND_VENDOR.items() if any(g.vendor == v for g in machine.gpus)}
            why = next(
                (j.rejected for j in judged if j.build.torch == b.torch and j.build.kind in gpu_kinds and j.rejected),
                None,
            )
            out.append(f"{desc}: no build that uses this machine's GPU fits" + (f" ({why})" if why else ""))
        else:
            out.append(f"{desc}: no GPU was found")
    if best.asked_without_gpu:
        out.append(f"{desc}: asked for by name; this machine has no GPU it can use")
    driver = f"NVIDIA driver {machine.nvidia_driver}" if machine.nvidia_driver else "the NVIDIA driver"
    if machine.cuda_driver_max:
        driver += f" (it reports CUDA up to {machine.cuda_driver_max})"
    if best.level == rules.FULL:
        out.append(f"{driver} fully supports CUDA {b.cuda}")
    elif best.level == rules.MINOR_COMPAT:
        out.append(
            f"{driver} runs CUDA {b.cuda} by minor-version compatibility "
            "(newer driver features and JIT of newer PTX are not available)"
        )
    elif best.level == rules.DRIVER_UNKNOWN:
        out.append(
            f"the NVIDIA driver is not known: the newest build for the GPU, given a driver that runs CUDA {b.cuda}"
        )
    if url is None:
        out.append("PyPI's default build: no extra index needed")
    else:
        out.append(f"from PyTorch's index {url}, which the commands use in place of the default index")
        pypi_cuda = [
            j
            for j in judged
            if j.build.torch == b.torch and j.build.pypi_default and j.build.kind == "cuda" and j.rejected
        ]
        if b.kind == "cpu" and pypi_cuda and not machine.gpus:
            out.append(
                "not PyPI's default build: on this platform it is a CUDA build, gigabytes of NVIDIA libraries this machine cannot use"
            )
    return out


def _considered(machine: Machine, judged: list[_Judged]) -> tuple[Candidate, ...]:
    """Every build judged, newest first, with why it was rejected or what to know of it (--explain)."""
    return tuple(
        Candidate(
            torch=j.build.version_on_index,
            variant=j.build.variant,
            rejected=j.rejected,
            note=None if j.rejected else _note(machine, j),
        )
        for j in sorted(judged, key=lambda j: (version_tuple(j.build.torch), j.build.variant), reverse=True)
    )


def resolve(
    machine: Machine,
    request: Request,
    catalog: Catalog,
    *,
    today: date | None = None,
    stack: StackCatalog | None = None,
    explain: bool = True,
) -> Plan | Refusal:
    """The newest build that really runs on ``machine`` within ``request``, or why none does.

    With ``request.with_packages``: the best build for which every named package has a wheel
    (``torchup.stack.co_resolve``; ``stack`` defaults to the stack catalog in use).  A plan lists
    every build considered (``considered``) only with ``explain``; a refusal always does."""
    spec = parse_torch_spec(request.torch) if request.torch else None
    impl = (machine.python_implementation or "cpython").lower()
    if impl != "cpython":
        return Refusal(
            code="unsupported-platform",
            message=f"PyTorch publishes wheels for CPython only; this Python is {machine.python_implementation}",
            reasons=(
                f"torch wheels are tagged cp3XX (CPython); {machine.python_implementation} {machine.python} "
                "cannot install them: use a CPython interpreter (--python PATH)",
            ),
        )
    arch = wheel_arch(machine)
    builds = catalog.builds(os=machine.os, arch=arch)
    if not builds:
        return _refuse_platform(machine, arch, catalog)
    judged = [_judge(machine, b, request, spec) for b in builds]
    rank = lambda j: _rank(j, machine.gpus)  # noqa: E731
    kept = sorted((j for j in judged if j.rejected is None), key=rank, reverse=True)
    if not kept:
        unknown = _unknown_variant(request, builds, machine, arch)
        if unknown is not None:
            return unknown
        return _refuse(machine, request, catalog, judged, _considered(machine, judged), today)
    choice: StackChoice | None = None
    if request.with_packages:
        outcome = _choose_stack(machine, request, kept, stack, arch)
        if isinstance(outcome, Refusal):
            within = ("only the builds your constraints allow were considered",) if request.constrained else ()
            return replace(outcome, considered=_considered(machine, judged), reasons=outcome.reasons + within)
        choice = outcome
    best = kept[choice.index] if choice else kept[0]
    b = best.build
    release = catalog.release(b.torch)
    assert release is not None
    pypi = b.pypi_default
    url = None if pypi else index_url_for(b.index_suffix or b.variant, request.index_base)
    warnings: list[str] = []
    tag = python_tag(machine.python, bool(machine.free_threaded))
    vision = _companion(release, "torchvision", b, tag, pypi, warnings) if request.with_torchvision else None
    audio = _companion(release, "torchaudio", b, tag, pypi, warnings) if request.with_torchaudio else None
    for i, why in best.left_out:
        warnings.append(f"{_gpu_label(i, machine.gpus[i])} is left out: {why}")
    for i in best.ptx:
        warnings.append(
            f"{_gpu_label(i, machine.gpus[i])} runs through PTX JIT: the first use compiles kernels, which can take minutes"
        )
    if best.gfx_override and best.covered:
        real = ", ".join(f"{_gpu_label(i, machine.gpus[i])}" for i in best.covered)
        warnings.append(
            f"HSA_OVERRIDE_GFX_VERSION={machine.hsa_override_gfx} is set: ROCm runs {real} as "
            f"{best.gfx_override}, which this build has. That is an unofficial override AMD does not "
            "support: most kernels run, but errors such as HSA_STATUS_ERROR_INVALID_ISA or "
            "hipErrorNoBinaryForGpu mean this card needs another value or the CPU build"
        )
    if best.asked_without_gpu:
        what = {"cuda": "NVIDIA", "rocm": "AMD", "xpu": "Intel"}[b.kind]
        warnings.append(
            f"no {what} GPU was found here; {describe_variant(b.variant, cuda=b.cuda, rocm=b.rocm, os=b.os)} "
            f"is given because it was asked for by name (an image for another machine?): where it runs "
            f"it needs {_needs(b)}"
        )
    if best.level == rules.DRIVER_UNKNOWN:
        warnings.append(
            f"the NVIDIA driver is not known (nothing said which one is installed): this build needs "
            f"{_needs(b)}; `nvidia-smi` shows the driver and the newest CUDA it runs"
        )
    # a better build the driver alone keeps out: say which driver gets it
    unlimited = [
        j
        for j in (_judge(machine, x.build, request, spec, any_driver=True) for x in judged if x.driver_only)
        if j.rejected is None
    ]
    if unlimited:
        better = max(unlimited, key=rank)
        if rank(better) > rank(best):
            advice = _driver_advice(machine, better, best)
            if advice:
                warnings.append(advice)
    if machine.rosetta:
        warnings.append(
            "this Python runs under Rosetta as x86_64: PyTorch's last Intel-Mac wheel is 2.2.2 and it "
            "cannot use the Apple GPU; an arm64 Python gets the newest torch with MPS"
        )
    unconfirmed = _unconfirmed_warning(catalog, b)
    if unconfirmed:
        warnings.append(unconfirmed)
    if choice and choice.unconfirmed:
        warnings.append(
            "the packages chosen with torch rest on facts no primary source confirmed: "
            + "; ".join(dict.fromkeys(choice.unconfirmed))
            + " (docs/stack.md, 'Where each fact comes from')"
        )
    age = catalog.age_days(today) if today else None
    if today is not None and catalog.is_stale(today):
        warnings.append(f"the catalog data is {age} days old ({catalog.data_date}): run 'torchup catalog refresh'")
    alternatives = [
        Candidate(
            torch=j.build.torch if j.build.pypi_default else j.build.version_on_index,
            variant=_variant_name(j.build),
            note="; ".join(
                x for x in (f"the {j.build.variant} build" if j.build.pypi_default else None, _note(machine, j)) if x
            )
            or None,
        )
        for j in _alternatives(best, kept)
    ]
    return Plan(
        torch=b.torch if pypi or not b.local_label else b.version_on_index,
        torchvision=vision,
        torchaudio=audio,
        variant=_variant_name(b),
        cuda=b.cuda if b.kind == "cuda" else None,
        rocm=b.rocm if b.kind == "rocm" else None,
        index_url=url,
        reasons=tuple(_reasons(machine, catalog, best, judged, url)) + (choice.reasons if choice else ()),
        warnings=tuple(warnings),
        alternatives=tuple(alternatives),
        considered=_considered(machine, judged) if explain else (),
        catalog_age_days=age,
        os=machine.os,
        arch=arch,
        python=f"{machine.python_minor[0]}.{machine.python_minor[1]}{'t' if machine.free_threaded else ''}",
        stack=choice.pins if choice else (),
    )


def _choose_stack(
    machine: Machine, request: Request, kept: list[_Judged], stack: StackCatalog | None, arch: str
) -> StackChoice | Refusal:
    """The first kept build where every ``--with`` package fits (``torchup.stack``)."""
    from torchup.stack import Point, Target, co_resolve, parse_with

    try:
        reqs = parse_with(request.with_packages)
    except ValueError as exc:
        return Refusal(code="bad-package", message=str(exc))
    if stack is None:
        from torchup.catalog.stack import load_stack

        stack = load_stack()
    points = [
        Point(
            torch=j.build.torch,
            variant=j.build.index_suffix or j.build.variant,
            cuda=".".join(j.build.cuda.split(".")[:2]) if j.build.kind == "cuda" and j.build.cuda else None,
            pypi_default=j.build.pypi_default,
            index_url=index_url_for(j.build.index_suffix or j.build.variant, request.index_base),
            gpus=len(j.covered),
        )
        for j in kept
    ]
    libc = machine.libc_name
    target = Target(
        os=machine.os,
        arch=arch,
        python=f"{machine.python_minor[0]}.{machine.python_minor[1]}",
        free_threaded=bool(machine.free_threaded),
        glibc=machine.libc_version if libc == "glibc" else None,
        musl=libc == "musl",
        macos=_major_minor(machine.macos_version) if machine.macos_version else None,
    )
    return co_resolve(points, reqs, stack, target)


def _major_minor(version: str) -> tuple[int, int]:
    parts = (*version_tuple(version), 0, 0)
    return parts[0], parts[1]


# --- refusals -----------------------------------------------------------------------


def _refuse_platform(machine: Machine, arch: str, catalog: Catalog) -> Refusal:
    message = f"no PyTorch build exists for {machine.os} {arch}"
    if machine.python_bits == 32:
        reasons = [
            f"PyTorch publishes no wheels for 32-bit Python ({machine.os} {arch}); "
            "install a 64-bit Python and run torchup with it (--python PATH)"
        ]
    elif machine.os == "macos" and arch == "x86_64":
        reasons = ["PyTorch publishes no wheels for Intel Macs in the releases torchup knows"]
    else:
        said = catalog.platform_note(machine.os, arch)
        if said is not None and said.provenance.confidence != CONFIRMED:
            # PyTorch builds for it somewhere (a nightly index): say what the catalog knows, not that none exists
            reasons = [f"no torch release torchup knows has wheels for {machine.os} {arch}"]
            message = f"no PyTorch release build that torchup knows exists for {machine.os} {arch}"
        else:
            reasons = [f"PyTorch publishes no wheels for {machine.os} {arch}"]
        if said is not None:
            reasons.append(f"{said.note} [{catalog.describe_source(said.provenance.source)}]")
    return Refusal(code="unsupported-platform", message=message, reasons=tuple(reasons))


def _constraint_conflict(request: Request, spec, order: list[_Judged], machine: Machine) -> list[str]:
    """Why the user's constraints leave no build at all: name the builds that do exist."""
    where = f"{machine.os} {wheel_arch(machine)}"
    releases = sorted({j.build.torch for j in order}, key=version_tuple, reverse=True)
    if spec is not None:
        matching = [r for r in releases if spec.contains(r, prereleases=True)]
        if not matching:
            return [
                f"no torch release for {where} matches --torch {request.torch} "
                f"(the catalog has {releases[-1]} to {releases[0]}; `torchup catalog refresh` learns newer ones)"
            ]
    else:
        matching = releases
    flavour = [j for j in order if j.build.torch in matching]
    newest = matching[0]
    variants = sorted({j.build.variant for j in flavour if j.build.torch == newest})
    asked = (
        f"--variant {request.variant}"
        if request.variant
        else f"--cuda {request.cuda}"
        if request.cuda
        else "--cpu"
        if request.cpu
        else "your constraints"
    )
    line = f"{asked}: torch {newest} is built for {where} as {', '.join(variants)}"
    with_it = [j.build.torch for j in order if _request_reason(j.build, request, None) is None]
    if with_it:
        line += f"; the newest torch with such a build is {max(with_it, key=version_tuple)}"
    return [line]


def _unknown_variant(request: Request, builds, machine: Machine, arch: str) -> Refusal | None:
    """--variant naming a flavour PyTorch never published for this platform: say so, with the list."""
    if not request.variant or request.variant == "pypi":
        return None
    known = {b.variant for b in builds}
    if request.variant in known:
        return None
    order = sorted(known, key=lambda v: (v[:2], version_tuple("".join(c for c in v if c.isdigit() or c == ".") or "0")))
    return Refusal(
        code="unknown-variant",
        message=f"PyTorch has published no {request.variant} build for {machine.os} {arch}",
        reasons=(
            f"--variant {request.variant}: the variants for {machine.os} {arch} are {', '.join(order)} "
            "(and pypi, PyPI's default build)",
        ),
    )


def _refuse(
    machine: Machine,
    request: Request,
    catalog: Catalog,
    judged: list[_Judged],
    considered: tuple[Candidate, ...],
    today: date | None,
) -> Refusal:
    order = sorted(judged, key=lambda j: (version_tuple(j.build.torch), j.build.pypi_default), reverse=True)
    # what fails among the builds the user's constraints allow (all of them without constraints)
    spec = parse_torch_spec(request.torch) if request.torch else None
    allowed = [j for j in order if _request_reason(j.build, request, spec) is None]
    free = None
    if request.constrained:
        unconstrained = replace(request, torch=None, variant=None, cuda=None, cpu=False, with_packages=())
        result = resolve(machine, unconstrained, catalog, today=today)
        free = result if isinstance(result, Plan) else None
    tag = python_tag(machine.python, bool(machine.free_threaded))
    this_py = f"{machine.python_minor[0]}.{machine.python_minor[1]}{'t' if machine.free_threaded else ''}"
    reasons: list[str] = []
    code = "no-build"
    if allowed and all(rules.why_not_python(j.build, tag) for j in allowed):
        code = "no-python-wheel"
        newest = max(allowed, key=lambda j: version_tuple(j.build.torch)).build
        pythons = sorted(
            {p for j in allowed if j.build.torch == newest.torch for p in j.build.pythons},
            key=lambda p: (version_tuple(p[2] + "." + p[3:].rstrip("t")), p.endswith("t")),
        )
        words = [p[2] + "." + p[3:] for p in pythons]
        lowest = words[0].rstrip("t") if words else None
        line = f"torch {newest.torch} has no wheel for Python {this_py} on {machine.os} {wheel_arch(machine)}"
        if words:
            line += f" (it has {', '.join(words)})"
        fixes = []
        if free is not None:
            fixes.append(f"use torch {free.base_version}")
        if lowest and version_tuple(lowest) > version_tuple(machine.python):
            fixes.append(f"Python {lowest}+")
        elif words:
            fixes.append(f"a Python it has a wheel for ({', '.join(words)})")
        reasons.append(line + (": " + ", or ".join(fixes) if fixes else ""))
    elif not allowed and request.constrained:
        reasons.extend(_constraint_conflict(request, spec, order, machine))
        if free is not None:
            reasons.append(
                f"without the constraints you gave, torchup would choose torch {free.base_version} "
                f"({describe_variant(free.variant, cuda=free.cuda, rocm=free.rocm, os=free.os)})"
            )
    else:
        seen: set[str] = set()
        pool = allowed or order
        newest_release = pool[0].build.torch if pool else None
        for j in (j for j in pool if j.build.torch == newest_release):
            if not j.rejected:
                continue
            # one line per kind of reason: the same words for another release or variant add nothing
            key = j.rejected.replace(j.build.version_on_index, "").replace(j.build.torch, "")
            key = key.replace(j.build.variant, "")
            if key not in seen:
                seen.add(key)
                reasons.append(j.rejected)
            if len(reasons) == 6:
                break
        if free is not None:
            reasons.append(
                f"without the constraints you gave, torchup would choose torch {free.base_version} "
                f"({describe_variant(free.variant, cuda=free.cuda, rocm=free.rocm, os=free.os)})"
            )
    message = "no PyTorch build fits this machine" + (" and your constraints" if request.constrained else "")
    return Refusal(code=code, message=message, reasons=tuple(reasons), considered=considered)
