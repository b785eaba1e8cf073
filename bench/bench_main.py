"""The main job's speed: probe + catalog + resolve + render, in process and as a whole
`torchup` process, side by side with `python -m torchruntime info`.

    .venv/bin/python bench/bench_main.py [--runs N] [--torchruntime-python PATH]

In-process numbers exclude interpreter start-up (the target-Python probe script
is included: it is part of torchup's work).  The process comparison runs each
command N times and prints the medians and their ratio.  torchruntime is
installed from the package index pip is configured with into a throwaway venv
(unless --torchruntime-python names one that has it); if that fails, the
script says so and compares nothing.
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from torchup import render  # noqa: E402
from torchup.catalog.load import load_catalog  # noqa: E402
from torchup.commands.plan import load_inputs  # noqa: E402
from torchup.plan import Request  # noqa: E402
from torchup.probe import probe_machine  # noqa: E402
from torchup.resolve import resolve  # noqa: E402
from torchup.system import system_from_env  # noqa: E402

BUDGET_MS = 100.0


BEST: dict[str, float] = {}


def timed(fn, runs: int, name: str = "") -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    BEST[name] = min(times)
    return statistics.median(times), result


def in_process(runs: int) -> float:
    system = system_from_env()
    python = sys.executable
    probe_ms, machine = timed(lambda: probe_machine(system, python=python), runs, "probe_machine")
    catalog_ms, catalog = timed(lambda: load_catalog(system.env), runs, "load_catalog")
    resolve_ms, plan = timed(lambda: resolve(machine, Request(), catalog), runs, "resolve")
    render_ms, _ = timed(lambda: render.render_commands(plan, python=python), runs, "render (5 managers)")

    def whole():
        # as `torchup` does it: the catalog is parsed while the probe waits on its subprocesses
        (m,), catalog = load_inputs(system, None, python)
        p = resolve(m, Request(), catalog)
        return render.render_commands(p, python=python)

    total_ms, _ = timed(whole, runs, "all of it")
    print(f"in process, {runs} runs (interpreter start-up excluded):   median      best")
    for name, ms in (("probe_machine", probe_ms), ("load_catalog", catalog_ms), ("resolve", resolve_ms),
                     ("render (5 managers)", render_ms), ("all of it", total_ms)):
        print(f"  {name:22s} {ms:8.2f} ms {BEST[name]:8.2f} ms")
    verdict = "OK" if total_ms < BUDGET_MS else "OVER BUDGET"
    print(f"  budget {BUDGET_MS:.0f} ms (median): {verdict}")
    print(f"  (catalog + resolve + render alone: {catalog_ms + resolve_ms + render_ms:.1f} ms; the rest is the probe,"
          " mostly the target-Python script)")
    if hasattr(os, "getloadavg"):
        print(f"  load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return total_ms


def process_ms(argv: list[str], runs: int, env: dict) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        times.append((time.perf_counter() - start) * 1000)
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr[-500:]}")
    return statistics.median(times)


def torchruntime_python(explicit: str | None, workdir: Path) -> str | None:
    if explicit:
        return explicit
    venv = workdir / "torchruntime-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
    py = str(venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))
    r = subprocess.run([py, "-m", "pip", "install", "-q", "torchruntime"], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        print(f"torchruntime is not installable here (pip said: {r.stderr.strip().splitlines()[-1:]})")
        return None
    return py


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--torchruntime-python", help="a Python that already has torchruntime")
    args = ap.parse_args()

    in_process(args.runs)

    env = dict(os.environ, NO_COLOR="1")
    torchup_argv = [str(Path(sys.executable).parent / "torchup"), "--python", sys.executable]
    if not Path(torchup_argv[0]).exists():
        torchup_argv = [sys.executable, "-m", "torchup", "--python", sys.executable]
    ours = process_ms(torchup_argv, args.runs, env)
    with tempfile.TemporaryDirectory() as tmp:
        trt = torchruntime_python(args.torchruntime_python, Path(tmp))
        print(f"\nwhole process, median of {args.runs}:")
        print(f"  torchup (plan)            {ours:8.1f} ms")
        if trt is None:
            return
        theirs = process_ms([trt, "-m", "torchruntime", "info"], args.runs, env)
        print(f"  torchruntime info         {theirs:8.1f} ms")
        print(f"  ratio torchup / torchruntime: {ours / theirs:.2f}")
        print("  (torchup also reads the NVIDIA/AMD/Intel state, runs the target-Python script and "
              "resolves ~500 candidate builds; torchruntime info reads the PCI bus and prints a platform name)")


if __name__ == "__main__":
    main()
