#!/usr/bin/env python3
"""Record PyPI's facts on the packages built against torch into src/torchup/catalog/data/stack.json.

    python scripts/stack_metadata.py [--cache DIR] [--offline] [--since YYYY-MM-DD] [--date YYYY-MM-DD]

For every package of stack.json whose ``hosts`` include ``pypi``: each final release
uploaded since ``--since`` (default 2023-01-01) with its version, upload day,
Requires-Python, the Requires-Dist entries on torch (from the PEP 658 metadata of one
of its wheels, a Linux x86_64 one when there is one) and the tags of all its wheels.
The index is the one pip is configured with (scripts/pypi_metadata.py).  Only the
``releases`` of those packages and the ``read`` day are rewritten; the hand-recorded
facts (hosts, encoding, listings, builds, table, sources: docs/stack.md) are kept as they are.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import sys
from pathlib import Path
from urllib.parse import urljoin

from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))

import pypi_metadata  # noqa: E402

from torchup.catalog.stack import release_record, torch_requirements  # noqa: E402
from torchup.metadata import canonical_name  # noqa: E402

OUT = ROOT / "src" / "torchup" / "catalog" / "data" / "stack.json"


def _version_of(filename: str):
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        return parse_sdist_filename(filename)[1]
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion, ValueError):
        return None


def _metadata_file(files: list[dict]) -> dict | None:
    wheels = [f for f in files if f["filename"].endswith(".whl")]
    wheels.sort(key=lambda f: ("linux" not in f["filename"] or "x86_64" not in f["filename"], f["filename"]))
    return next(iter(wheels), None)


def releases_of(fetcher: pypi_metadata.Fetcher, base: str, name: str, since: str, fresh: bool) -> list[dict]:
    page = fetcher.project(base, name, fresh=fresh)
    by_version: dict = collections.defaultdict(list)
    for f in page["files"]:
        if f.get("yanked"):
            continue
        v = _version_of(f["filename"])
        if v is None or v.is_prerelease or v.is_devrelease:
            continue
        by_version[v].append(f)
    out = []
    for v in sorted(by_version):
        files = by_version[v]
        first = min((f.get("upload-time") or "9999")[:10] for f in files)
        if first < since:
            continue
        meta = _metadata_file(files)
        reqs: tuple[str, ...] = ()
        if meta is not None:
            # PEP 691 allows URLs relative to the page
            meta = {**meta, "url": urljoin(f"{base}/{name}/", meta["url"])}
            reqs = torch_requirements(fetcher.wheel_metadata(meta))
        record = release_record(
            str(v),
            [(f["filename"], f.get("upload-time"), f.get("requires-python")) for f in files],
            reqs,
            source="PYPI",
        )
        if meta is None and record["sdist"]:
            record["requires_torch_unknown"] = "only an sdist: its torch requirement is known after a build"
        out.append(record)
        print(f"  {name} {v}: torch {', '.join(reqs) or '-'}; {len(record['wheels'])} wheel tags", file=sys.stderr)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "torchup-maintainer" / "pypi")
    ap.add_argument("--offline", action="store_true", help="use only cached PyPI answers")
    ap.add_argument("--fresh", action="store_true", help="re-read the project pages (metadata stays cached)")
    ap.add_argument("--since", default="2023-01-01")
    ap.add_argument("--date", default=dt.date.today().isoformat())
    ap.add_argument("--only", action="append", help="read only this package (repeatable)")
    args = ap.parse_args()
    data = json.loads(OUT.read_text())
    fetcher = pypi_metadata.Fetcher(args.cache, offline=args.offline)
    base = pypi_metadata.index_url()
    for name, facts in data["packages"].items():
        if "pypi" not in facts["hosts"] or (args.only and canonical_name(name) not in map(canonical_name, args.only)):
            continue
        print(f"{name}:", file=sys.stderr)
        facts["releases"] = releases_of(fetcher, base, facts.get("pypi_name", name), args.since, args.fresh)
    data["read"] = args.date
    OUT.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    print(f"wrote {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
