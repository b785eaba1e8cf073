"""``torchup probe``: what torchup knows about this machine (``--json``: the machine file)."""

from __future__ import annotations

import sys

from torchup.commands._args import seconds
from torchup.errors import EXIT_OK

TYPE_CHECKING = False  # argparse is imported only when argparse parses (torchup.fastargs)
if TYPE_CHECKING:
    import argparse

__all__ = ["add_arguments", "render_text", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--python", metavar="PATH", help="the target Python (default: active venv / conda env, else python3 on PATH)"
    )
    parser.add_argument("--json", action="store_true", help="print the machine file (JSON) instead of the summary")
    parser.add_argument(
        "--timeout", type=seconds, metavar="SECONDS", help="time limit for each probing command (default 10)"
    )


def run(args: argparse.Namespace, system) -> int:
    from torchup.probe import DEFAULT_TIMEOUT, probe_machine

    machine = probe_machine(system, python=args.python, timeout=args.timeout or DEFAULT_TIMEOUT)
    if args.json:
        from torchup.machine import dump_machine

        sys.stdout.write(dump_machine(machine))
    else:
        from torchup.output import style_for

        sys.stdout.write(render_text(machine, style_for(sys.stdout, system.env), verbose=args.verbose))
    return EXIT_OK


def _yes_no(value) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


_VENDOR_LABELS = {"nvidia": "NVIDIA", "amd": "AMD", "intel": "Intel", "apple": "Apple"}


def _gpu_line(gpu) -> str:
    vendor = _VENDOR_LABELS.get(gpu.vendor, gpu.vendor)
    name = gpu.name or "(unknown model)"
    parts = [name] if name.lower().startswith(vendor.lower()) else [vendor, name]
    extra = []
    if gpu.compute_capability:
        extra.append(f"compute capability {gpu.compute_capability}")
    if gpu.gfx:
        extra.append(gpu.gfx)
    if gpu.memory_mib:
        extra.append(f"{gpu.memory_mib / 1024:.0f} GiB")
    if gpu.mig:
        extra.append("MIG enabled")
    if gpu.pci_id:
        extra.append(f"PCI {gpu.pci_id}")
    if gpu.driver_loaded is False:
        extra.append("NO DRIVER")
    return " ".join(parts) + (f" ({', '.join(extra)})" if extra else "")


def render_text(machine, style, *, verbose: bool = False) -> str:
    """One line per fact; with ``verbose`` the origin of each under it."""
    m = machine
    src = m.sources
    rows: list[tuple[str, str, str | None]] = []  # label, value, source key

    def add(label: str, value, key: str | None) -> None:
        rows.append((label, str(value), key))

    add("os", m.os + (f" {m.macos_version}" if m.macos_version else ""), "os")
    add("arch", m.arch, "arch")
    if m.libc:
        add("libc", m.libc, "libc")
    if m.wsl:
        add("wsl", f"WSL{m.wsl}" if m.wsl is not True else "yes", "wsl")
    if m.container:
        add("container", m.container, "container")
    if m.apple_silicon is not None:
        add(
            "apple silicon",
            _yes_no(m.apple_silicon) + (" (this Python runs under Rosetta)" if m.rosetta else ""),
            "apple_silicon",
        )
    py = f"{m.python} ({m.python_implementation or 'python'}, {m.python_bits or '?'}-bit{', free-threaded' if m.free_threaded else ''})"
    add("python", py, "python")
    add("  executable", m.python_executable or "unknown", "python_executable")
    add("  environment", f"{m.python_env or 'unknown'}" + (f" at {m.env_prefix}" if m.env_prefix else ""), "python_env")
    add("  externally managed", _yes_no(m.externally_managed), "externally_managed")
    add("  pip / uv usable", f"{_yes_no(m.pip_usable)} / {_yes_no(m.uv_usable)}", "pip_usable")
    interesting = {
        k: v
        for k, v in m.installed.items()
        if k in ("torch", "torchvision", "torchaudio", "numpy") or k.startswith("nvidia-")
    }
    if interesting:
        add("  installed", ", ".join(f"{k} {v}" for k, v in sorted(interesting.items())), "installed")
    else:
        add("  installed", "no torch, torchvision, torchaudio or numpy", "installed")
    add("package managers", ", ".join(m.managers) or "none found on PATH", "managers")
    if m.nvidia_driver or m.nvidia_driver_userspace:
        add("nvidia driver", m.nvidia_driver or "unknown", "nvidia_driver")
    if m.nvidia_driver_userspace:
        add("  user-space driver", m.nvidia_driver_userspace, "nvidia_driver_userspace")
    if m.cuda_driver_max:
        add("  newest CUDA", m.cuda_driver_max, "cuda_driver_max")
    if m.jetson_l4t:
        add("jetson L4T", m.jetson_l4t, "jetson_l4t")
    if m.rocm_version:
        add("rocm", m.rocm_version, "rocm_version")
    if m.hsa_override_gfx:
        add("HSA_OVERRIDE_GFX_VERSION", m.hsa_override_gfx, "hsa_override_gfx")
    if not m.gpus:
        add("gpus", "none found", None)
    for i, gpu in enumerate(m.gpus):
        add(f"gpu {i}", _gpu_line(gpu), f"gpus[{i}]")

    width = max(len(label) for label, _, _ in rows) + 2
    lines = [style.bold("torchup probe")]
    for label, value, key in rows:
        lines.append(f"  {label + ':':<{width}}{value}")
        if verbose and key and key in src:
            lines.append(style.dim(f"  {'':<{width}}  from {src[key]}"))
    for note in m.notes:
        lines.append(style.yellow(f"  ! {note.message}") + style.dim(f" [{note.id}]"))
    return "\n".join(lines) + "\n"
