"""AMD: the gfx target of each GPU, the ROCm userspace version, HSA override.

KFD topology first (``/sys/class/kfd/kfd/topology/nodes/*/properties``, a file
read, no ROCm userspace needed); ``rocminfo`` then ``amd-smi static`` only when
KFD did not answer.  Sources: research/probing.md section 4.
"""

from __future__ import annotations

import re

from torchup.lazyre import lazy
from torchup.record import record
from torchup.system import System

__all__ = [
    "AmdAgent",
    "decode_gfx_target_version",
    "parse_amd_smi_static",
    "parse_hsa_override",
    "parse_kfd_properties",
    "parse_rocm_version",
    "parse_rocminfo",
    "read_kfd_agents",
    "read_rocm_version",
]

KFD_NODES = "/sys/class/kfd/kfd/topology/nodes"
ROCM_VERSION_FILES = ("/opt/rocm/.info/version", "/opt/rocm/core/.info/version")
_HEX_IN_PARENS = lazy(r"\(0x([0-9a-fA-F]+)\)")
_HSA_OVERRIDE = lazy(r"(?a)^(\d+)\.(\d+)\.(\d+)$")


@record
class AmdAgent:
    gfx: str | None
    name: str | None = None  # marketing name
    device_id: str | None = None  # PCI device id, "744c"
    bus_id: str | None = None  # "0000:05:00.0" when known
    node: int | None = None  # KFD node


_GFX = lazy(r"^gfx[0-9a-f]{3,4}$")  # what a machine file accepts


def decode_gfx_target_version(value: int) -> str | None:
    """``90402`` -> ``gfx942``, ``90010`` -> ``gfx90a``, as rocm_agent_enumerator
    decodes it (rocminfo@c6f7a17 ``readFromKFD``); 0 (a CPU node) -> None."""
    if value <= 0:
        return None
    major, minor, step = (value // 10000) % 100, (value // 100) % 100, value % 100
    gfx = f"gfx{major}{minor:x}{step:x}"
    return gfx if _GFX.match(gfx) else None  # a garbage value is unknown, not a target


def parse_kfd_properties(text: str) -> dict[str, int]:
    """``key value`` lines of a KFD node ``properties`` file."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        digits = parts[1].lstrip("-") if len(parts) == 2 else ""
        if digits.isascii() and digits.isdigit() and len(digits) <= 20:  # a 64-bit value at most
            out[parts[0]] = int(parts[1])
    return out


def parse_rocminfo(text: str) -> list[AmdAgent]:
    """GPU agents of ``rocminfo``: blocks whose ``Device Type`` is ``GPU``.
    Old rocminfo pads values with spaces; ISA names are not device targets."""
    agents: list[AmdAgent] = []
    block: dict[str, str] = {}

    def flush() -> None:
        if block.get("Device Type") == "GPU":
            chip = _HEX_IN_PARENS.search(block.get("Chip ID", ""))
            # "gfx90a:sramecc+:xnack-" names the target with its features: keep the target
            name = (block.get("Name") or "").split(":", 1)[0].strip().lower()
            node = block.get("Node", "")
            agents.append(
                AmdAgent(
                    gfx=name if _GFX.match(name) else None,
                    name=block.get("Marketing Name") or None,
                    device_id=chip.group(1).lower().rjust(4, "0") if chip else None,
                    node=int(node) if node.isascii() and node.isdigit() else None,
                )
            )
        block.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if re.match(r"^Agent \d+$", line):
            flush()
            continue
        if raw.startswith("  ") and not raw.startswith("    ") and ":" in line:
            key, _, value = line.partition(":")
            block.setdefault(key.strip(), value.strip())
    flush()
    return agents


def parse_amd_smi_static(text: str) -> list[AmdAgent]:
    """``amd-smi static``: one ``GPU: N`` block each, ``ASIC:`` gives the market
    name, device id and ``TARGET_GRAPHICS_VERSION``; ``BUS:`` the BDF."""
    agents: list[AmdAgent] = []
    cur: dict[str, str] | None = None
    section = ""

    def flush() -> None:
        if cur is not None:
            dev = cur.get("ASIC.DEVICE_ID", "")
            gfx = cur.get("ASIC.TARGET_GRAPHICS_VERSION", "").lower()
            agents.append(
                AmdAgent(
                    gfx=gfx if re.match(r"^gfx[0-9a-f]+$", gfx) else None,
                    name=cur.get("ASIC.MARKET_NAME") or None,
                    device_id=dev[2:].lower() if dev.lower().startswith("0x") else None,
                    bus_id=cur.get("BUS.BDF", "").lower() or None,
                )
            )

    for raw in text.splitlines():
        if not raw.strip():
            continue
        indent = len(raw) - len(raw.lstrip())
        key, _, value = raw.strip().partition(":")
        value = value.strip()
        if indent == 0:
            flush()
            cur = {} if key == "GPU" else None
            section = ""
        elif cur is not None and indent == 4 and not value:
            section = key
        elif cur is not None and indent >= 8:
            cur[f"{section}.{key}"] = value
    flush()
    return agents


def parse_rocm_version(text: str) -> str | None:
    """``/opt/rocm/.info/version``: ``6.0.0-12568`` (before 7.0) or ``7.0.1``."""
    m = re.match(r"(?a)^\s*(\d+\.\d+(?:\.\d+)?)", text)
    return m.group(1) if m else None


def parse_hsa_override(value: str) -> str | None:
    """``HSA_OVERRIDE_GFX_VERSION`` as ROCm reads it, ``M.m.s``; None if malformed."""
    m = _HSA_OVERRIDE.match(value.strip())
    if not m:
        return None
    major, minor, step = (int(g) for g in m.groups())
    if major > 63 or minor > 255 or step > 255:
        return None
    return f"{major}.{minor}.{step}"


# --- readers ---------------------------------------------------------------------


def read_kfd_agents(system: System) -> list[AmdAgent]:
    agents = []
    for node in system.listdir(KFD_NODES):
        text = system.read_text(f"{KFD_NODES}/{node}/properties")
        if not text:
            continue
        props = parse_kfd_properties(text)
        gfx = decode_gfx_target_version(props.get("gfx_target_version", 0))
        if gfx is None:
            continue
        dev = props.get("device_id")
        agents.append(
            AmdAgent(
                gfx=gfx,
                device_id=f"{dev:04x}" if dev else None,
                node=int(node) if node.isascii() and node.isdigit() else None,
            )
        )
    return agents


def read_rocm_version(system: System) -> tuple[str, str] | None:
    for path in ROCM_VERSION_FILES:
        text = system.read_text(path)
        if text:
            version = parse_rocm_version(text)
            if version:
                return version, path
    return None
