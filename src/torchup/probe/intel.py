"""Intel GPUs: Level Zero devices from ``sycl-ls``, names and PCI ids from
``xpu-smi discovery``.  Both tools are optional; the PCI scan alone already
finds Intel GPUs.  Sources: research/probing.md section 5."""

from __future__ import annotations

from torchup.lazyre import lazy
from torchup.record import record

__all__ = ["SyclDevice", "XpuDevice", "parse_sycl_ls", "parse_xpu_smi_discovery"]

# "[level_zero:gpu][level_zero:0] Intel(R) Level-Zero, Intel(R) Arc(TM) A750 Graphics 12.55.8 [1.3.29735]"
# "[ext_oneapi_level_zero:gpu:1] Intel(R) Level-Zero, Intel(R) Arc(TM) A770 Graphics 1.3 [1.3.28044]"
_SYCL_LINE = lazy(r"^\[(?:ext_oneapi_)?(\w+?):(\w+)[:\]]")
_SYCL_NAME = lazy(r"^\[[^\]]*\](?:\[[^\]]*\])?\s*[^,]*,\s*(.*?)\s+(?:OpenCL \S+|\d+(?:\.\d+)+)(?:\s.*)?$")


@record
class SyclDevice:
    backend: str  # "level_zero", "opencl", "cuda", "native_cpu"
    kind: str  # "gpu", "cpu", "acc", "fpga"
    name: str


def parse_sycl_ls(text: str) -> list[SyclDevice]:
    """Devices listed by ``sycl-ls`` in both the 2024.0 ``[backend:type:index]``
    and the newer ``[backend:type][backend:index]`` formats."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        m = _SYCL_LINE.match(line)
        if not m:
            continue
        n = _SYCL_NAME.match(line)
        out.append(SyclDevice(backend=m.group(1), kind=m.group(2), name=n.group(1) if n else line))
    return out


@record
class XpuDevice:
    name: str | None
    bus_id: str | None
    device_id: str | None  # from the SOC UUID tail when printed ("4680")


def parse_xpu_smi_discovery(text: str) -> list[XpuDevice]:
    """The box table of ``xpu-smi discovery``: one device per ``| N | ...`` row group."""
    devices: list[dict[str, str]] = []
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2:
            continue
        if cells[0].isdigit():
            devices.append({})
        if not devices or ":" not in cells[1]:
            continue
        key, _, value = cells[1].partition(":")
        devices[-1][key.strip()] = value.strip()
    out = []
    for d in devices:
        uuid = d.get("SOC UUID", "")
        # the UUID ends in <device id><vendor id>, e.g. ...46808086 (SOURCES.md, xpu-smi entry)
        dev = uuid[-8:-4].lower() if len(uuid) >= 8 and uuid.lower().endswith("8086") else None
        out.append(
            XpuDevice(name=d.get("Device Name"), bus_id=(d.get("PCI BDF Address") or "").lower() or None, device_id=dev)
        )
    return out
