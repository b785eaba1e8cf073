"""How long probing takes: median wall time of each part over repeated runs.

    .venv/bin/python bench/bench_probe.py [--runs N] [--python PATH]

Parts: the file-only phase (no subprocess) on this host and on a replayed
machine; the target-Python script; the whole ``probe_machine``; ``torchup
probe --json`` as a fresh process (start-up included).  No cache anywhere:
every run reads and runs everything again (``probe`` never uses the interpreter-facts
cache; ``plan`` does: bench_main.py times both).

The replayed H100 runs with only the fake tools on PATH, so its target Python is the
interpreter running this script (a pyenv shim, which ``--python auto`` may pick, needs
``bash`` and ``pyenv`` on PATH and cannot run there).  A part that fails prints why and
the script exits 1: no row is left out silently.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from torchup.probe import probe_machine, read_file_facts  # noqa: E402
from torchup.probe.python import run_target_script  # noqa: E402
from torchup.target import find_target_python  # noqa: E402
from torchup.runner import Runner  # noqa: E402
from torchup.system import System, system_from_env  # noqa: E402


def median_ms(fn, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--python", help="target Python (default: the one running this script; "
                    "'auto' lets torchup choose, which may be a slow wrapper such as a pyenv shim)")
    args = ap.parse_args()

    host = system_from_env()
    if args.python in (None, ""):
        python, how = sys.executable, "this script"
    else:
        python, how = find_target_python(host, None if args.python == "auto" else args.python)
    machines = REPO / "tests" / "fixtures" / "machines"
    replay_env = {
        "PATH": str(machines / "h100-mig" / "bin"),
        "TORCHUP_PROBE_FIXTURES": str(REPO / "tests" / "fixtures" / "probe"),
    }
    replay = System(root=str(machines / "h100-mig" / "root"), env=replay_env, runner=Runner(replay_env))
    cli_env = {**os.environ, "NO_COLOR": "1"}
    cli = [sys.executable, "-m", "torchup", "probe", "--json", "--python", python]

    rows = [
        ("files only, this host", lambda: read_file_facts(host), args.runs),
        ("files only, replayed H100 root", lambda: read_file_facts(replay), args.runs),
        ("target-Python script", lambda: run_target_script(host, python, timeout=30), max(5, args.runs // 3)),
        ("probe_machine, this host", lambda: probe_machine(host, python=python), max(5, args.runs // 3)),
        ("probe_machine, replayed H100 (fake smi; this Python)", lambda: probe_machine(replay, python=sys.executable), max(5, args.runs // 3)),
        ("torchup probe --json (new process)", lambda: subprocess.run(cli, capture_output=True, env=cli_env, check=True), max(5, args.runs // 6)),
    ]
    print(f"target python: {python} (chosen by {how}); {sys.version.split()[0]} runs torchup")
    print(f"{'part':<50} {'median ms':>10} {'max ms':>10} {'runs':>5}")
    failed = False
    for label, fn, runs in rows:
        try:
            fn()  # warm the page cache and imports once; every measured run still does all the work
            med, worst = median_ms(fn, runs)
        except Exception as exc:  # a bench reports a failing part and goes on to the next
            print(f"{label:<50} FAILED: {type(exc).__name__}: {exc}")
            failed = True
            continue
        print(f"{label:<50} {med:>10.2f} {worst:>10.2f} {runs:>5}")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
