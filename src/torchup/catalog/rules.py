"""Does a build run here?  Pure rules, each answering None (yes) or a reason (no).

- ``why_not_gpu(build, gpu)``: CUDA kernels for the GPU's compute capability
  (same-major SASS rule; PTX JIT to the same or newer majors; arch-specific
  ``sm_90a`` cubins never count), a ROCm build's gfx targets, XPU support.
- ``why_not_driver(build, driver, os)``: the NVIDIA driver against the CUDA
  toolkit of the build, with the support level reached.
- ``why_not_python(build, python)``: a wheel for that interpreter tag.
- ``why_not_platform(build, os, arch, libc, macos_version)``: platform tag floors.

A GPU is a ``torchup.machine.Gpu`` (or anything with ``vendor``, ``name``,
``compute_capability``, ``gfx``); a missing compute capability is looked up by
model name in ``torchup.catalog.hardware``.
"""

from __future__ import annotations

from functools import lru_cache

from torchup.catalog import hardware
from torchup.catalog.model import Build, cc_tuple, platform_floor, python_tag, version_tuple

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "DRIVER_UNKNOWN",
    "FULL",
    "MINOR_COMPAT",
    "gpu_compute_capability",
    "kernel_match",
    "needs_ptx_jit",
    "why_not_driver",
    "why_not_driver_for_cuda",
    "why_not_gpu",
    "why_not_platform",
    "why_not_python",
]

FULL = "full"
MINOR_COMPAT = "minor-version-compat"
DRIVER_UNKNOWN = "driver-unknown"  # an NVIDIA GPU whose driver nobody told us about: not judged


def _sm(cc: str) -> str:
    major, minor = cc_tuple(cc)
    return f"sm_{major}{minor}{cc[len(str(major)) + 1 + len(str(minor)) :]}"


def gpu_compute_capability(gpu: Any) -> str | None:
    """The GPU's compute capability, probed or known from its model name."""
    cc = getattr(gpu, "compute_capability", None)
    if cc:
        return cc
    name = getattr(gpu, "name", None)
    if name:
        model = hardware.gpu_by_name(name)
        if model and model.compute_capability:
            return model.compute_capability
    return None


def kernel_match(build: Build, cc: str) -> tuple[str, str] | None:
    """How a CUDA build serves compute capability ``cc``: ``("sass", "8.6")`` for
    a cubin of the same major and a minor not above the GPU's, ``("ptx", "8.0")``
    for PTX of an older-or-equal arch that the driver JIT-compiles; None."""
    return _kernel_match(build.sass, build.ptx, cc)


@lru_cache(maxsize=4096)  # pure; every plan asks it for each CUDA build and GPU, and builds share arch lists
def _kernel_match(sass_ccs: tuple[str, ...], ptx_ccs: tuple[str, ...], cc: str) -> tuple[str, str] | None:
    gpu = cc_tuple(cc)
    sass = [s for s in sass_ccs if s[-1].isdigit() and cc_tuple(s)[0] == gpu[0] and cc_tuple(s) <= gpu]
    if sass:
        return "sass", max(sass, key=cc_tuple)
    ptx = [p for p in ptx_ccs if p[-1].isdigit() and cc_tuple(p) <= gpu]
    if ptx:
        return "ptx", max(ptx, key=cc_tuple)
    return None


def needs_ptx_jit(build: Build, gpu: Any) -> bool:
    """True when the build serves this GPU only through PTX JIT (slow first
    start; and not possible under minor-version compatibility)."""
    cc = gpu_compute_capability(gpu)
    if build.kind != "cuda" or cc is None:
        return False
    match = kernel_match(build, cc)
    return bool(match and match[0] == "ptx")


def _arch_words(build: Build) -> str:
    sass = " ".join(_sm(s) for s in build.sass) or "none"
    ptx = " ".join(_sm(p).replace("sm_", "compute_") for p in build.ptx) or "none"
    return f"kernels for {sass}; PTX: {ptx}"


