"""The human summary of ``torchup probe`` (pure: Machine -> text)."""

from torchup.commands.probe import render_text
from torchup.machine import Gpu, Machine, Note
from torchup.output import Style

MACHINE = Machine(
    os="linux", arch="x86_64", python="3.12.4", python_bits=64, python_implementation="cpython",
    python_executable="/srv/env/bin/python", python_env="uv", env_prefix="/srv/env", externally_managed=False,
    pip_usable=False, uv_usable=True, libc="glibc 2.35", wsl=2, nvidia_driver="555.99", cuda_driver_max="12.5",
    gpus=(Gpu(vendor="nvidia", name="NVIDIA GeForce RTX 4070", compute_capability="8.9", memory_mib=12282),
          Gpu(vendor="nvidia", name="GeForce RTX 3090", pci_id="10de:2204", driver_loaded=False)),
    managers=("pip", "uv"), installed={"torch": "2.5.1+cu121", "nvidia-cublas-cu12": "12.1.3.1", "pip": "24.0"},
    notes=(Note(id="driver-not-loaded", message="NVIDIA GPU 10de:2204 has no NVIDIA driver loaded"),),
    sources={"nvidia_driver": "nvidia-smi --query-gpu=driver_version", "gpus[1]": "/sys/bus/pci/devices/0000:0a:00.0"},
)


def test_one_line_per_fact_and_every_gpu():
    text = render_text(MACHINE, Style(False))
    lines = text.splitlines()
    assert lines[0] == "torchup probe"
    assert "  wsl:                  WSL2" in lines
    assert "  python:               3.12.4 (cpython, 64-bit)" in lines
    assert "    environment:        uv at /srv/env" in lines
    assert "    pip / uv usable:    no / yes" in lines
    assert "    installed:          nvidia-cublas-cu12 12.1.3.1, torch 2.5.1+cu121" in lines
    assert "  nvidia driver:        555.99" in lines and "    newest CUDA:        12.5" in lines
    assert "  gpu 0:                NVIDIA GeForce RTX 4070 (compute capability 8.9, 12 GiB)" in lines
    assert "  gpu 1:                NVIDIA GeForce RTX 3090 (PCI 10de:2204, NO DRIVER)" in lines
    assert lines[-1] == "  ! NVIDIA GPU 10de:2204 has no NVIDIA driver loaded [driver-not-loaded]"
    assert "from " not in text


def test_verbose_shows_the_origin_under_each_fact():
    lines = render_text(MACHINE, Style(False), verbose=True).splitlines()
    i = lines.index("  nvidia driver:        555.99")
    assert lines[i + 1].strip() == "from nvidia-smi --query-gpu=driver_version"
    j = lines.index("  gpu 1:                NVIDIA GeForce RTX 3090 (PCI 10de:2204, NO DRIVER)")
    assert lines[j + 1].strip() == "from /sys/bus/pci/devices/0000:0a:00.0"


def test_no_gpu_and_no_colour_codes_without_a_tty():
    text = render_text(Machine(os="macos", arch="aarch64", python="3.12"), Style(False))
    assert "  gpus:                 none found" in text.splitlines()
    assert "\x1b[" not in text
