"""``torchup add PKG...``: install more packages into a verified environment; a change to the
torch stack is shown and refused unless ``--allow-torch-change`` (docs/install.md)."""

from __future__ import annotations

import os
import sys

from torchup.commands._args import check_index_url, seconds
from torchup.system import System

TYPE_CHECKING = False  # argparse is imported only when argparse parses (torchup.fastargs)
if TYPE_CHECKING:
    import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "packages", nargs="+", metavar="PKG", help="requirements, as pip takes them (`xformers==0.0.30`)"
    )
    parser.add_argument(
        "--python", metavar="PATH", help="the target Python (default: the active venv / conda env, else python3)"
    )
    parser.add_argument(
        "--manager",
        choices=("auto", "pip", "uv"),
        default="auto",
        help="package manager to run (default: uv when on PATH, else pip)",
    )
    parser.add_argument(
        "--allow-torch-change",
        action="store_true",
        help="install even when torch, torchvision or torchaudio would be replaced (exit 4 without it)",
    )
    parser.add_argument(
        "--index-url", metavar="URL", help="the package index to resolve from (default: the manager's own)"
    )
    parser.add_argument("--dry-run", action="store_true", help="show what would change and the command; change nothing")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the result as JSON on stdout (docs/json.md); the progress goes to stderr",
    )
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--no-verify", action="store_true", help="skip `torchup verify` after the install")
    parser.add_argument("--log", metavar="FILE", help="write the full log here (default: ~/.cache/torchup/logs/)")
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=None,
        metavar="SECONDS",
        help="stop the package manager after this long (default: 3600)",
    )


def run(args: argparse.Namespace, system: System) -> int:
    from torchup.commands.install import _confirm
    from torchup.install import DEFAULT_TIMEOUT_S
    from torchup.install.add import AddOptions, add
    from torchup.target import find_target_python

    if args.index_url:
        check_index_url("--index-url", args.index_url)
    stream = sys.stderr if args.json else sys.stdout  # under --json stdout holds the envelope only
    python, _how = find_target_python(system, args.python)
    options = AddOptions(
        python=python,
        packages=tuple(args.packages),
        manager=args.manager,
        allow_torch_change=args.allow_torch_change,
        index_url=args.index_url,
        dry_run=args.dry_run,
        yes=args.yes,
        verify=not args.no_verify,
        log_path=args.log,
        timeout=args.timeout or DEFAULT_TIMEOUT_S,
        tty=stream.isatty() and os.name == "posix",
        confirm=_confirm if sys.stdin.isatty() else None,
    )
    report = add(options, system, stream=stream)
    if args.json:
        from torchup.output import emit_json

        emit_json("add", report.to_json())
    return 1 if report.verified is False else 0