def why_not_gpu(build: Build, gpu: Any) -> str | None:
    """None when ``build`` can use ``gpu``; otherwise why not."""
    vendor = getattr(gpu, "vendor", None)
    kind = build.kind
    label = f"torch {build.version_on_index}"
    if vendor == "apple":
        if build.os == "macos" and build.arch == "aarch64":
            return None
        return f"{label} is not a macOS arm64 build: it cannot use the Apple GPU (MPS)"
    if vendor == "nvidia":
        if kind != "cuda":
            return f"{label} is a {kind.upper() if kind != 'cpu' else 'CPU'} build: it does not use NVIDIA GPUs"
        cc = gpu_compute_capability(gpu)
        name = getattr(gpu, "name", None) or "this GPU"
        if cc is None:
            return f"the compute capability of {name} is unknown, so it cannot be matched to {label} ({_arch_words(build)})"
        if not build.sass and not build.ptx:
            return f"the CUDA architectures compiled into {label} are not known"
        model = hardware.gpu_by_name(name) if getattr(gpu, "name", None) else None
        if model is not None and model.segment == "embedded" and cc != "11.0":
            # Jetson before Thor runs the Tegra CUDA stack of JetPack; PyTorch's aarch64
            # CUDA wheels target server-class (SBSA) Arm systems (knowledge, not re-checked;
            # conda-forge builds a separate Tegra variant for the same reason).
            return (
                f"{name} is a Jetson module: it needs NVIDIA's JetPack builds of torch; "
                f"{label} is built for server-class Arm or x86 systems"
            )
        if kernel_match(build, cc) is not None:
            return None
        gpu_t = cc_tuple(cc)
        lowest = min((cc_tuple(a) for a in (*build.sass, *build.ptx) if a[-1].isdigit()), default=None)
        fam = hardware.family_of_cc(cc)
        if lowest is not None and gpu_t < lowest:
            why = "too old for this build"
        else:
            why = f"no {_sm(cc)[:-1]}x kernel and no PTX it could JIT-compile"
        return f"{label} has {_arch_words(build)}; {name} is {_sm(cc)} ({fam}): {why}"
    if vendor == "amd":
        if kind != "rocm":
            return f"{label} is not a ROCm build: it does not use AMD GPUs"
        gfx = getattr(gpu, "gfx", None) or (hardware.amd_gfx_by_name(gpu.name) if getattr(gpu, "name", None) else None)
        if gfx is None:
            return f"the gfx target of {getattr(gpu, 'name', None) or 'this AMD GPU'} is unknown"
        if not build.gfx:
            return f"the gfx targets of {label} are not known"
        if gfx in build.gfx:
            return None
        reason = f"{label} is built for {', '.join(build.gfx)}; this GPU is {gfx}"
        override = hardware.community_gfx_override(gfx)
        if override and hardware.gfx_of_override(override) in build.gfx:
            reason += (
                f" (unofficially, HSA_OVERRIDE_GFX_VERSION={override} makes ROCm run it as "
                f"{hardware.gfx_of_override(override)}, which this build has; AMD does not support that)"
            )
        return reason
    if vendor == "intel":
        if kind != "xpu":
            return f"{label} is not an XPU build: it does not use Intel GPUs"
        name = getattr(gpu, "name", None) or ""
        support = hardware.xpu_support(name) if name else None
        if support is True:
            return None
        if support is False:
            return f"{name} is not among the Intel GPUs PyTorch's XPU builds support (Arc A/B, Data Center GPU Max, Core Ultra iGPUs)"
        return f"cannot tell whether {name or 'this Intel GPU'} is supported by PyTorch's XPU builds"
    return f"unknown GPU vendor {vendor!r}"


def why_not_driver(
    build: Build, driver: str | None, os: str, *, driver_cuda: str | None = None
) -> tuple[str | None, str | None]:
    """``(reason, level)`` for a CUDA build on a driver.

    ``driver`` is the driver version (None: no driver); ``driver_cuda`` the newest
    CUDA the driver itself reports (nvidia-smi's "CUDA Version", cuDriverGetVersion).
    The driver's own word comes first: a driver that reports CUDA 13.0 runs every
    13.0 build, whatever our tables know of its version number on this OS; a build
    of a newer minor of the same major runs by minor-version compatibility, and one
    of a newer major does not run at all (NVIDIA, "CUDA Compatibility": forward
    compatibility across majors needs the data-center compat package, not a plain
    driver).  Without that word, the version tables decide: ``(None, "full")`` at
    the toolkit's full-support minimum, ``(None, "minor-version-compat")`` at the
    major's floor, ``(reason, None)`` below it, unknown, or on macOS.  Non-CUDA
    builds: ``(None, None)``."""
    if build.kind != "cuda":
        return None, None
    label = f"torch {build.version_on_index}"
    if build.cuda is None:
        return f"the CUDA version of {label} is not known", None
    return why_not_driver_for_cuda(build.cuda, label, driver, os, driver_cuda=driver_cuda)


