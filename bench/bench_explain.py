"""How long the whole `torchup explain` process takes on logs of 1 KB, 1 MB and 100 MB, and its peak memory.

Each case runs the real command (a fresh interpreter: start-up, imports, reading, matching,
output), from a file and from standard input, alternating, and reports the median wall time,
the median CPU time (user + system, less disturbed by other work on a shared machine) and the
largest peak RSS.  The logs are pip-style noise (download lines, progress bars with CR, ANSI
colour) with one real error near the end; every run must find it.
Run: .venv/bin/python bench/bench_explain.py [--runs N] [--baseline SRC]

torchup's source (and the baseline's) is byte-compiled first and ``PYTHONDONTWRITEBYTECODE``
dropped, as an installed torchup has its ``.pyc`` (``bench_main.py`` does the same).
``--baseline SRC`` times another torchup (the ``src`` of a checkout: ``git archive REV src``)
in the same alternation, on PYTHONPATH, so before and after meet the same load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NOISE = (
    "Collecting nvidia-cublas-cu12==12.6.4.1 (from torch)\n"
    "  Downloading https://download.pytorch.org/whl/cu126/nvidia_cublas_cu12-12.6.4.1-py3-none-manylinux2014_x86_64.whl (393.1 MB)\n"
    "\x1b[38;5;197m     \u2501\u2501\u2501\u2501\u2501\u2501\u2501\u2501\u2501\u2501\x1b[0m 120.3/393.1 MB 55.1 MB/s eta 0:00:05\r"
    "Requirement already satisfied: typing-extensions>=4.10.0 in ./venv/lib/python3.12/site-packages (from torch) (4.12.2)\n"
    "2026-11-28 07:00:01,123 INFO training step 1200 loss=0.4312 lr=3.0e-4 throughput=812.5 samples/s\n"
)
ERROR = (
    "Traceback (most recent call last):\n"
    '  File "train.py", line 3, in <module>\n'
    "    import torch\n"
    "UserWarning: CUDA initialization: The NVIDIA driver on your system is too old (found version 11040).\n"
)
EXPECTED = "driver-too-old"
# issue 15's targets for the whole process, from a file and from stdin: (ms, MiB or None)
CASES = {"1 KB": (1024, 60, None), "1 MB": (1024**2, 150, None), "100 MB": (100 * 1024**2, 250, 45)}


def write_log(path: Path, size: int) -> None:
    """About ``size`` bytes: noise, the error, then two noise lines.

    Written a block at a time: this process stays small, since a child's peak RSS counts
    what it shared with its parent at the fork."""
    noise = NOISE.encode("utf-8")
    lines = max(0, (size - len(ERROR)) // len(noise) - 2)
    with open(path, "wb") as fh:
        for start in range(0, lines, 10_000):
            fh.write(noise * min(10_000, lines - start))
        fh.write((ERROR + NOISE * 2).encode("utf-8"))


def run_once(argv: list[str], stdin_path: Path | None, env: dict | None = None) -> tuple[float, float, float]:
    """(wall s, cpu s, peak RSS MiB) of one run of ``argv``; fails when the error is not found."""
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL  # noqa: SIM115 - closed below
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        out = proc.stdout.read() if proc.stdout else b""
        err = proc.stderr.read() if proc.stderr else b""
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if stdin_path:
            stdin.close()  # type: ignore[union-attr]
    if EXPECTED.encode() not in out:
        raise SystemExit(
            f"{' '.join(argv)} did not find {EXPECTED}: rc {proc.returncode}\n{out[:500]!r}\n{err[-500:]!r}"
        )
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per case and input (default 7)")
    parser.add_argument("--baseline", help="src/ of another torchup to time alongside")
    args = parser.parse_args()
    base = [sys.executable, "-m", "torchup", "explain", "--json"]
    # an installed torchup has its .pyc: with PYTHONDONTWRITEBYTECODE (as on our development
    # machines) every run would compile the modules explain imports again
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    sources = [Path(__file__).resolve().parent.parent / "src" / "torchup"]
    sides = {"": env}
    if args.baseline:
        sides["baseline "] = dict(env, PYTHONPATH=str(Path(args.baseline).resolve()))
        sources.append(Path(args.baseline).resolve() / "torchup")
    for source in sources:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(source)], check=True, env=env)
    print(f"{'case':<8} {'input':<15} {'wall ms':>8} {'cpu ms':>7} {'peak MiB':>9} {'target':>14}  within")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (size, target_ms, target_mib) in CASES.items():
            log = Path(tmp) / f"{size}.log"
            write_log(log, size)
            runs: dict[str, list[tuple[float, float, float]]] = {}
            for _ in range(args.runs):  # alternating, so a burst of load hits both alike
                for side, env in sides.items():
                    runs.setdefault(side + "file", []).append(run_once([*base, str(log)], None, env))
                    runs.setdefault(side + "stdin", []).append(run_once([*base, "-"], log, env))
            for how, rows in runs.items():
                wall = statistics.median(r[0] for r in rows) * 1000
                cpu = statistics.median(r[1] for r in rows) * 1000
                peak = max(r[2] for r in rows)
                target = f"{target_ms} ms" + (f", {target_mib} MiB" if target_mib else "")
                within = wall <= target_ms and (target_mib is None or peak <= target_mib)
                print(
                    f"{name:<8} {how:<15} {wall:8.0f} {cpu:7.0f} {peak:9.1f} {target:>14}  {'yes' if within else 'NO'}"
                )
    floor = statistics.median(
        run_once([sys.executable, "-I", "-S", "-c", f"print('{EXPECTED}')"], None)[0] for _ in range(args.runs)
    )
    print(f"floor: python -I -S -c pass {floor * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
