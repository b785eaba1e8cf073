#!/usr/bin/env python3
"""How long loading the catalog and answering a question takes (medians, ms).

    python bench/bench_catalog.py [--runs 30]

- cold: a fresh interpreter imports torchup.catalog.load, loads the embedded
  snapshot, and asks which builds of the newest releases run on an RTX 4090 with
  driver 550 and Python 3.12 on Linux x86_64 (the work `torchup plan` needs);
  the interpreter start-up itself is measured apart and subtracted.
- warm: the same, repeated in one process (load + question).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

QUESTION = """
import time
t0 = time.perf_counter()
from torchup.catalog.load import load_catalog
from torchup.catalog import rules
from torchup.machine import Gpu
t1 = time.perf_counter()
cat = load_catalog({})
t2 = time.perf_counter()
gpu = Gpu(vendor="nvidia", name="NVIDIA GeForce RTX 4090")
ok = [b for b in cat.builds(os="linux", arch="x86_64", python="cp312")
      if rules.why_not_gpu(b, gpu) is None and rules.why_not_driver(b, "550.54.14", "linux")[0] is None
      and rules.why_not_platform(b, "linux", "x86_64", libc="glibc 2.35") is None]
t3 = time.perf_counter()
assert ok
print(f"{(t1-t0)*1e3:.3f} {(t2-t1)*1e3:.3f} {(t3-t2)*1e3:.3f}")
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    imp, load, ask = [], [], []
    for _ in range(args.runs):
        out = subprocess.run([sys.executable, "-c", QUESTION], capture_output=True, text=True, check=True).stdout
        a, b, c = (float(x) for x in out.split())
        imp.append(a)
        load.append(b)
        ask.append(c)
    print(f"cold process, median of {args.runs}: import {statistics.median(imp):.2f} ms, "
          f"load {statistics.median(load):.2f} ms, question {statistics.median(ask):.2f} ms, "
          f"load+question {statistics.median([b + c for b, c in zip(load, ask)]):.2f} ms")

    from torchup.catalog import rules
    from torchup.catalog.load import load_catalog
    from torchup.machine import Gpu

    gpu = Gpu(vendor="nvidia", name="NVIDIA GeForce RTX 4090")
    warm = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        cat = load_catalog({})
        [b for b in cat.builds(os="linux", arch="x86_64", python="cp312") if rules.why_not_gpu(b, gpu) is None]
        warm.append((time.perf_counter() - t0) * 1e3)
    print(f"warm process, median of {args.runs}: load+question {statistics.median(warm):.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
