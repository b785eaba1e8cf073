"""``torchup matrix``: which releases and variants run a GPU, on which driver and Python.

    torchup matrix [--gpu NAME] [--json]

Without ``--gpu`` every (release, variant) the catalog knows; with it only those that run
that GPU, led by the newest.  The verdicts are the resolver's (``torchup.matrix``).
"""

from __future__ import annotations

import sys

from torchup.errors import EXIT_OK

TYPE_CHECKING = False  # argparse is imported only when argparse parses (torchup.fastargs)
if TYPE_CHECKING:
    import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gpu",
        metavar="NAME",
        help='only the builds that run this GPU, the newest named first ("GTX 1080 Ti", "RX 7900 XTX")',
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output (docs/matrix.md)")


def run(args: argparse.Namespace, system) -> int:
    from torchup.catalog.load import load_catalog
    from torchup.matrix import matrix_view, render_matrix

    catalog = load_catalog(system.env)
    data = matrix_view(catalog, args.gpu.strip() if args.gpu else None)
    if args.json:
        from torchup.output import emit_json

        emit_json("matrix", data)
    else:
        sys.stdout.write(render_matrix(data))
    for w in catalog.warnings:
        print(f"torchup: warning: {w}", file=sys.stderr)
    return EXIT_OK
