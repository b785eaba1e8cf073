"""The rules of catalog/rules.py, table-tested on hand-made builds (pure data)."""

from __future__ import annotations

import pytest

from torchup.catalog.model import Build, Wheel, parse_arch_list
from torchup.catalog.rules import (
    FULL,
    MINOR_COMPAT,
    kernel_match,
    needs_ptx_jit,
    why_not_driver,
    why_not_gpu,
    why_not_platform,
    why_not_python,
)
from torchup.machine import Gpu


def cuda_build(arch_list: str, *, cuda: str = "12.8", arch_specific=(), os: str = "linux") -> Build:
    sass, ptx = parse_arch_list(arch_list)
    return Build(torch="2.9.0", variant="cu" + cuda.replace(".", ""), os=os, arch="x86_64",
                 cuda=cuda, sass=sass, ptx=ptx, arch_specific=tuple(arch_specific))


def nv(cc: str | None, name: str | None = None) -> Gpu:
    return Gpu(vendor="nvidia", name=name, compute_capability=cc)


# (arch list, gpu cc, runs?, how)
GPU_TABLE = [
    ("7.5;8.0;8.6;9.0", "8.6", True, ("sass", "8.6")),
    ("7.5;8.0;9.0", "8.6", True, ("sass", "8.0")),  # same major, older minor cubin runs
    ("7.5;8.0;9.0", "8.9", True, ("sass", "8.0")),
    ("8.6;9.0", "8.0", False, None),  # a newer minor cubin does not run on an older minor
    ("5.0;6.0;7.0;7.5;8.0;8.6;9.0", "6.1", True, ("sass", "6.0")),
    ("5.0;6.0;7.0;7.5;8.0;8.6;9.0", "12.0", False, None),  # no PTX: no Blackwell
    ("5.0;6.0;7.0;7.5;8.0;8.6;9.0+PTX", "12.0", True, ("ptx", "9.0")),  # PTX JITs to a newer major
    ("5.0;6.0;7.0;7.5;8.0;8.6;9.0+PTX", "10.0", True, ("ptx", "9.0")),
    ("7.5;8.0;8.6;9.0;10.0;12.0", "10.3", True, ("sass", "10.0")),  # B300 on sm_100 cubins
    ("7.5;8.0;8.6;9.0;10.0;12.0", "12.1", True, ("sass", "12.0")),  # GB10 on sm_120
    ("7.5;8.0;8.6;9.0;10.0;12.0", "11.0", False, None),  # Thor: no sm_11x, no PTX
    ("7.5;8.0;8.6;9.0;10.0;12.0", "6.1", False, None),  # Pascal below every arch
    ("7.5;8.0;8.6;9.0;10.0;12.0", "7.0", False, None),
    ("7.5;8.0;8.6;9.0;10.0;12.0+PTX", "7.0", False, None),  # PTX never runs on an older GPU
    ("3.7;5.0;6.0;7.0;7.5;8.0;8.6;9.0", "3.5", False, None),
    ("3.7;5.0;6.0;7.0;7.5;8.0;8.6;9.0", "3.7", True, ("sass", "3.7")),
    ("compute_80", "8.6", True, ("ptx", "8.0")),  # PTX only
    ("sm_75 sm_80 sm_86 sm_90 sm_100 sm_120", "12.0", True, ("sass", "12.0")),  # getArchFlags form
]


@pytest.mark.parametrize("arch_list,cc,runs,how", GPU_TABLE)
def test_gpu_rule_table(arch_list, cc, runs, how):
    build = cuda_build(arch_list)
    reason = why_not_gpu(build, nv(cc, "the GPU"))
    assert (reason is None) is runs, reason
    assert kernel_match(build, cc) == how
    if not runs:
        assert f"sm_{cc.replace('.', '')}" in reason


