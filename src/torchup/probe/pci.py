"""GPUs on the PCI bus, driver or not: ``/sys/bus/pci/devices/*/{vendor,device,class}``.

Display controllers (class 0x03xxxx: VGA, 3D, other) and processing
accelerators (0x12xxxx: AMD Instinct) of NVIDIA, AMD and Intel; the audio
function a GPU also exposes (0x0403) shares the vendor id and is skipped.
Sources: research/probing.md 3.1 and pci.ids.
"""

from __future__ import annotations

from torchup.record import record
from torchup.system import System

__all__ = ["VENDORS", "PciDevice", "is_gpu_class", "parse_hex", "read_pci_gpus"]

PCI_DEVICES = "/sys/bus/pci/devices"
VENDORS = {0x10DE: "nvidia", 0x1002: "amd", 0x8086: "intel"}
GPU_BASE_CLASSES = (0x03, 0x12)  # display controller, processing accelerator


@record
class PciDevice:
    address: str  # "0000:01:00.0"
    vendor: str  # "nvidia"
    vendor_id: int
    device_id: int
    pci_class: int  # 24 bits, 0x030000
    driver: str | None  # bound kernel driver ("nvidia", "nouveau", "amdgpu", "i915", "xe", "vfio-pci")

    @property
    def pci_id(self) -> str:
        return f"{self.vendor_id:04x}:{self.device_id:04x}"


def parse_hex(text: str | None) -> int | None:
    """``0x10de\\n`` -> 0x10de; None for anything else."""
    if not text:
        return None
    try:
        return int(text.strip(), 16)
    except ValueError:
        return None


def is_gpu_class(pci_class: int) -> bool:
    return (pci_class >> 16) in GPU_BASE_CLASSES


def read_pci_gpus(system: System) -> list[PciDevice]:
    out = []
    for address in system.listdir(PCI_DEVICES):
        base = f"{PCI_DEVICES}/{address}"
        vendor_id = parse_hex(system.read_text(f"{base}/vendor"))
        if vendor_id not in VENDORS:
            continue
        pci_class = parse_hex(system.read_text(f"{base}/class"))
        device_id = parse_hex(system.read_text(f"{base}/device"))
        if pci_class is None or device_id is None or not is_gpu_class(pci_class):
            continue
        link = system.readlink(f"{base}/driver")
        out.append(
            PciDevice(
                address=address.lower(),
                vendor=VENDORS[vendor_id],
                vendor_id=vendor_id,
                device_id=device_id,
                pci_class=pci_class,
                driver=link.rstrip("/").rsplit("/", 1)[-1] if link else None,
            )
        )
    return out
