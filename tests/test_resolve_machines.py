"""resolve() over machines drawn from real situations, against the embedded catalog.

Each row states the build the facts call for and a piece of the reason at least
one rejected candidate must give.  The expected answers were worked out from
docs/research/compat-facts.md and the catalog's rows (named in each
comment), not taken from resolve's output:

- Python: 2.5 drops 3.8, 2.9 drops 3.9, 2.15 needs >= 3.11 (1a; PyPI Requires-Python);
- drivers: CUDA 13.x needs >= 580, 12.x >= 525.60.13 (528.33 on Windows) by
  minor-version compatibility; full support per toolkit in table 4b;
- arch lists (table 3): cu126 keeps 5.0..9.0 to 2.14; CUDA 13 builds start at
  7.5; cu118 is the last with sm_37 (2.7.1); sm_120 only in cu128+ builds;
- PyPI's default: Linux CUDA (cu132 for 2.15 in the catalog, cu130 before),
  Windows / macOS CPU; macOS >= 14 from 2.12, Intel Macs end at 2.2.2;
  glibc 2.28 from 2.6 (2.17 before, and the 2.6 cpu/cu118/cu124 builds on PyTorch's index).

When several builds fit, the ranking of resolve.py decides: GPUs covered, then
newest torch, then full driver support over minor-version compatibility, then
PyPI's default build, then the newer toolkit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pytest

from torchup.catalog.load import load_catalog
from torchup.machine import Gpu, Machine
from torchup.plan import Plan, Refusal, Request
from torchup.resolve import resolve

CATALOG = load_catalog(use_cache=False)


def nv(name, cc=None, **kw):
    return Gpu(vendor="nvidia", name=name, compute_capability=cc, **kw)


def linux(python="3.12", libc="glibc 2.35", arch="x86_64", **kw):
    kw.setdefault("python_bits", 64)
    return Machine(os="linux", arch=arch, python=python, libc=libc, **kw)


def windows(python="3.12", **kw):
    kw.setdefault("python_bits", 64)
    return Machine(os="windows", arch="x86_64", python=python, **kw)


def mac(python="3.12", version="14.5", arch="aarch64", **kw):
    gpus = (Gpu(vendor="apple", name="Apple M2"),) if arch == "aarch64" else ()
    return Machine(os="macos", arch=arch, python=python, python_bits=64, macos_version=version,
                   gpus=kw.pop("gpus", gpus), **kw)


@dataclass(frozen=True)
class Case:
    id: str
    machine: Machine
    torch: str | None  # expected torch base version; None: a refusal
    variant: str | None  # expected variant ("pypi" for PyPI's default build)
    rejected: str  # a substring of some rejected candidate's reason (or of the refusal's reasons)
    request: Request = field(default_factory=Request)
    warning: str | None = None  # a substring of one warning


CASES = [
    # --- no GPU --------------------------------------------------------------------------
    Case("this-machine: Linux x86_64, glibc 2.36, Python 3.11, no GPU",
         linux("3.11", "glibc 2.36"), "2.15.0", "cpu", "needs an NVIDIA GPU; none was found"),
    Case("Linux, Python 3.10, no GPU: 2.15 needs 3.11",
         linux("3.10"), "2.14.1", "cpu", "torch 2.15.0 has no wheel for Python 3.10"),
    Case("aarch64 server without GPU (Graviton): PyPI's aarch64 build is CUDA since 2.11",
         linux("3.12", "glibc 2.34", arch="aarch64"), "2.15.0", "cpu", "needs an NVIDIA GPU"),
    Case("Windows laptop without GPU: PyPI's Windows build is the CPU one",
         windows("3.12"), "2.15.0", "pypi", "needs an NVIDIA GPU"),
    # --- NVIDIA, every generation -----------------------------------------------------------
    Case("Kepler Tesla K80 (named only), driver 470: cu118 is the last with sm_37",
         linux("3.10", gpus=(nv("Tesla K80"),), nvidia_driver="470.182.03"),
         "2.7.1", "cu118", "Tesla K80 is sm_37 (Kepler): too old for this build"),
    Case("Kepler GTX 680 (sm_30): no build has sm_30 kernels, so the CPU build",
         linux("3.10", gpus=(nv("NVIDIA GeForce GTX 680", "3.0"),), nvidia_driver="470.182.03"),
         "2.14.1", "cpu", "sm_30"),
    Case("Maxwell GTX 970, driver 535: cu126 by minor-version compatibility; CUDA 13 builds have no sm_5x at all",
         linux(gpus=(nv("NVIDIA GeForce GTX 970", "5.2"),), nvidia_driver="535.183.01"),
         "2.14.1", "cu126", "is sm_52 (Maxwell): too old for this build"),
    Case("Maxwell GTX 970, driver 580: 2.15's CUDA 13 builds start at sm_75",
         linux(gpus=(nv("NVIDIA GeForce GTX 970", "5.2"),), nvidia_driver="580.65.06"),
         "2.14.1", "cu126", "too old for this build"),
    Case("Pascal GTX 1080 Ti, driver 550",
         linux(gpus=(nv("NVIDIA GeForce GTX 1080 Ti", "6.1"),), nvidia_driver="550.54.14"),
         "2.14.1", "cu126", "sm_61"),
    Case("Pascal P100, driver 510 (CUDA 11.6): only CUDA 11 builds; cu118 ends at 2.7.1",
         linux("3.10", gpus=(nv("Tesla P100-PCIE-16GB", "6.0"),), nvidia_driver="510.47.03"),
         "2.7.1", "cu118", "needs an NVIDIA driver >= 525.60.13", warning="would run torch 2.14.1"),
    Case("Volta V100, driver 580: not in CUDA 13 builds, kept in cu126",
         linux(gpus=(nv("Tesla V100-SXM2-32GB", "7.0"),), nvidia_driver="580.65.06"),
         "2.14.1", "cu126", "sm_70"),
    Case("Turing T4, driver 535: a newer driver would give 2.15",
         linux(gpus=(nv("Tesla T4", "7.5"),), nvidia_driver="535.183.01"),
         "2.14.1", "cu126", "needs an NVIDIA driver >= 580", warning="would run torch 2.15.0"),
    Case("Turing RTX 2080, driver 580.65.06: cu130 fully supported beats cu132 by minor compat",
         linux(gpus=(nv("NVIDIA GeForce RTX 2080", "7.5"),), nvidia_driver="580.65.06"),
         "2.15.0", "cu130", "needs an AMD GPU"),
    Case("Ampere A100, driver 595.58.03: PyPI's cu132 build, fully supported",
         linux(gpus=(nv("NVIDIA A100-SXM4-80GB", "8.0"),), nvidia_driver="595.58.03"),
         "2.15.0", "pypi", "needs an Intel GPU"),
    Case("Ampere RTX 3090 on Windows, driver 610: CUDA 13 by minor-version compatibility, newest toolkit",
         windows(gpus=(nv("NVIDIA GeForce RTX 3090", "8.6"),), nvidia_driver="610.47"),
         "2.15.0", "cu132", "needs an Intel GPU"),
    Case("Ada RTX 4090, driver 550: CUDA 12 only",
         linux(gpus=(nv("NVIDIA GeForce RTX 4090", "8.9"),), nvidia_driver="550.54.14"),
         "2.14.1", "cu126", "this driver is 550.54.14"),
    Case("Hopper H100, driver 590: cu130 fully supported",
         linux(gpus=(nv("NVIDIA H100 80GB HBM3", "9.0"),), nvidia_driver="590.44.01"),
         "2.15.0", "cu130", "needs an AMD GPU"),
    Case("GH200 (aarch64 + Hopper), driver 580.95.05",
         linux(arch="aarch64", gpus=(nv("NVIDIA GH200 480GB"),), nvidia_driver="580.95.05"),
         "2.15.0", "cu130", "has no wheel for Python 3.12"),  # 2.15's aarch64 rocm? no: older cpu etc.
    Case("Blackwell RTX 5090, driver 580.65.06",
         linux(gpus=(nv("NVIDIA GeForce RTX 5090", "12.0"),), nvidia_driver="580.65.06"),
         "2.15.0", "cu130", "sm_120"),
    Case("Blackwell RTX 5090, driver 570: only CUDA 12.8/12.9 builds carry sm_120",
         linux(gpus=(nv("NVIDIA GeForce RTX 5090", "12.0"),), nvidia_driver="570.133.07"),
         "2.13.0", "cu129", "no sm_12x kernel"),
    Case("Blackwell B200, driver 595.58.03",
         linux(gpus=(nv("NVIDIA B200", "10.0"),), nvidia_driver="595.58.03"),
         "2.15.0", "pypi", "needs an AMD GPU"),
    Case("Blackwell Ultra B300 (sm_103) runs sm_100 cubins",
         linux(gpus=(nv("NVIDIA B300", "10.3"),), nvidia_driver="595.58.03"),
         "2.15.0", "pypi", "needs an AMD GPU"),
    Case("GB200 (aarch64 + sm_100), driver 575: CUDA 13 needs 580; of the aarch64 CUDA 12 builds only cu128/cu129 "
         "carry sm_100, and test-infra's release/2.13 test channel has cu129 for aarch64 (2.13.0 from PyTorch's index)",
         linux(arch="aarch64", gpus=(nv("NVIDIA GB200", "10.0"),), nvidia_driver="575.57.08"),
         "2.13.0", "cu129", "needs an NVIDIA driver >= 580"),
    Case("DGX Spark GB10 (aarch64, sm_121) runs sm_120 cubins",
         linux(arch="aarch64", gpus=(nv("NVIDIA GB10", "12.1"),), nvidia_driver="580.95.05"),
         "2.15.0", "cu130", "sm_121"),
    Case("Jetson AGX Orin (L4T 36): the SBSA wheels are not for Jetson",
         linux("3.10", arch="aarch64", gpus=(nv("NVIDIA Jetson AGX Orin"),), nvidia_driver="540.3.0", jetson_l4t="36.3.0"),
         "2.14.1", "cpu", "needs NVIDIA's JetPack builds"),
    Case("Jetson Thor (sm_110): the cu130 aarch64 wheels carry sm_110",
         linux(arch="aarch64", gpus=(nv("NVIDIA Thor", "11.0"),), nvidia_driver="580.65.06", jetson_l4t="38.2.0"),
         "2.15.0", "cu130", "no sm_11x kernel"),
    # --- AMD and Intel -----------------------------------------------------------------------
    Case("AMD Instinct MI300X (gfx942)",
         linux(gpus=(Gpu(vendor="amd", name="AMD Instinct MI300X", gfx="gfx942"),)),
         "2.15.0", "rocm7.14", "needs an NVIDIA GPU"),
    Case("Radeon RX 7900 XTX (gfx1100)",
         linux(gpus=(Gpu(vendor="amd", name="Radeon RX 7900 XTX", gfx="gfx1100"),)),
         "2.15.0", "rocm7.14", "needs an NVIDIA GPU"),
    Case("Radeon RX 6700 XT (gfx1031): no ROCm build has it, CPU",
         linux(gpus=(Gpu(vendor="amd", name="Radeon RX 6700 XT", gfx="gfx1031"),)),
         "2.15.0", "cpu", "this GPU is gfx1031"),
    Case("Intel Arc A770 on Linux: the XPU build",
         linux(gpus=(Gpu(vendor="intel", name="Intel Arc A770 Graphics"),)),
         "2.15.0", "xpu", "needs an NVIDIA GPU"),
    Case("Intel UHD 770 iGPU only: not an XPU target, CPU",
         linux(gpus=(Gpu(vendor="intel", name="Intel(R) UHD Graphics 770"),)),
         "2.15.0", "cpu", "not among the Intel GPUs"),
    Case("laptop, Python 3.10: RTX 4060 Laptop + Core Ultra iGPU (an XPU target), driver 580.65.06: the discrete "
         "GPU wins; on Windows only CUDA 12.6 has a known full-support driver floor (560.94), 13.x runs by minor compat",
         windows("3.10", gpus=(Gpu(vendor="intel", name="Intel(R) Arc(TM) Graphics"), nv("NVIDIA GeForce RTX 4060 Laptop GPU", "8.9")),
                 nvidia_driver="580.65.06"),
         "2.14.1", "cu126", "torch 2.15.0 has no wheel for Python 3.10"),
    Case("laptop, Python 3.12: RTX 4060 Laptop + Core Ultra iGPU, driver 580.65.06: CUDA 13.2 (minor compat) still "
         "beats the XPU build, because the discrete GPU counts first",
         windows(gpus=(Gpu(vendor="intel", name="Intel(R) Arc(TM) Graphics"), nv("NVIDIA GeForce RTX 4060 Laptop GPU", "8.9")),
                 nvidia_driver="580.65.06"),
         "2.15.0", "cu132", "torch 2.1.2 has no wheel for Python 3.12 on windows x86_64"),
    Case("Core Ultra iGPU alone on Windows: the XPU build",
         windows(gpus=(Gpu(vendor="intel", name="Intel(R) Arc(TM) Graphics"),)),
         "2.15.0", "xpu", "needs an NVIDIA GPU"),
    # --- Windows, WSL2, macOS ---------------------------------------------------------------
    Case("Windows on Arm (Snapdragon): no release wheel for windows aarch64",
         Machine(os="windows", arch="aarch64", python="3.12", python_bits=64), None, None,
         "no torch release torchup knows has wheels for windows aarch64"),
    Case("IBM Z (s390x): PyTorch builds s390x wheels only in its nightly workflow",
         linux(arch="s390x"), None, None, "no torch release torchup knows has wheels for linux s390x"),
    Case("POWER (ppc64le): PyTorch builds none",
         linux(arch="ppc64le"), None, None, "PyTorch publishes no wheels for linux ppc64le"),
    Case("Windows RTX 3060, driver 546: CUDA 13 needs 580",
         windows("3.11", gpus=(nv("NVIDIA GeForce RTX 3060", "8.6"),), nvidia_driver="546.33"),
         "2.14.1", "cu126", "needs an NVIDIA driver >= 580"),
    Case("WSL2 RTX 4070, Windows driver 555.99",
         linux(gpus=(nv("NVIDIA GeForce RTX 4070", "8.9"),), nvidia_driver="555.99", wsl=2),
         "2.14.1", "cu126", "needs an NVIDIA driver >= 580"),
    Case("macOS 14.5 on Apple silicon: PyPI's build with MPS",
         mac("3.12", "14.5"), "2.15.0", "pypi", "torch 2.1.2 has no wheel for Python 3.12 on macos aarch64"),
    Case("macOS 13.6 on Apple silicon: 2.12+ needs macOS 14",
         mac("3.12", "13.6"), "2.11.0", "pypi", "needs macOS >= 14.0"),
    Case("Intel Mac, Python 3.10: the last Intel-Mac wheel is 2.2.2",
         mac("3.10", "13.6", arch="x86_64"), "2.2.2", "pypi", "PyTorch publishes none for it after that"),
    Case("Apple silicon with an x86_64 Python under Rosetta",
         mac("3.11", "14.5", apple_silicon=True, rosetta=True), "2.2.2", "pypi", "last release with a macos x86_64 build",
         warning="Rosetta"),
    # --- Python versions -----------------------------------------------------------------------
    Case("Python 3.8: 2.4.1 is the last with cp38",
         linux("3.8", "glibc 2.31"), "2.4.1", "cpu", "torch 2.5.1 has no wheel for Python 3.8"),
    Case("Python 3.9 with an RTX 3090: 2.8.0 is the last with cp39; PyPI's cu128 build",
         linux("3.9", gpus=(nv("NVIDIA GeForce RTX 3090", "8.6"),), nvidia_driver="550.54.14"),
         "2.8.0", "pypi", "has no wheel for Python 3.9"),
    Case("Python 3.15 without GPU: 2.15.0 has cp315",
         linux("3.15"), "2.15.0", "cpu", "torch 2.14.1 has no wheel for Python 3.15"),
    Case("free-threaded Python 3.14t",
         linux("3.14", free_threaded=True), "2.15.0", "cpu", "needs an NVIDIA GPU"),
    Case("free-threaded Python 3.13t: 2.12.0 still shipped cp313t, 2.12.1 dropped it (third-party matrix)",
         linux("3.13", free_threaded=True), "2.12.0", "cpu", "torch 2.12.1 has no wheel for Python 3.13t"),
    # --- libc ----------------------------------------------------------------------------------------
    Case("CentOS 7 (glibc 2.17), no GPU: 2.6's CPU build was still made on manylinux2014 (pytorch PR #141565, "
         "test-infra release/2.6), manylinux_2_28 from 2.7",
         linux("3.10", "glibc 2.17"), "2.6.0", "cpu", "needs glibc >= 2.28"),
    Case("CentOS 7 with a V100, driver 535: 2.6's cu118/cu124 builds still need only glibc 2.17",
         linux("3.10", "glibc 2.17", gpus=(nv("Tesla V100-PCIE-16GB", "7.0"),), nvidia_driver="535.183.01"),
         "2.6.0", "cu118", "needs glibc >= 2.28"),
    Case("RHEL 8 (glibc 2.28), no GPU",
         linux("3.12", "glibc 2.28"), "2.15.0", "cpu", "needs an NVIDIA GPU"),
    Case("Alpine (musl): every Linux wheel is manylinux",
         linux("3.12", "musl 1.2.4"), None, None, "this system uses musl libc"),
    Case("32-bit Python on 64-bit Windows",
         windows("3.12", python_bits=32), None, None, "no wheels for 32-bit Python"),
    Case("PyPy 3.10: torch wheels are CPython-only",
         linux("3.10", python_implementation="pypy"), None, None, "use a CPython interpreter"),
    Case("Intel Mac with Python 3.13: no wheel at all",
         mac("3.13", "14.5", arch="x86_64"), None, None, "no wheel for Python 3.13"),
    # --- several GPUs --------------------------------------------------------------------------------
    Case("RTX 3090 + GTX 1080, driver 580: only cu126 covers both",
         linux(gpus=(nv("NVIDIA GeForce RTX 3090", "8.6"), nv("NVIDIA GeForce GTX 1080", "6.1")),
               nvidia_driver="580.65.06"),
         "2.14.1", "cu126", "sm_61"),
    Case("Tesla K80 + RTX 3090, driver 470: cu118 has sm_37 and sm_86",
         linux("3.10", gpus=(nv("Tesla K80", "3.7"), nv("NVIDIA GeForce RTX 3090", "8.6")), nvidia_driver="470.182.03"),
         "2.7.1", "cu118", "sm_37"),
    Case("A100 + RTX 5090, driver 580.65.06: cu130 covers both",
         linux(gpus=(nv("NVIDIA A100-PCIE-40GB", "8.0"), nv("NVIDIA GeForce RTX 5090", "12.0")), nvidia_driver="580.65.06"),
         "2.15.0", "cu130", "sm_120"),
    Case("GTX 1080 + RTX 5090, driver 580: no wheel has both; the newest covering one, the other left out",
         linux(gpus=(nv("NVIDIA GeForce GTX 1080", "6.1"), nv("NVIDIA GeForce RTX 5090", "12.0")), nvidia_driver="580.65.06"),
         "2.15.0", "cu130", "sm_61", warning="is left out"),
    Case("RTX 4090 seen on the PCI bus, no driver loaded: the CPU build now, and which driver to install",
         linux(gpus=(nv("NVIDIA GeForce RTX 4090", "8.9", driver_loaded=False),)),
         "2.15.0", "cpu", "no driver was found", warning="install NVIDIA driver >= 580"),
    Case("Radeon RX 7900 XTX on the PCI bus only (amdgpu not loaded): the CPU build",
         linux(gpus=(Gpu(vendor="amd", name="Radeon RX 7900 XTX", gfx="gfx1100", driver_loaded=False),)),
         "2.15.0", "cpu", "no driver is loaded for it"),
    # --- constraints against the machine ------------------------------------------------------------
    Case("--torch 2.15 on Python 3.10",
         linux("3.10"), None, None, "torch 2.15.0 has no wheel for Python 3.10 on linux x86_64 (it has 3.11, 3.12",
         request=Request(torch="2.15")),
    Case("--cuda 12.6 on an RTX 5090: no cu126 build has sm_120",
         linux(gpus=(nv("NVIDIA GeForce RTX 5090", "12.0"),), nvidia_driver="580.65.06"),
         None, None, "sm_120", request=Request(cuda="12.6")),
    Case("--variant cu126 without a GPU (an image built on a CI host): the newest cu126 build, with a note",
         linux(), "2.14.1", "cu126", "--variant cu126 was asked for", request=Request(variant="cu126"),
         warning="no NVIDIA GPU was found here"),
    Case("--cuda 13.0 without a GPU: the newest cu130 build, and the driver it needs where it runs",
         linux(), "2.15.0", "cu130", "--cuda 13.0 was asked for", request=Request(cuda="13.0"),
         warning="an NVIDIA driver >= 580"),
    Case("--cpu on an H100",
         linux(gpus=(nv("NVIDIA H100 80GB HBM3", "9.0"),), nvidia_driver="590.44.01"),
         "2.15.0", "cpu", "--cpu was asked for", request=Request(cpu=True)),
    Case("--torch '<2.10' on an RTX 4090, driver 580.65.06: 2.9.1 from PyPI (cu128)",
         linux(gpus=(nv("NVIDIA GeForce RTX 4090", "8.9"),), nvidia_driver="580.65.06"),
         "2.9.1", "pypi", "does not match --torch <2.10", request=Request(torch="<2.10")),
    Case("--variant pypi on Linux without GPU: PyPI's Linux build is CUDA, given because it was asked for",
         linux(), "2.15.0", "pypi", "this build is not PyPI's default", request=Request(variant="pypi"),
         warning="asked for by name"),
    Case("--cpu without a GPU stays the CPU build (no note)",
         linux(), "2.15.0", "cpu", "--cpu was asked for", request=Request(cpu=True)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_machine(case: Case):
    result = resolve(case.machine, case.request, CATALOG, today=date.fromisoformat(CATALOG.data_date))
    if case.torch is None:
        assert isinstance(result, Refusal), f"expected no build, got {result.torch} {result.variant}"
        text = " | ".join(result.reasons)
        assert case.rejected in text, text
        assert result.considered or result.code == "unsupported-platform"
        return
    assert isinstance(result, Plan), f"refused: {result.reasons}"
    assert (result.base_version, result.variant) == (case.torch, case.variant), result.reasons
    # rejections: of whole builds, of one GPU by a kept build (its note), of newer releases (the reasons)
    reasons = [c.rejected for c in result.considered if c.rejected]
    reasons += [c.note for c in result.considered if c.note] + list(result.reasons)
    assert any(case.rejected in r for r in reasons), "\n".join(sorted(set(reasons))[:40])
    if case.warning:
        assert any(case.warning in w for w in result.warnings), result.warnings


def test_aarch64_and_windows_cuda_builds_name_pytorchs_index():
    """PyPI's Windows wheel is CPU-only and its aarch64 wheels were CPU-only before 2.11: a CUDA build for those
    platforms comes from download.pytorch.org/whl/<variant>, with the local label in the pin."""
    today = date.fromisoformat(CATALOG.data_date)
    gh200 = linux(arch="aarch64", gpus=(nv("NVIDIA GH200 480GB"),), nvidia_driver="580.95.05")
    rtx = windows(gpus=(nv("NVIDIA GeForce RTX 3090", "8.6"),), nvidia_driver="610.47")
    gb200_old_driver = linux(arch="aarch64", gpus=(nv("NVIDIA GB200", "10.0"),), nvidia_driver="575.57.08")
    for machine, torch, url in [
        (gh200, "2.15.0+cu130", "https://download.pytorch.org/whl/cu130"),
        (rtx, "2.15.0+cu132", "https://download.pytorch.org/whl/cu132"),
        (gb200_old_driver, "2.13.0+cu129", "https://download.pytorch.org/whl/cu129"),
    ]:
        plan = resolve(machine, Request(), CATALOG, today=today)
        assert isinstance(plan, Plan), plan.reasons
        assert (plan.torch, plan.index_url) == (torch, url), (machine.os, machine.arch)
    # the aarch64 cu129 build's existence is confirmed (test-infra release/2.13); only its arch list is not
    plan = resolve(gb200_old_driver, Request(), CATALOG, today=today)
    said = [w for w in plan.warnings if "no primary source confirmed" in w]
    assert said and "its GPU architecture list" in said[0] and "that the build exists" not in said[0]


def test_a_platform_without_release_builds_is_refused_with_what_the_sources_say():
    arm = resolve(Machine(os="windows", arch="aarch64", python="3.12", python_bits=64), Request(), CATALOG)
    assert isinstance(arm, Refusal) and arm.code == "unsupported-platform"
    text = " | ".join(arm.reasons)
    assert "nightly index" in text and "x64 Python runs the win_amd64 wheels" in text
    assert "generated-windows-arm64-binary-wheel-nightly.yml" in text  # the source, in whole words
    power = resolve(linux(arch="ppc64le"), Request(), CATALOG)
    assert isinstance(power, Refusal) and "PyTorch builds no ppc64le wheels" in " | ".join(power.reasons)
    # a platform the catalog says nothing about still gets the plain refusal
    risc = resolve(linux(arch="riscv64"), Request(), CATALOG)
    assert isinstance(risc, Refusal) and risc.reasons == ("PyTorch publishes no wheels for linux riscv64",)


def test_there_are_at_least_forty_machines():
    assert len({c.id for c in CASES}) >= 40


def test_a_machine_file_without_a_driver_is_unknown_not_absent():
    """docs/machine-file.md: a missing nvidia_driver means "unknown". The plan is the best
    build for the GPU, with the driver it needs stated, never silently the CPU build."""
    machine = linux(gpus=(nv("NVIDIA GeForce RTX 4090", "8.9"),))
    plan = resolve(machine, Request(), CATALOG, today=date.fromisoformat(CATALOG.data_date))
    assert isinstance(plan, Plan) and plan.variant != "cpu" and plan.cuda, plan.reasons
    assert any("the NVIDIA driver is not known" in w and "driver >= " in w for w in plan.warnings), plan.warnings
    # the same GPU seen on the PCI bus with no driver bound is absent: the CPU build, and which driver to install
    absent = linux(gpus=(nv("NVIDIA GeForce RTX 4090", "8.9", driver_loaded=False),))
    assert resolve(absent, Request(), CATALOG).variant == "cpu"


def test_the_driver_reporting_cuda_13_runs_cu130_on_windows():
    """No Windows full-support minimum for CUDA 13 is in NVIDIA's table (no driver is bundled
    with the Windows toolkit from 13.0): the driver's own "CUDA Version" decides."""
    machine = windows(gpus=(nv("NVIDIA GeForce RTX 4090", "8.9"),), nvidia_driver="581.57", cuda_driver_max="13.0")
    plan = resolve(machine, Request(variant="cu130"), CATALOG)
    assert isinstance(plan, Plan) and plan.variant == "cu130", plan
    assert any("fully supports CUDA" in r and "reports CUDA up to 13.0" in r for r in plan.reasons), plan.reasons
    old = windows(gpus=(nv("NVIDIA GeForce RTX 4090", "8.9"),), nvidia_driver="566.36", cuda_driver_max="12.7")
    refused = resolve(old, Request(variant="cu130"), CATALOG)
    assert not isinstance(refused, Plan)


