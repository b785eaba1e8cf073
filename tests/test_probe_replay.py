"""Whole machines replayed: a system root (``tests/fixtures/machines/<name>/root``)
plus fake tools first on PATH that print recorded output (sources in
``tests/fixtures/SOURCES.md``).  Each test runs the real ``probe_machine`` and
asserts the facts of that machine, the origin of each and the notes."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, PROBE_FIXTURES
from torchup.errors import InputError
from torchup.machine import Gpu, load_machine
from torchup.probe import probe_machine
from torchup.runner import Runner
from torchup.system import System

MACHINES = FIXTURES / "machines"
MASKED_UUID = "GPU-00000000-0000-0000-0000-000000000000"


def machine_env(name: str, tmp_path: Path, **extra: str) -> dict:
    bin_dir = MACHINES / name / "bin"
    empty = tmp_path / "empty-bin"
    empty.mkdir(exist_ok=True)
    env = {
        "PATH": str(bin_dir) if bin_dir.is_dir() else str(empty),
        "TORCHUP_PROBE_FIXTURES": str(PROBE_FIXTURES),
        "HOME": str(tmp_path),
    }
    env.update(extra)
    return env


def replay(name: str, tmp_path: Path, *, timeout: float = 10.0, **extra: str):
    env = machine_env(name, tmp_path, **extra)
    system = System(root=str(MACHINES / name / "root"), env=env, runner=Runner(env))
    return probe_machine(system, python=sys.executable, timeout=timeout)


def test_linux_rtx4090_driver550(tmp_path):
    m = replay("rtx4090-driver550", tmp_path)
    assert m.os == "linux" and m.wsl is False
    assert m.nvidia_driver == "550.107.02"
    assert m.sources["nvidia_driver"] == "/sys/module/nvidia/version"
    assert m.cuda_driver_max == "12.4"
    assert m.sources["cuda_driver_max"] == "nvidia-smi (table header): CUDA Version"  # -q not recorded: fallback
    assert m.gpus == (
        Gpu(vendor="nvidia", name="NVIDIA GeForce RTX 4090 D", compute_capability="8.9", memory_mib=24564,
            pci_id="10de:2685", uuid=MASKED_UUID, driver_loaded=True),
    )
    assert m.sources["gpus[0]"].startswith("nvidia-smi --query-gpu=index,uuid,pci.bus_id,driver_version,compute_cap")
    assert m.notes == ()


def test_wsl2_rtx4070_uses_wsl_nvidia_smi_and_windows_driver(tmp_path):
    m = replay("wsl2-rtx4070", tmp_path)
    assert (m.wsl, m.sources["wsl"]) == (2, "/dev/dxg")
    # the Windows driver number, not the Linux-side NVIDIA-SMI build 555.52.01
    assert m.nvidia_driver == "555.99"
    assert m.sources["nvidia_driver"].startswith("nvidia-smi --query-gpu")
    assert m.cuda_driver_max == "12.5"
    assert m.gpus == (
        Gpu(vendor="nvidia", name="NVIDIA GeForce RTX 4070", compute_capability="8.9", memory_mib=12282,
            uuid=MASKED_UUID, driver_loaded=True),
    )
    assert m.notes == ()


def test_h100_mig(tmp_path):
    m = replay("h100-mig", tmp_path)
    assert m.nvidia_driver == "590.48.01"
    assert (m.cuda_driver_max, m.sources["cuda_driver_max"]) == ("13.1", "nvidia-smi -q: CUDA Version")
    assert m.gpus == (
        Gpu(vendor="nvidia", name="NVIDIA H100 80GB HBM3", compute_capability="9.0", memory_mib=81559,
            pci_id="10de:2330", uuid=MASKED_UUID, driver_loaded=True, mig=True),
    )
    assert m.notes == ()


def test_r470_rejects_compute_cap_and_the_query_is_retried(tmp_path):
    m = replay("a10g-driver470-k8s", tmp_path)
    assert m.nvidia_driver == "470.256.02"
    assert m.cuda_driver_max == "11.4"
    [gpu] = m.gpus
    # nvidia-smi could not say; the catalog knows the model (NVIDIA's CUDA GPU list: A10G is 8.6)
    assert (gpu.name, gpu.compute_capability, gpu.memory_mib) == ("NVIDIA A10G", "8.6", 22731)
    assert m.sources["gpus[0]"] == ("nvidia-smi --query-gpu=index,uuid,pci.bus_id,driver_version,memory.total,name"
                                    " + compute capability from catalog GPU model table (NV-CUDA-GPUS)")
    assert m.notes == ()


def test_gpu_without_driver_is_still_known(tmp_path):
    m = replay("no-driver-2x-rtx3090", tmp_path)
    assert m.nvidia_driver is None and m.cuda_driver_max is None
    # the two HDMI audio functions (class 0x0403, same vendor) are not GPUs
    assert m.gpus == (Gpu(vendor="nvidia", name="GeForce RTX 3090", compute_capability="8.6", pci_id="10de:2204",
                          driver_loaded=False),) * 2
    assert m.sources["gpus[1]"] == "/sys/bus/pci/devices/0000:0a:00.0 + catalog pci.ids table"
    assert [n.id for n in m.notes] == ["driver-not-loaded", "driver-not-loaded"]
    assert "0000:05:00.0" in m.notes[0].message


def test_hung_nvidia_smi_returns_within_its_timeout(tmp_path):
    start = time.monotonic()
    m = replay("hung-nvidia-smi", tmp_path, timeout=1.0)
    elapsed = time.monotonic() - start
    assert elapsed < 5.0, elapsed
    assert (m.nvidia_driver, m.sources["nvidia_driver"]) == ("580.95.05", "/proc/driver/nvidia/version")
    assert [n.id for n in m.notes] == ["driver-unresponsive"]
    assert "1 s" in m.notes[0].message
    assert m.gpus == ()


def test_driver_library_mismatch(tmp_path):
    m = replay("driver-mismatch-580", tmp_path)
    assert m.nvidia_driver == "580.173.02"
    assert (m.nvidia_driver_userspace, m.sources["nvidia_driver_userspace"]) == ("580.178", "nvidia-smi (NVML library version)")
    [note] = m.notes
    assert note.id == "driver-library-mismatch"
    assert "580.173.02" in note.message and "580.178" in note.message and "reboot" in note.message


def test_amd_mi300x(tmp_path):
    m = replay("amd-mi300x", tmp_path)
    assert m.gpus == (Gpu(vendor="amd", name="Instinct MI300X", gfx="gfx942", pci_id="1002:74a1", driver_loaded=True),)
    # gfx from KFD, the name from pci.ids ("Aqua Vanjaram [Instinct MI300X]")
    assert m.sources["gpus[0]"] == "/sys/bus/pci/devices/0000:0c:00.0 + /sys/class/kfd/kfd/topology + catalog pci.ids table"
    assert (m.rocm_version, m.sources["rocm_version"]) == ("6.0.0", "/opt/rocm/.info/version")
    assert m.hsa_override_gfx is None and m.notes == ()


def test_amd_hsa_override_is_reported_beside_the_real_target(tmp_path):
    m = replay("amd-mi300x", tmp_path, HSA_OVERRIDE_GFX_VERSION="9.4.2")
    assert (m.hsa_override_gfx, m.sources["hsa_override_gfx"]) == ("9.4.2", "env:HSA_OVERRIDE_GFX_VERSION")
    assert m.gpus[0].gfx == "gfx942"
    bad = replay("amd-mi300x", tmp_path, HSA_OVERRIDE_GFX_VERSION="gfx942")
    assert bad.hsa_override_gfx is None and [n.id for n in bad.notes] == ["hsa-override-invalid"]


def test_amd_without_kfd_asks_rocminfo(tmp_path):
    m = replay("amd-rx7900xtx-rocminfo", tmp_path)
    # the CPU agent of rocminfo is not a GPU; the GPU agent joins the PCI device by chip id 0x744c
    assert m.gpus == (Gpu(vendor="amd", name="Radeon RX 7900 XTX", gfx="gfx1100", pci_id="1002:744c", driver_loaded=True),)
    assert m.sources["gpus[0]"] == "/sys/bus/pci/devices/0000:09:00.0 + rocminfo"
    assert m.notes == () and m.rocm_version is None


def test_intel_arc_with_level_zero(tmp_path):
    m = replay("intel-arc-a750", tmp_path)
    assert m.gpus == (Gpu(vendor="intel", name="Intel(R) Arc(TM) A750 Graphics", pci_id="8086:56a1", driver_loaded=True),)
    assert m.sources["gpus[0]"] == "/sys/bus/pci/devices/0000:03:00.0 + sycl-ls"
    assert m.notes == ()


def test_intel_arc_without_level_zero(tmp_path):
    m = replay("intel-arc-a770", tmp_path)
    assert m.gpus == (Gpu(vendor="intel", name="Arc A770", pci_id="8086:56a0", driver_loaded=True),)
    assert [n.id for n in m.notes] == ["xpu-driver-missing"]


def test_no_gpu(tmp_path):
    m = replay("no-gpu", tmp_path)
    assert m.gpus == () and m.notes == ()
    assert m.nvidia_driver is None and m.cuda_driver_max is None and m.rocm_version is None
    assert m.wsl is False and m.container is None
    assert m.managers == ()  # nothing on this PATH


def test_driver_override(tmp_path):
    m = replay("no-gpu", tmp_path, TORCHUP_CUDA_DRIVER="560.35.03")
    assert (m.nvidia_driver, m.sources["nvidia_driver"]) == ("560.35.03", "override:TORCHUP_CUDA_DRIVER")
    m = replay("rtx4090-driver550", tmp_path, UV_CUDA_DRIVER_VERSION="535.104.05")
    assert (m.nvidia_driver, m.sources["nvidia_driver"]) == ("535.104.05", "override:UV_CUDA_DRIVER_VERSION")
    with pytest.raises(InputError, match="TORCHUP_CUDA_DRIVER"):
        replay("no-gpu", tmp_path, TORCHUP_CUDA_DRIVER="latest")


def test_this_machine(tmp_path):
    """The real host, through the real root: facts checked against what this
    test process can see for itself."""
    import platform
    import sysconfig

    from torchup.machine import normalise_arch
    from torchup.system import system_from_env

    m = probe_machine(system_from_env(), python=sys.executable)
    assert m.os == {"linux": "linux", "darwin": "macos", "win32": "windows"}[sys.platform]
    assert m.arch == normalise_arch(platform.machine())
    assert m.python == "%d.%d.%d" % sys.version_info[:3]
    assert m.python_env in (("venv", "uv") if sys.prefix != sys.base_prefix else ("system", "conda", "pixi"))
    if sys.prefix != sys.base_prefix:
        assert m.externally_managed is False  # PEP 668 never applies inside a venv
    assert m.free_threaded is bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    if sys.platform.startswith("linux"):
        assert m.libc == os.confstr("CS_GNU_LIBC_VERSION")
        if os.path.exists("/.dockerenv") and not os.path.exists("/run/.containerenv") and "KUBERNETES_SERVICE_HOST" not in os.environ:
            assert (m.container, m.sources["container"]) == ("docker", "/.dockerenv")
    if not os.path.exists("/sys/module/nvidia") and not os.path.exists("/proc/driver/nvidia"):
        assert m.nvidia_driver is None


def test_kubernetes_hint(tmp_path):
    m = replay("no-gpu", tmp_path, KUBERNETES_SERVICE_HOST="10.0.0.1")
    assert (m.container, m.sources["container"]) == ("kubernetes", "env:KUBERNETES_SERVICE_HOST")


# --- end to end, through the CLI ------------------------------------------------------


def run_cli(name: str, tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    env = machine_env(name, tmp_path, **extra)
    env["TORCHUP_SYSROOT"] = str(MACHINES / name / "root")
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "torchup", "probe", "--python", sys.executable, *args],
        capture_output=True, text=True, env=env, timeout=60,
    )


def test_cli_json_is_a_valid_machine_file(tmp_path):
    r = run_cli("h100-mig", tmp_path, "--json")
    assert r.returncode == 0, r.stderr
    machine, warnings = load_machine(r.stdout)
    assert warnings == []
    assert machine.gpus[0].mig is True and machine.nvidia_driver == "590.48.01"
    assert json.loads(r.stdout)["sources"]["cuda_driver_max"] == "nvidia-smi -q: CUDA Version"


def test_cli_summary_with_sources(tmp_path):
    r = run_cli("no-driver-2x-rtx3090", tmp_path, "-v")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "gpu 0:" in out and "gpu 1:" in out and "10de:2204" in out and "NO DRIVER" in out
    assert "from /sys/bus/pci/devices/0000:05:00.0" in out
    assert "[driver-not-loaded]" in out


def test_cli_hung_tool_is_a_note_not_a_hang(tmp_path):
    start = time.monotonic()
    r = run_cli("hung-nvidia-smi", tmp_path, "--timeout", "1")
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - start < 10
    assert "[driver-unresponsive]" in r.stdout and "580.95.05" in r.stdout


def test_cli_bad_override_is_a_clean_error(tmp_path):
    r = run_cli("no-gpu", tmp_path, TORCHUP_CUDA_DRIVER="latest")
    assert r.returncode == 2
    assert "TORCHUP_CUDA_DRIVER='latest' is not an NVIDIA driver version" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_missing_python_is_a_clean_error(tmp_path):
    env = machine_env("no-gpu", tmp_path)
    r = subprocess.run([sys.executable, "-m", "torchup", "probe", "--python", str(tmp_path / "nope")],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and "does not exist" in r.stderr and "Traceback" not in r.stderr


def test_cli_broken_target_python_is_a_clean_error(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'not a python'\nexit 1\n")
    fake.chmod(0o755)
    r = run_cli("no-gpu", tmp_path, "--python", str(fake))
    # the last --python wins in argparse
    assert r.returncode == 4, r.stderr
    assert "cannot learn about the target Python" in r.stderr and "Traceback" not in r.stderr


def test_macos_rosetta_python_on_apple_silicon(tmp_path):
    env = machine_env("macos-rosetta", tmp_path)
    system = System(root=str(MACHINES / "macos-rosetta" / "root"), env=env, runner=Runner(env))
    m = probe_machine(system, timeout=10.0)  # python3 found on PATH: the fake
    assert (m.os, m.arch, m.python) == ("macos", "x86_64", "3.9.6")
    # the 10.16 the old-SDK interpreter sees is corrected
    assert (m.macos_version, m.sources["macos_version"]) == ("14.4.1", "sw_vers -productVersion (SYSTEM_VERSION_COMPAT=0)")
    assert (m.apple_silicon, m.rosetta) == (True, True)
    assert [n.id for n in m.notes] == ["rosetta-x86-python"]
    assert m.gpus == (Gpu(vendor="apple", name="Apple silicon GPU (MPS)", driver_loaded=True),)
    assert m.wsl is None and m.libc is None


def test_cuda_version_not_available(tmp_path):
    m = replay("rtx5070-cuda-na", tmp_path)
    # no kernel-module files under the FreeBSD Linux-compat layer: the driver comes from nvidia-smi
    assert (m.nvidia_driver, m.cuda_driver_max) == ("575.64.03", None)
    assert m.sources["nvidia_driver"].startswith("nvidia-smi --query-gpu")
    assert m.gpus == (Gpu(vendor="nvidia", name="NVIDIA GeForce RTX 5070", compute_capability="12.0", memory_mib=12227,
                          uuid=MASKED_UUID, driver_loaded=True),)
    [note] = m.notes
    assert note.id == "driver-cuda-unusable" and "'CUDA Version: N/A'" in note.message


def test_wsl2_nvidia_driver_not_loaded(tmp_path):
    m = replay("wsl2-driver-not-loaded", tmp_path)
    assert m.wsl == 2 and m.nvidia_driver is None and m.gpus == ()
    assert [n.id for n in m.notes] == ["no-nvidia-driver"]
    assert "on Windows" in m.notes[0].message


def test_wsl2_without_any_nvidia_tooling(tmp_path):
    m = replay("wsl2-no-nvidia", tmp_path)
    assert (m.wsl, m.sources["wsl"]) == (2, "/dev/dxg")
    assert m.gpus == () and [n.id for n in m.notes] == ["no-nvidia-driver"]


def test_garbage_from_nvidia_smi_is_a_note(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'Segmentation fault in libfoo'\n")  # exit 0, nothing parseable
    fake.chmod(0o755)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    system = System(root=str(MACHINES / "h100-mig" / "root"), env=env, runner=Runner(env))
    m = probe_machine(system, python=sys.executable, timeout=10)
    assert m.nvidia_driver == "590.48.01"  # the kernel module file still answers
    assert [(g.pci_id, g.driver_loaded) for g in m.gpus] == [("10de:2330", True)]  # known from the PCI bus
    [note] = m.notes
    assert note.id == "nvidia-smi-failed" and "unreadable answer: Segmentation fault in libfoo" in note.message


@pytest.mark.parametrize("name", sorted(p.name for p in MACHINES.iterdir() if (p / "root").is_dir()))
def test_every_probed_machine_is_a_loadable_machine_file(name, tmp_path):
    # what `torchup probe --json` writes must be what `--machine FILE` reads back, unchanged
    from torchup.machine import dump_machine

    m = replay(name, tmp_path, timeout=2.0)
    again, warnings = load_machine(dump_machine(m))
    assert warnings == [] and again == m
