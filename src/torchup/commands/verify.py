"""``torchup verify``: prove the installed torch works, with real computation on every device."""

from __future__ import annotations

import sys

from torchup.commands._args import seconds
from torchup.errors import EXIT_FAILURE, EXIT_OK

TYPE_CHECKING = False  # argparse is imported only when argparse parses (torchup.fastargs)
if TYPE_CHECKING:
    import argparse

__all__ = ["add_arguments", "render_text", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--python", metavar="PATH", help="the Python to check (default: active venv / conda env, else python3)"
    )
    parser.add_argument(
        "--bench", action="store_true", help="also measure matmul throughput and host<->device bandwidth"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--timeout",
        type=seconds,
        metavar="SECONDS",
        help="time limit for the whole check (default 180, 420 with --bench)",
    )
    parser.add_argument(
        "--isolated",
        action="store_true",
        help="run the target as 'python -I' (ignore the user site and PYTHON* variables)",
    )


def run(args: argparse.Namespace, system) -> int:
    from torchup.output import emit_json, style_for  # imported while the check runs, not after it
    from torchup.progress import Heartbeat
    from torchup.target import find_target_python
    from torchup.verify import started_check

    python, _how = find_target_python(system, args.python)
    # usually started before the imports and the parsing (torchup.verify.prestart_verify)
    check = started_check(system, python, bench=args.bench, timeout=args.timeout, isolated=args.isolated)
    # importing torch and running its checks can take a minute on a cold disk: say it is alive
    with Heartbeat(sys.stdout, "verify", enabled=sys.stdout.isatty() and not args.json):
        report = check.wait().report(python)
    if args.json:
        emit_json("verify", report.to_json())
    else:
        sys.stdout.write(render_text(report, style_for(sys.stdout, system.env)))
    return EXIT_OK if report.ok else EXIT_FAILURE


def _gib(mib: int | None) -> str:
    return f", {mib / 1024:.0f} GiB" if mib else ""


def render_text(report, style) -> str:
    """The human form of a VerifyReport."""
    lines = [style.bold(f"torchup verify: {report.python_executable}")]
    py = report.python
    if py:
        lines.append(
            f"  Python {py.get('version')} ({py.get('implementation')}, {py.get('bits')}-bit, {py.get('machine')})"
        )
    t = report.torch
    if t is None:
        imp = report.check("import-torch")
        why = imp.detail if imp else (report.crashed or "unknown")
        lines.append(style.red(f"  torch does not import: {why}"))
    else:
        lines.append(
            f"  torch {t.get('version')} ({report.build_label} build), imported in {t.get('import_s', 0):.2f} s"
        )
        lines.append(style.dim(f"    from {t.get('file')}"))
    for name, comp in report.companions.items():
        if comp["status"] == "skip":
            lines.append(style.dim(f"  {name}: not installed"))
        elif comp["status"] == "fail":
            lines.append(
                style.red(f"  {name} {comp.get('version') or ''}: fails: {comp.get('error')}".replace("  :", ":"))
            )
        else:
            lines.append(f"  {name} {comp.get('version')}")
    b = report.build
    if t is not None:
        facts = [
            f"cuDNN {b.get('cudnn_version')}" if b.get("cudnn_version") else "cuDNN no",
            f"NCCL {b.get('nccl_version')}"
            if b.get("nccl_version")
            else ("NCCL yes" if b.get("nccl_available") else "NCCL no"),
            "MPS yes" if report.device_facts.get("mps_available") else "MPS no",
            "XPU yes" if report.device_facts.get("xpu_available") else "XPU no",
        ]
        lines.append("  backends: " + ", ".join(facts))
        if b.get("arch_flags"):
            lines.append("  compiled for: " + " ".join(b["arch_flags"]))
    if report.devices:
        lines.append(style.bold("devices:"))
        for d in report.devices:
            if d.type == "cpu":
                extra = ", ".join(
                    x
                    for x in (b.get("cpu_capability"), f"{b.get('threads')} threads" if b.get("threads") else None)
                    if x
                )
                lines.append(f"  cpu     {d.name or ''}" + (f" ({extra})" if extra else ""))
                continue
            desc = f"  {d.device:<7} {d.name}"
            if d.capability:
                desc += f", compute capability {d.capability}"
            if d.gfx:
                desc += f", {d.gfx}"
            desc += _gib(d.memory_mib)
            lines.append(desc)
            if d.arch_ok is False:
                lines.append(style.red(f"          arch: {d.arch_note}"))
            elif d.arch_note:
                lines.append(style.dim(f"          arch: {d.arch_note}"))
    for w in report.device_facts.get("warnings", []) or []:
        lines.append(style.yellow(f"  warning: {w}"))
    lines.append(style.bold("checks:"))
    for c in report.checks:
        if c.step.startswith("bench-") or c.step in ("python", "reference"):
            continue
        mark = {"pass": style.green("ok  "), "fail": style.red("FAIL"), "skip": style.dim("skip")}[c.status]
        where = f" [{c.device}]" if c.device else ""
        detail = f": {c.detail}" if c.detail else ""
        lines.append(f"  {mark} {c.step}{where}{detail}")
    if report.bench:
        lines.append(style.bold("bench:"))
        for r in report.bench:
            label = f"{r.what} {r.dtype}" if r.dtype else r.what
            value = (
                f"{r.value / 1000:.1f} TFLOP/s"
                if r.unit == "GFLOP/s" and r.value >= 1000
                else f"{r.value:.1f} {r.unit}"
            )
            line = f"  {r.device:<7} {label:<18} {value}"
            if r.expected:
                exp = (
                    f"{r.expected / 1000:.1f} TFLOP/s"
                    if r.unit == "GFLOP/s" and r.expected >= 1000
                    else f"{r.expected:.0f} {r.unit}"
                )
                line += f"  ({r.ratio:.0%} of {exp})"
            lines.append(style.yellow(line + "  far below what this device should reach") if r.low else line)
    if report.crashed:
        lines.append(style.red(f"the check process failed: {report.crashed}"))
        if report.stderr_tail:
            lines += ["  " + s for s in report.stderr_tail.strip().splitlines()[-8:]]
    if report.ok:
        lines.append(style.green("result: OK"))
    else:
        n = len(report.failures)
        lines.append(style.red(f"result: FAILED ({n} check{'s' if n != 1 else ''} failed)"))
        lines.append("  'torchup doctor' names the cause and the fix")
    return "\n".join(lines) + "\n"