def test_arch_specific_kernels_do_not_count():
    build = cuda_build("8.0", arch_specific=("9.0a",))
    assert build.arch_specific == ("9.0a",)
    assert why_not_gpu(build, nv("9.0")) is not None
    # even if an "a" target sneaks into the SASS list it is ignored
    sass, ptx = parse_arch_list("8.0;sm_90a")
    assert "9.0a" in sass
    odd = Build(torch="2.9.0", variant="cu128", os="linux", arch="x86_64", cuda="12.8", sass=sass, ptx=ptx)
    assert why_not_gpu(odd, nv("9.0")) is not None
    assert why_not_gpu(odd, nv("8.0")) is None


def test_reason_words():
    reason = why_not_gpu(cuda_build("7.5;8.0;8.6;9.0;10.0;12.0"), nv("6.1", "NVIDIA GeForce GTX 1080"))
    assert "too old" in reason and "sm_61" in reason and "Pascal" in reason
    reason = why_not_gpu(cuda_build("5.0;6.0;7.0;7.5;8.0;8.6;9.0"), nv("12.0", "NVIDIA GeForce RTX 5090"))
    assert "no sm_12x kernel and no PTX" in reason


def test_gpu_known_by_name_only():
    build = cuda_build("7.5;8.0;8.6;9.0;10.0;12.0")
    assert why_not_gpu(build, nv(None, "NVIDIA GeForce RTX 4090")) is None
    assert why_not_gpu(build, nv(None, "Tesla P100-PCIE-16GB")) is not None
    assert "unknown" in why_not_gpu(build, nv(None, "Mystery Accelerator 9000"))


def test_ptx_jit_flag():
    assert needs_ptx_jit(cuda_build("8.0;9.0+PTX"), nv("12.0"))
    assert not needs_ptx_jit(cuda_build("8.0;9.0+PTX"), nv("9.0"))


def test_other_kinds_and_vendors():
    cpu = Build(torch="2.9.0", variant="cpu", os="linux", arch="x86_64")
    assert "CPU build" in why_not_gpu(cpu, nv("8.6"))
    rocm = Build(torch="2.9.0", variant="rocm6.4", os="linux", arch="x86_64", rocm="6.4", gfx=("gfx90a", "gfx942", "gfx1100"))
    assert why_not_gpu(rocm, Gpu(vendor="amd", gfx="gfx942")) is None
    assert "gfx1031" in why_not_gpu(rocm, Gpu(vendor="amd", gfx="gfx1031"))
    assert why_not_gpu(rocm, Gpu(vendor="amd", name="AMD Radeon RX 7900 XTX")) is None  # gfx by name
    assert "not a ROCm build" in why_not_gpu(cpu, Gpu(vendor="amd", gfx="gfx942"))
    xpu = Build(torch="2.9.0", variant="xpu", os="linux", arch="x86_64")
    assert why_not_gpu(xpu, Gpu(vendor="intel", name="Intel(R) Arc(TM) A770 Graphics")) is None
    assert why_not_gpu(xpu, Gpu(vendor="intel", name="Intel(R) UHD Graphics 770")) is not None
    mac = Build(torch="2.9.0", variant="cpu", os="macos", arch="aarch64")
    assert why_not_gpu(mac, Gpu(vendor="apple", name="Apple M2")) is None
    assert why_not_gpu(cpu, Gpu(vendor="apple", name="Apple M2")) is not None


# (cuda, driver, os, reason?, level)
DRIVER_TABLE = [
    ("12.8", "570.124.06", "linux", False, FULL),
    ("12.8", "570.26", "linux", False, FULL),
    ("12.8", "550.54.14", "linux", False, MINOR_COMPAT),
    ("12.8", "525.60.13", "linux", False, MINOR_COMPAT),
    ("12.8", "525.60.12", "linux", True, None),
    ("12.8", "470.82.01", "linux", True, None),
    ("12.8", "580.95.05", "linux", False, FULL),  # newer drivers run older toolkits
    ("13.0", "580.65.06", "linux", False, FULL),
    ("13.0", "580.10", "linux", False, MINOR_COMPAT),
    ("13.0", "575.57.08", "linux", True, None),
    ("13.2", "580.95.05", "linux", False, MINOR_COMPAT),
    ("13.2", "595.58.03", "linux", False, FULL),
    ("11.8", "450.80.02", "linux", False, MINOR_COMPAT),
    ("11.8", "450.80.01", "linux", True, None),
    ("12.6", "528.33", "windows", False, MINOR_COMPAT),
    ("12.6", "528.24", "windows", True, None),
    ("12.6", "561.09", "windows", False, FULL),
    ("13.0", "581.57", "windows", False, MINOR_COMPAT),  # full-support minimum unknown on Windows
    ("12.6", "560.35.03", "macos", True, None),
    ("12.6", None, "linux", True, None),
    ("12.6", "garbage", "linux", True, None),
]


