"""What planning a fleet costs: 10, 100 and 1,000 machine files.

    .venv/bin/python bench/bench_fleet.py [--runs N] [--sizes 10,100,1000]

Two fleets per size, written as machine files into a temporary directory:

- *cluster*: a realistic mix (V100, A100, H100 and L4 nodes on a few driver versions, a Grace
  node, CPU-only login nodes), every node with its own GPU UUIDs, host Python patch level and
  interpreter path, so the files differ but the nodes collapse into a few kinds;
- *distinct*: the worst case, no two nodes alike (each its own driver build), so every file is
  judged on its own.

For each: loading the files, collapsing and judging (``classify``), the one build with its
trade-offs (``plan_one``), the groups (``plan_groups``), the plan of every group
(``resolve_group``), and ``torchup fleet plan DIR --groups --json`` as a fresh process.
Median and worst of ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from torchup.catalog.load import load_catalog  # noqa: E402
from torchup.fleet import planning  # noqa: E402
from torchup.plan import Request  # noqa: E402

KINDS = [  # (share of the fleet, GPU name, compute capability, GPUs per node, arch, drivers seen)
    (0.25, "Tesla V100-SXM2-32GB", "7.0", 8, "x86_64", ("535.183.01", "550.127.05")),
    (0.30, "NVIDIA A100-SXM4-80GB", "8.0", 8, "x86_64", ("550.127.05", "570.133.20")),
    (0.25, "NVIDIA H100 80GB HBM3", "9.0", 8, "x86_64", ("570.133.20", "580.65.06")),
    (0.15, "NVIDIA L4", "8.9", 4, "x86_64", ("570.133.20",)),
    (0.03, "NVIDIA GH200 480GB", "9.0", 1, "aarch64", ("580.65.06",)),
    (0.02, None, None, 0, "x86_64", (None,)),
]


def node(i: int, kind: tuple, distinct: bool) -> dict:
    _, name, cc, count, arch, drivers = kind
    driver = drivers[i % len(drivers)]
    if distinct:
        driver = f"{550 + i % 60}.{i // 60 % 100}.{i % 7:02d}"
    gpus = [
        {
            "vendor": "nvidia",
            "name": name,
            "compute_capability": cc,
            "memory_mib": 81559,
            "uuid": f"GPU-{i:08x}-{g:04x}-0000-0000-000000000000",
            "driver_loaded": True,
        }
        for g in range(count)
    ]
    return {
        "format": "torchup/probe",
        "version": 1,
        "os": "linux",
        "arch": arch,
        "python": f"3.11.{i % 10}",
        "python_executable": f"/home/user{i}/.venv/bin/python",
        "libc": "glibc 2.35",
        "nvidia_driver": driver if count else None,
        "gpus": gpus,
        "sources": {"nvidia_driver": "/sys/module/nvidia/version"},
    }


def write_fleet(directory: Path, size: int, distinct: bool) -> None:
    directory.mkdir(parents=True)
    i = 0
    for share, *rest in KINDS:
        for _ in range(max(1, round(share * size))):
            if i >= size:
                break
            (directory / f"node{i:05d}.json").write_text(json.dumps(node(i, (share, *rest), distinct)))
            i += 1
    while i < size:
        (directory / f"node{i:05d}.json").write_text(json.dumps(node(i, KINDS[0], distinct)))
        i += 1


def timed(fn, runs: int) -> tuple[float, float, object]:
    times, out = [], None
    for _ in range(runs):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), max(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sizes", default="10,100,1000")
    args = ap.parse_args()
    from torchup.commands.fleet import load_fleet

    catalog = load_catalog({})
    request = Request()
    print(
        f"{'fleet':<16}{'kinds':>6}  {'load':>8}{'classify':>10}{'one':>8}{'groups':>8}{'plans':>8}{'CLI':>8}  (s, median; worst)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            for distinct in (False, True):
                d = Path(tmp) / f"{size}-{'distinct' if distinct else 'cluster'}"
                write_fleet(d, size, distinct)
                load = timed(lambda d=d: load_fleet(str(d)), args.runs)
                machines = load[2]
                cls = timed(lambda m=machines: planning.classify(m, request, catalog), args.runs)
                classes = cls[2]
                one = timed(lambda c=classes: planning.plan_one(c), args.runs)
                groups = timed(lambda c=classes: planning.plan_groups(c), args.runs)
                plans = timed(
                    lambda g=groups[2]: [planning.resolve_group(x, request, catalog) for x in g.groups], args.runs
                )
                cmd = [sys.executable, "-m", "torchup", "fleet", "plan", str(d), "--groups", "--json"]
                env = {**os.environ, "NO_COLOR": "1"}
                cli = timed(
                    lambda cmd=cmd, env=env: subprocess.run(cmd, capture_output=True, env=env, check=False), args.runs
                )
                label = f"{size} {'distinct' if distinct else 'cluster'}"
                cells = [load, cls, one, groups, plans, cli]
                print(
                    f"{label:<16}{len(classes):>6}  "
                    + "".join(f"{m:>8.2f}" for m, _, _ in cells)
                    + "   worst "
                    + " ".join(f"{w:.2f}" for _, w, _ in cells)
                )


if __name__ == "__main__":
    main()