def amd(name, gfx):
    return Gpu(vendor="amd", name=name, gfx=gfx)


def test_an_amd_card_left_out_of_the_builds_names_the_community_override():
    """gfx1031 (RX 6700 XT) is in no ROCm build; the ROCm community runs it as gfx1030 with
    HSA_OVERRIDE_GFX_VERSION=10.3.0 (research/probing.md 4.4). Without the override: the CPU
    build, the reason naming the override as unofficial. With it: the ROCm build, and a warning."""
    card = amd("AMD Radeon RX 6700 XT", "gfx1031")
    plain = resolve(linux(gpus=(card,), rocm_version="7.2.0"), Request(), CATALOG)
    assert isinstance(plain, Plan) and plain.variant == "cpu", plain
    said = " | ".join(list(plain.reasons) + [c.rejected or "" for c in plain.considered])
    assert "this GPU is gfx1031" in said and "unofficially, HSA_OVERRIDE_GFX_VERSION=10.3.0" in said, said
    overridden = resolve(linux(gpus=(card,), rocm_version="7.2.0", hsa_override_gfx="10.3.0"), Request(), CATALOG)
    assert isinstance(overridden, Plan) and overridden.rocm, overridden
    assert any("unofficial override" in w and "gfx1030" in w and "gfx1031" in w for w in overridden.warnings)
    # an override to a target no build has changes nothing but the words
    odd = resolve(linux(gpus=(card,), rocm_version="7.2.0", hsa_override_gfx="10.1.1"), Request(), CATALOG)
    assert odd.variant == "cpu"


def test_override_values_format_like_rocm():
    from torchup.catalog.hardware import community_gfx_override, gfx_of_override

    assert gfx_of_override("10.3.0") == "gfx1030" and gfx_of_override("9.0.10") == "gfx90a"
    assert gfx_of_override("11.0.0") == "gfx1100" and gfx_of_override("64.0.0") is None
    assert gfx_of_override("10.3") is None
    assert community_gfx_override("gfx1032") == "10.3.0" and community_gfx_override("gfx1102") == "11.0.0"
    assert community_gfx_override("gfx942") is None