@pytest.mark.parametrize("cuda,driver,os,refused,level", DRIVER_TABLE)
def test_driver_rule_table(cuda, driver, os, refused, level):
    reason, got = why_not_driver(cuda_build("8.0", cuda=cuda, os=os), driver, os)
    assert (reason is not None) is refused, reason
    assert got == level


def test_driver_rule_ignores_other_kinds():
    assert why_not_driver(Build(torch="2.9.0", variant="cpu", os="linux", arch="x86_64"), None, "linux") == (None, None)


def test_driver_reason_words():
    reason, _ = why_not_driver(cuda_build("8.0", cuda="13.0"), "550.54.14", "linux")
    assert ">= 580" in reason and "550.54.14" in reason


def wheels(plat: str, *pys: str) -> tuple[Wheel, ...]:
    return tuple(Wheel(python=p, abi=p, platform=plat) for p in pys)


def test_python_rule():
    b = Build(torch="2.9.0", variant="cu128", os="linux", arch="x86_64",
              wheels=wheels("manylinux_2_28_x86_64", "cp310", "cp311", "cp313", "cp313t"))
    assert why_not_python(b, "cp311") is None
    assert why_not_python(b, "3.11") is None
    assert why_not_python(b, "3.13t") is None
    assert why_not_python(b, "cp313t") is None
    reason = why_not_python(b, "3.12")
    assert "3.12" in reason and "3.13t" in reason
    assert why_not_python(b, "3.14t") is not None
    assert why_not_python(Build(torch="2.9.0", variant="cpu", os="linux", arch="x86_64",
                                wheels=wheels("manylinux_2_28_x86_64", "cp313")), "3.13t") is not None


# (platform tags, os, arch, libc, macos, refused?)
PLATFORM_TABLE = [
    ("manylinux_2_28_x86_64", "linux", "x86_64", "glibc 2.28", None, False),
    ("manylinux_2_28_x86_64", "linux", "x86_64", "glibc 2.35", None, False),
    ("manylinux_2_28_x86_64", "linux", "x86_64", "glibc 2.17", None, True),
    ("manylinux_2_28_x86_64", "linux", "x86_64", "musl 1.2.4", None, True),
    ("manylinux_2_28_x86_64", "linux", "x86_64", None, None, False),  # unknown libc: not held against it
    ("manylinux_2_28_x86_64", "linux", "aarch64", "glibc 2.35", None, True),
    ("manylinux_2_28_x86_64", "windows", "x86_64", None, None, True),
    ("macosx_14_0_arm64", "macos", "aarch64", None, "14.0", False),
    ("macosx_14_0_arm64", "macos", "aarch64", None, "15.2", False),
    ("macosx_14_0_arm64", "macos", "aarch64", None, "13.6.1", True),
    ("macosx_11_0_arm64", "macos", "aarch64", None, "11.0", False),
    ("macosx_11_0_arm64", "macos", "aarch64", None, "10.15", True),
    ("win_amd64", "windows", "x86_64", None, None, False),
]


@pytest.mark.parametrize("plat,os,arch,libc,macos,refused", PLATFORM_TABLE)
def test_platform_rule_table(plat, os, arch, libc, macos, refused):
    b_os, b_arch = {"manylinux_2_28_x86_64": ("linux", "x86_64"), "macosx_14_0_arm64": ("macos", "aarch64"),
                    "macosx_11_0_arm64": ("macos", "aarch64"), "win_amd64": ("windows", "x86_64")}[plat]
    b = Build(torch="2.12.0", variant="cpu", os=b_os, arch=b_arch, wheels=wheels(plat, "cp312"),
              glibc_min="2.28" if b_os == "linux" else None)
    reason = why_not_platform(b, os, arch, libc=libc, macos_version=macos)
    assert (reason is not None) is refused, reason


