#!/usr/bin/env python3
"""How many plans for the tests' machines rest on catalog facts no primary source confirmed.

    python scripts/count_unconfirmed_plans.py [--catalog FILE] [--list]

The machines are those the resolve tests plan for: every case of
tests/test_resolve_machines.py (machines written out in the test) and every recorded
machine of tests/test_resolve_replay.py (the real probe replayed over
tests/fixtures/machines, pinned to Python 3.12 / glibc 2.35 as the test does).  Each is
resolved with the default request against the embedded catalog (or --catalog FILE, to
count for another snapshot, e.g. one from git: ``git show REV:src/torchup/catalog/data/catalog.json``).
A plan counts when one of its warnings says "no primary source confirmed"; refusals are
counted apart.  It prints the totals, and with --list each plan's machine and build.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from torchup.record import replace  # noqa: E402
from tests import test_resolve_machines, test_resolve_replay  # noqa: E402
from tests.test_probe_replay import replay  # noqa: E402

from torchup.catalog.load import catalog_from_dict, load_catalog  # noqa: E402
from torchup.plan import Plan, Request  # noqa: E402
from torchup.resolve import resolve  # noqa: E402

MARK = "no primary source confirmed"


def machines():
    """(name, machine, request) for every machine the resolve tests plan for."""
    for case in test_resolve_machines.CASES:
        yield case.id, case.machine, case.request
    with tempfile.TemporaryDirectory() as tmp:
        for fixture, *_ in test_resolve_replay.CASES:
            where = Path(tmp) / fixture
            where.mkdir()
            machine = replace(replay(fixture, where, timeout=5), python="3.12", libc="glibc 2.35", free_threaded=False)
            yield f"recorded: {fixture}", machine, Request()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--catalog", type=Path, help="a catalog.json to count for (default: the embedded snapshot)")
    ap.add_argument("--list", action="store_true", help="print each plan and whether it carries the warning")
    args = ap.parse_args(argv)
    if args.catalog:
        catalog = catalog_from_dict(json.loads(args.catalog.read_text()), origin=str(args.catalog))
    else:
        catalog = load_catalog(use_cache=False)
    plans = warned = refused = 0
    for name, machine, request in machines():
        result = resolve(machine, request, catalog)
        if not isinstance(result, Plan):
            refused += 1
            if args.list:
                print(f"refused     {name}")
            continue
        plans += 1
        hit = any(MARK in w for w in result.warnings)
        warned += hit
        if args.list:
            print(f"{'unconfirmed' if hit else 'confirmed  '} {result.base_version} {result.variant:<9} {name}")
    print(f"{plans} plans, {warned} carry the unconfirmed-facts warning, {plans - warned} do not; {refused} refusals")
    return 0


if __name__ == "__main__":
    sys.exit(main())
