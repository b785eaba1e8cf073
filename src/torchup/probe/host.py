"""The host around the target Python: WSL, containers, macOS version, Apple
silicon.  OS, CPU architecture and libc come from the target interpreter itself
(``python.py``): they are what its wheels must match."""

from __future__ import annotations

import re

from torchup.system import System

__all__ = [
    "container_hint",
    "parse_cgroup_container",
    "parse_sw_vers",
    "parse_sysctl_flag",
    "parse_wsl",
    "read_wsl",
]


def parse_wsl(osrelease: str | None, proc_version: str | None, dxg: bool) -> int | None:
    """1 or 2 under WSL, None elsewhere.

    The kernel release names Microsoft under both: WSL2 kernels are
    ``*-microsoft-standard[-WSL2]``, WSL1 reports ``*-Microsoft`` (knowledge);
    ``/dev/dxg`` (GPU paravirtualisation) exists only under WSL2
    (research/probing.md 2.2).
    """
    text = f"{osrelease or ''} {proc_version or ''}"
    if "microsoft" not in text.lower():
        return 2 if dxg else None
    if dxg or "microsoft-standard" in text.lower() or "wsl2" in text.lower():
        return 2
    return 1


_CGROUP_HINTS = (
    ("kubepods", "kubernetes"),
    ("libpod", "podman"),
    ("docker", "docker"),
    ("lxc", "lxc"),
    ("containerd", "container"),
)


def parse_cgroup_container(text: str) -> str | None:
    """A container runtime named in ``/proc/1/cgroup`` (cgroup v1 paths; under
    cgroup v2 the file says ``0::/`` and names nothing)."""
    low = text.lower()
    for needle, kind in _CGROUP_HINTS:
        if needle in low:
            return kind
    return None


def container_hint(system: System) -> tuple[str, str] | None:
    """``(kind, origin)`` of the strongest container hint, or None."""
    if system.env.get("KUBERNETES_SERVICE_HOST"):
        return "kubernetes", "env:KUBERNETES_SERVICE_HOST"
    if system.exists("/run/.containerenv"):
        return "podman", "/run/.containerenv"
    if system.exists("/.dockerenv"):
        return "docker", "/.dockerenv"
    env_kind = system.env.get("container")  # systemd's convention, set by podman, lxc, nspawn
    if env_kind:
        return re.sub(r"[^a-z0-9-]", "", env_kind.lower()) or "container", "env:container"
    text = system.read_text("/proc/1/cgroup")
    kind = parse_cgroup_container(text) if text else None
    if kind:
        return kind, "/proc/1/cgroup"
    return None


def read_wsl(system: System) -> tuple[int, str] | None:
    osrelease = system.read_text("/proc/sys/kernel/osrelease")
    proc_version = system.read_text("/proc/version")
    dxg = system.exists("/dev/dxg")
    wsl = parse_wsl(osrelease, proc_version, dxg)
    if wsl is None:
        return None
    origin = (
        "/dev/dxg"
        if dxg
        else ("/proc/sys/kernel/osrelease" if osrelease and "microsoft" in osrelease.lower() else "/proc/version")
    )
    return wsl, origin


def parse_sw_vers(text: str) -> str | None:
    """``sw_vers -productVersion``: ``14.4.1``."""
    m = re.match(r"^\s*(\d+\.\d+(?:\.\d+)?)\s*$", text)
    return m.group(1) if m else None


def parse_sysctl_flag(text: str) -> bool | None:
    """``sysctl -n hw.optional.arm64`` prints ``1`` on Apple silicon (even for a
    Rosetta process); the key is missing on Intel Macs (research 6)."""
    value = text.strip()
    if value == "1":
        return True
    if value == "0":
        return False
    return None