def test_platform_real_floor_beats_the_tag():
    # a manylinux1 tag promises glibc 2.5, but the binary was built on CentOS 7 (2.17)
    b = Build(torch="2.5.1", variant="cu124", os="linux", arch="x86_64",
              wheels=wheels("manylinux1_x86_64", "cp311"), glibc_min="2.17")
    assert "2.17" in why_not_platform(b, "linux", "x86_64", libc="glibc 2.12")
    assert why_not_platform(b, "linux", "x86_64", libc="glibc 2.17") is None


def test_platform_per_python_wheel():
    b = Build(torch="2.10.0", variant="cpu", os="macos", arch="aarch64",
              wheels=(Wheel(python="cp312", abi="cp312", platform="macosx_11_0_arm64"),
                      Wheel(python="cp313t", abi="cp313t", platform="macosx_14_0_arm64")))
    assert why_not_platform(b, "macos", "aarch64", macos_version="12.0") is None
    assert why_not_platform(b, "macos", "aarch64", macos_version="12.0", python="3.12") is None
    assert "14.0" in why_not_platform(b, "macos", "aarch64", macos_version="12.0", python="cp313t")


def test_jetson_before_thor_needs_jetpack_builds():
    arm = Build(torch="2.9.0", variant="cu126", os="linux", arch="aarch64", cuda="12.6", sass=("8.0", "9.0"))
    assert "JetPack" in why_not_gpu(arm, nv(None, "NVIDIA Jetson AGX Orin"))
    assert "JetPack" in why_not_gpu(arm, nv("8.7", "Orin"))
    thor = Build(torch="2.9.0", variant="cu130", os="linux", arch="aarch64", cuda="13.0",
                 sass=("8.0", "9.0", "10.0", "11.0", "12.0"))
    assert why_not_gpu(thor, nv(None, "NVIDIA Jetson AGX Thor")) is None
    assert why_not_gpu(arm, nv("8.0", "NVIDIA A100-SXM4-80GB")) is None  # a server GPU is fine


# The driver's own word (nvidia-smi "CUDA Version", cuDriverGetVersion: "the latest CUDA
# version supported by driver", NVIDIA Driver API reference) decides before the tables.
DRIVER_SAYS = [
    # cuda, driver, os, driver_cuda, refused, level
    ("13.0", "581.57", "windows", "13.0", False, FULL),  # the tables know no Windows full-support minimum for 13.x
    ("13.0", None, "linux", "13.0", False, FULL),  # the version unknown, the driver's word enough
    ("13.2", None, "linux", "13.0", False, MINOR_COMPAT),  # same major, newer minor
    ("12.6", "550.54.14", "linux", "12.4", False, MINOR_COMPAT),
    ("13.0", "575.57.08", "linux", "12.9", True, None),  # a newer major never runs
    ("12.6", "470.82.01", "linux", "11.4", True, None),
    ("11.8", "450.36.06", "linux", "11.0", True, None),  # 11.x compat starts at 450.80.02
    ("12.6", "560.94", "windows", "12.6", False, FULL),
]


@pytest.mark.parametrize("cuda,driver,os,driver_cuda,refused,level", DRIVER_SAYS)
def test_the_drivers_own_word_decides(cuda, driver, os, driver_cuda, refused, level):
    reason, got = why_not_driver(cuda_build("8.0", cuda=cuda, os=os), driver, os, driver_cuda=driver_cuda)
    assert (reason is not None) is refused, reason
    assert got == level


def test_a_newer_major_than_the_driver_reports_says_both():
    reason, _ = why_not_driver(cuda_build("8.0", cuda="13.0"), "575.57.08", "linux", driver_cuda="12.9")
    assert "needs an NVIDIA driver >= 580" in reason and "runs CUDA up to 12.9" in reason
