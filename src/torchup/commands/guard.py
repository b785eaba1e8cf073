"""``torchup guard``: show, lift or set the pins that keep pip from replacing the installed torch
stack (docs/install.md, "The guard")."""

from __future__ import annotations

import sys

from torchup.system import System

TYPE_CHECKING = False  # argparse is imported only when argparse parses (torchup.fastargs)
if TYPE_CHECKING:
    import argparse

__all__ = ["add_arguments", "render_text", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--python", metavar="PATH", help="the target Python (default: the active venv / conda env, else python3)"
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--status", action="store_true", help="show the guard and what it pins (the default)")
    which.add_argument("--on", action="store_true", help="pin the installed torch, torchvision and torchaudio for pip")
    which.add_argument(
        "--off", action="store_true", help="remove torchup's line from pip.conf and its constraints file"
    )
    parser.add_argument("--json", action="store_true", help="print the status as JSON (docs/json.md)")


def render_text(status) -> str:
    lines = [f"torchup guard: {status.prefix}"]
    if status.on:
        pinned = ", ".join(f"{k} {v}" for k, v in status.pins.items()) or "nothing (relaxed)"
        lines.append(f"  on: {status.pip_conf} makes pip keep {pinned} (pins in {status.constraints})")
        for name in status.changed:
            now = status.installed.get(name)
            lines.append(
                f"  changed since it was pinned: {name} {now + ' is installed' if now else 'is not installed'}, "
                f"{status.pins[name]} pinned (`torchup doctor` says how to restore it)"
            )
        lines.append(f"  uv reads no pip.conf: `uv pip install --constraint {status.constraints} ...`")
    else:
        lines.append(f"  off: {status.pip_conf} names no torchup pins; `torchup guard --on` sets them")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace, system: System) -> int:
    import configparser

    from torchup.errors import EnvironmentProblem
    from torchup.install import _exclusive
    from torchup.install.guard import guard_status, remove_guard, stack_pins, write_guard
    from torchup.install.target import inspect_target
    from torchup.target import find_target_python

    python, _how = find_target_python(system, args.python)
    target = inspect_target(system.runner, python)
    out = sys.stderr if args.json else sys.stdout
    if args.on or args.off:
        if args.on and "torch" not in stack_pins(target):
            raise EnvironmentProblem(
                f"torch is not installed in {target.prefix}: there is nothing to pin",
                hint="`torchup install` installs it and sets the guard",
                code="no-torch",
            )
        try:
            with _exclusive(target.prefix):
                if args.on:
                    out.write(f"torchup: {write_guard(target)}\n")
                else:
                    out.write(
                        "torchup: guard: off\n" if remove_guard(target.prefix) else "torchup: guard: there was none\n"
                    )
        except (OSError, configparser.Error) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]
            raise EnvironmentProblem(
                f"cannot change the guard in {target.prefix}: {why}",
                hint="fix the permissions, or the syntax of its pip.conf, and retry",
                code="guard-failed",
            ) from None
    status = guard_status(target)
    if args.json:
        from torchup.output import emit_json

        emit_json("guard", status.to_json())
    elif not (args.on or args.off):
        sys.stdout.write(render_text(status))
    return 0
