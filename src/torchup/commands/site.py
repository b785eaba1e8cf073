"""``torchup site DIR``: write DIR/index.html, the install selector and the matrix in one file.

    torchup site DIR [--no-packages] [--workers N] [--json]

The page carries its data inline and loads nothing: it works from ``file://`` and offline.
Every answer it shows is computed here by the resolver (``torchup.site``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from torchup.errors import EXIT_OK, EnvironmentProblem, UsageError

TYPE_CHECKING = False  # argparse is imported only when argparse parses (torchup.fastargs)
if TYPE_CHECKING:
    import argparse

__all__ = ["add_arguments", "run"]

PAGE = "index.html"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", metavar="DIR", help=f"the folder to write {PAGE} into (created if absent)")
    parser.add_argument(
        "--no-packages",
        action="store_true",
        help="leave out the choice of a package built against torch (plan --with): a page a quarter the size, "
        "written in a fifth of the time",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="processes that compute the answers (default: one per CPU this process may use)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output (docs/site.md)")


def run(args: argparse.Namespace, system) -> int:
    from datetime import date

    from torchup.catalog.load import load_catalog
    from torchup.catalog.stack import load_stack
    from torchup.site import build_page

    folder = Path(args.dir)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is not a folder", hint=f"give a folder: torchup site writes {PAGE} into it")
    workers = args.workers if args.workers is not None else _cpus()
    if workers < 1:
        raise UsageError(f"--workers {workers}: give 1 or more", hint="--workers 1 computes in this process")
    catalog = load_catalog(system.env)
    stack = load_stack(system.env)  # what `plan --with` reads
    packages = () if args.no_packages else None
    # stderr: stdout keeps the one --json document
    print(
        f"torchup: resolving every choice the page offers (about {15_000 if args.no_packages else 64_000:,}, "
        f"in {workers} process{'es' if workers > 1 else ''}; minutes)...",
        file=sys.stderr,
    )
    page = build_page(catalog, date.today(), stack=stack, packages=packages, workers=workers)
    target = folder / PAGE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{PAGE}.torchup-tmp"
        tmp.write_text(page.html, encoding="utf-8")
        tmp.replace(target)  # a page that is there is whole: the old one or the new one
    except OSError as exc:
        raise EnvironmentProblem(
            f"cannot write {target}: {exc.strerror or exc}", hint="choose a folder you can write to"
        ) from None
    size = len(page.html.encode("utf-8"))
    facts = {
        "path": str(target),
        "bytes": size,
        "points": page.points,
        "answers": page.answers,
        "gpus": page.gpus,
        "gpu_classes": page.classes,
        "packages": page.packages,
        "workers": workers,
        "seconds": round(page.seconds, 2),
        "data_date": catalog.data_date,
    }
    if args.json:
        from torchup.output import emit_json

        emit_json("site", facts)
    else:
        sys.stdout.write(
            f"wrote {target} ({size / 1024:.0f} KiB): {page.points} points of the selector space "
            f"({page.gpus} GPU models in {page.classes} classes), {page.answers} distinct answers, "
            f"computed in {page.seconds:.1f} s; open it in a browser, no server needed\n"
        )
    for w in catalog.warnings:
        print(f"torchup: warning: {w}", file=sys.stderr)
    return EXIT_OK


def _cpus() -> int:
    """The CPUs this process may run on (a container or taskset may allow fewer than the machine has)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