def why_not_driver_for_cuda(
    cuda: str, label: str, driver: str | None, os: str, *, driver_cuda: str | None = None
) -> tuple[str | None, str | None]:
    """``why_not_driver`` for a build known only by its CUDA version (``"13.0"``) and a label
    for the reason (``"torch 2.14.0+cu130"``): what ``explain`` reads off a log."""
    if os == "macos":
        return "CUDA is not available on macOS", None
    floor = hardware.driver_floor(cuda, os)
    said = version_tuple(driver_cuda or "")[:2]
    if len(said) == 2:
        need = version_tuple(cuda)[:2]
        if need <= said:
            return None, FULL
        below_floor = bool(driver and floor and floor.compat and version_tuple(driver) < version_tuple(floor.compat))
        if need[0] == said[0] and not below_floor:
            return None, MINOR_COMPAT
        needs = f"an NVIDIA driver >= {floor.compat}" if floor and floor.compat else "a newer NVIDIA driver"
        return (
            f"{label} is built with CUDA {cuda}, which needs {needs}; this driver"
            f"{f' ({driver})' if driver else ''} runs CUDA up to {driver_cuda} (its own report)"
        ), None
    if floor is None or floor.compat is None:
        return f"no driver table for CUDA {cuda}", None
    if not driver:
        return f"{label} needs an NVIDIA driver >= {floor.compat} (CUDA {floor.cuda}); no driver was found", None
    have = version_tuple(driver)
    if not have:
        return f"driver version {driver!r} is not a version", None
    if floor.full and have >= version_tuple(floor.full):
        return None, FULL
    if have >= version_tuple(floor.compat):
        return None, MINOR_COMPAT
    need_driver = floor.full or floor.compat
    major = cuda.split(".")[0]
    return (
        f"{label} is built with CUDA {floor.cuda}, which needs an NVIDIA driver >= {floor.compat} "
        f"(CUDA {major}.x minor-version compatibility; >= {need_driver} for full support); this driver is {driver}",
        None,
    )


def why_not_python(build: Build, python: str) -> str | None:
    """None when the build has a wheel for ``python`` (``cp312``, ``3.13t``, ``3.12``)."""
    tag = python if python.startswith("cp") else python_tag(python)
    if build.wheel_for(tag) is not None:
        return None
    have = ", ".join(_py_words(t) for t in build.pythons) or "none"
    return f"torch {build.torch} has no wheel for Python {_py_words(tag)} on {build.os} {build.arch} (it has: {have})"


def _py_words(tag: str) -> str:
    digits = tag[2:].rstrip("t")
    return f"{digits[0]}.{digits[1:]}{'t' if tag.endswith('t') else ''}"


def _libc(libc: str | tuple | None) -> tuple[str, tuple[int, ...]] | None:
    if libc is None:
        return None
    if isinstance(libc, tuple):
        return "glibc", tuple(libc)
    parts = libc.split()
    if len(parts) == 2:
        return parts[0], version_tuple(parts[1])
    return "glibc", version_tuple(parts[0])


def why_not_platform(
    build: Build,
    os: str,
    arch: str,
    libc: str | tuple | None = None,
    macos_version: str | None = None,
    python: str | None = None,
) -> str | None:
    """None when the build's wheels install and run on this OS / arch / libc /
    macOS version.  ``libc`` as in the machine file (``"glibc 2.35"``,
    ``"musl 1.2.4"``); unknown (None) values are not held against the build.
    With ``python``, the wheel for that tag is judged; else the most lenient."""
    if build.os != os or build.arch != arch:
        return f"torch {build.version_on_index} is a {build.os} {build.arch} build, not {os} {arch}"
    wheels = build.wheels
    if python is not None:
        tag = python if python.startswith("cp") else python_tag(python)
        wheels = tuple(w for w in wheels if w.python == tag) or wheels
    if os == "linux":
        lc = _libc(libc)
        if lc is None:
            return None
        name, have = lc
        if name == "musl":
            return f"torch {build.version_on_index} has only glibc (manylinux) wheels; this system uses musl libc"
        need = build.glibc_min
        if need is None:
            floors = [platform_floor(w.platform)[2] for w in wheels]
            known = [f for f in floors if f is not None]
            need = ".".join(map(str, min(known))) if known else None
        if need and have < version_tuple(need):
            return f"torch {build.version_on_index} needs glibc >= {need}; this system has glibc {'.'.join(map(str, have))}"
        return None
    if os == "macos":
        if not macos_version:
            return None
        floors = [platform_floor(w.platform)[2] for w in wheels]
        known = [f for f in floors if f is not None]
        if not known:
            return None
        macos_need = min(known)
        if version_tuple(macos_version) < macos_need:
            return f"torch {build.version_on_index} needs macOS >= {macos_need[0]}.{macos_need[1]}; this is macOS {macos_version}"
        return None
    return None
