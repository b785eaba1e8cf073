"""conda / mamba through conda-forge.

Facts (research compat-facts.md section 7; conda-forge/pytorch-cpu-feedstock
``recipe/meta.yaml`` and ``.ci_support`` at 74dd3d46, 2026-08-13):

* the ``pytorch`` conda channel is deprecated: 2.5 was its last release
  (pytorch/pytorch#138506), so it is never used here;
* conda-forge builds PyTorch itself; the metapackages ``pytorch-gpu`` and
  ``pytorch-cpu`` pin a CUDA or a CPU build (build strings ``cuda<ver>_*`` /
  ``cpu_*``), and ``cuda-version=X.Y`` picks the CUDA variant;
* its CUDA variants are 12.9 and 13.0 on Linux (x86_64 and aarch64), 12.8 and
  13.0 on Windows; macOS builds are CPU (with MPS on Apple silicon);
* their arch lists (``recipe/build.sh``) cover at least what PyTorch's wheels of
  the same CUDA major cover: CUDA 12.8/12.9 5.0..12.0+PTX, CUDA 13.0
  7.5..12.0+PTX (plus 11.0), so a cu12x wheel maps to conda-forge's 12.x build
  and a cu13x wheel to its 13.0 build.
"""

from __future__ import annotations

from torchup.plan import Plan
from torchup.record import record
from torchup.render._common import RenderError, join, shell_for

__all__ = ["CondaForgeBuild", "conda_forge_build", "conda_subdir", "notes", "render"]

# conda-forge CUDA variant per OS and CUDA major (feedstock .ci_support file names)
_CF_CUDA = {("linux", 12): "12.9", ("linux", 13): "13.0", ("windows", 12): "12.8", ("windows", 13): "13.0"}
_SUBDIR = {
    ("linux", "x86_64"): "linux-64",
    ("linux", "aarch64"): "linux-aarch64",
    ("windows", "x86_64"): "win-64",
    ("macos", "x86_64"): "osx-64",
    ("macos", "aarch64"): "osx-arm64",
}


@record
class CondaForgeBuild:
    specs: tuple[str, ...]  # ("pytorch-gpu==2.14.1", "cuda-version=13.0", "torchvision==0.29.1")
    cuda: str | None  # conda-forge's CUDA version, None for CPU
    subdir: str | None  # "linux-64"


def conda_subdir(plan: Plan) -> str | None:
    """The conda subdir of the plan's platform (``linux-64``); None when unknown."""
    return _SUBDIR.get((plan.os or "", plan.arch or ""))


def _cuda_major(plan: Plan) -> int | None:
    if plan.cuda:
        return int(plan.cuda.split(".")[0])
    return None


def conda_forge_build(plan: Plan) -> CondaForgeBuild:
    """The conda-forge packages equivalent to the plan; ``RenderError`` when none is."""
    if plan.variant.startswith("rocm"):
        raise RenderError(
            "conda-forge has no ROCm build of PyTorch",
            hint="install the ROCm wheel with pip or uv (torchup --manager pip)",
        )
    if plan.variant == "xpu":
        raise RenderError(
            "conda-forge has no Intel GPU (xpu) build of PyTorch",
            hint="install the xpu wheel with pip or uv (torchup --manager pip)",
        )
    subdir = conda_subdir(plan)
    if plan.os is not None and subdir is None:
        raise RenderError(f"conda-forge has no PyTorch build for {plan.os}/{plan.arch}")
    version = plan.base_version
    major = _cuda_major(plan)
    companions = [
        f"{name}=={value.split('+', 1)[0]}"
        for name, value in (("torchvision", plan.torchvision), ("torchaudio", plan.torchaudio))
        if value
    ]
    if major is None:
        package = "pytorch" if plan.os == "macos" else "pytorch-cpu"
        return CondaForgeBuild(specs=(f"{package}=={version}", *companions), cuda=None, subdir=subdir)
    cf_cuda = _CF_CUDA.get((plan.os or "linux", major))
    if cf_cuda is None:
        raise RenderError(
            f"conda-forge has no CUDA {major} build of PyTorch for {plan.os or 'this platform'} "
            "(its CUDA builds are 12.x and 13.0)",
            hint="install the wheel with pip or uv (torchup --manager pip)",
        )
    specs = (f"pytorch-gpu=={version}", f"cuda-version={cf_cuda}", *companions)
    return CondaForgeBuild(specs=specs, cuda=cf_cuda, subdir=subdir)


def render(plan: Plan, *, tool: str = "conda", shell: str | None = None) -> str:
    """``conda install --override-channels -c conda-forge pytorch-gpu==X cuda-version=Y ...``.

    ``--override-channels`` keeps every package on conda-forge: mixing it with
    the deprecated ``pytorch`` channel or ``defaults`` is a known source of
    broken environments."""
    if plan.stack:
        raise RenderError(
            "conda cannot install this stack: "
            + ", ".join(p.name for p in plan.stack)
            + " are pinned as wheels built against PyTorch's wheels, and conda installs neither wheels "
            "nor PyTorch's wheel builds (conda-forge's torch is its own build)",
            hint="use pip or uv (--manager pip / uv) inside the conda environment, or pixi, which installs them all as wheels",
        )
    build = conda_forge_build(plan)
    return join(
        [tool, "install", "--override-channels", "-c", "conda-forge", *build.specs], shell=shell or shell_for(plan)
    )


def notes(plan: Plan, *, tool: str = "conda") -> list[str]:
    """What the user should know about the conda-forge route for this plan (``tool``: the
    conda, mamba, micromamba or pixi command the user runs)."""
    build = conda_forge_build(plan)
    package = build.specs[0].split("==")[0]
    search = f"pixi search {package}" if tool == "pixi" else f"{tool} search -c conda-forge {package}"
    out = [
        f"conda-forge builds PyTorch itself and may not have {plan.base_version} yet: "
        f"'{search}' lists the versions it has",
    ]
    if build.cuda and plan.cuda and build.cuda != plan.cuda:
        out.append(
            f"conda-forge's nearest CUDA build is {build.cuda} (the wheel uses CUDA {plan.cuda}); "
            f"it runs on the same drivers, by CUDA {plan.cuda.split('.')[0]}.x minor-version compatibility"
        )
    return out
