#!/usr/bin/env python3
"""What `torchup site` costs: the page's size and the time to write it (median of the runs).

    python bench/bench_site.py [--runs 3] [--workers N] [--no-packages]

Each run is the real command in a fresh interpreter (`python -m torchup site DIR --json`),
with the embedded catalog (an empty cache folder); it prints the wall time of the whole
command, the time torchup itself reports for computing every answer and writing the page,
the points of the selector space, the distinct answers, and the page's size (bytes, and
gzip-compressed as a web server would send it).  On a loaded machine the times grow: note
the load average printed with them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, help="passed to torchup site (default: its own, one per CPU)")
    ap.add_argument("--no-packages", action="store_true", help="passed to torchup site: the page without packages")
    args = ap.parse_args()
    extra = (["--workers", str(args.workers)] if args.workers else []) + (["--no-packages"] if args.no_packages else [])
    walls, computes, facts = [], [], {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHUP_")}
        env["TORCHUP_CACHE_DIR"] = str(Path(tmp) / "cache")
        for i in range(args.runs):
            start = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-m", "torchup", "site", str(Path(tmp) / f"out{i}"), "--json", *extra],
                capture_output=True, text=True, check=True, env=env,
            )
            walls.append(time.perf_counter() - start)
            facts = json.loads(out.stdout)
            computes.append(facts["seconds"])
        page = Path(facts["path"]).read_bytes()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"points of the selector space: {facts['points']} ({facts['gpus']} GPU models in {facts['gpu_classes']} "
          f"classes, {facts['packages']} optional packages), computed in {facts['workers']} processes")
    print(f"distinct answers: {facts['answers']}")
    print(f"page: {len(page)} bytes ({len(page) / 1024:.0f} KiB), gzip: {len(gzip.compress(page)) / 1024:.0f} KiB")
    print(f"torchup site, whole command: median {statistics.median(walls):.1f} s over {args.runs} runs "
          f"(min {min(walls):.1f}, max {max(walls):.1f})")
    print(f"  of which computing the answers and the page: median {statistics.median(computes):.1f} s")
    print(f"  per point: {statistics.median(computes) / facts['points'] * 1e3:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
