"""The main job's speed, whole processes side by side with ``python -m torchruntime info``.

    .venv/bin/python bench/bench_main.py [--runs N] [--fleet N]

Every case is a fresh process, timed from start to exit (interpreter start-up, imports,
probing, output: what a user waits for).  The cases run in alternation -- one run of each
per round, the order rotated every round -- so that a load that comes and goes on a shared
machine touches them alike.  Printed per case: the median wall time, the median of the
pair-by-pair ratios to torchruntime within the same round, the target (issue 15), the
peak memory of one more run (``/usr/bin/time -f %M``: the process's maximum resident set),
and the CPU time (user + system, from ``wait4``) with its ratio: on a loaded machine the wall
time moves with others' work, the CPU time much less.  The verdict is on the wall ratio.
``--instructions`` adds, per case, the instructions of one run counted by valgrind (every process
it starts included), which others' work does not move at all: shown with their ratio, no verdict.

The yardstick is ``python -m torchruntime info`` run by this interpreter: install it into the
venv for the bench only (``.venv/bin/pip install torchruntime``; torchup does not depend on
it).  Without it the ratio column is left out, and so is every verdict: no "met" or "missed"
is printed from numbers that lack their yardstick, nor when a case failed.

torchup runs as the ``torchup`` command installed beside this interpreter (``python -m
torchup`` when there is none: runpy adds a few milliseconds).  The cases: ``plan --json`` on the default target with the interpreter facts cached (after
one warm-up run), the same with ``--python`` this venv's interpreter, ``--machine FILE`` (no
probing), ``--python`` a venv with the cache emptied before each run (a miss: the target
script runs), ``--version`` (start-up alone), ``python -I -S -c pass`` (the floor), and
``--fleet`` machine files at once, and ``--machine FILE`` again with a refreshed catalog in the
cache directory (as ``torchup catalog refresh`` leaves it: its JSON and its snapshot), and with
``--with xformers`` (the stack around torch; shown for scale, no target).  A private ``TORCHUP_CACHE_DIR`` is used throughout, and
the source is byte-compiled first (``PYTHONDONTWRITEBYTECODE`` is dropped: an installed
torchup has its ``.pyc``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable

# case -> largest ratio to torchruntime info allowed (issue 15); None: no target, shown for scale
TARGETS = {
    "plan --json (facts cached, default target)": 0.6,
    "plan --json --python venv (facts cached)": 0.6,
    "plan --json --machine FILE": 0.5,
    "plan --json --machine FILE (refreshed catalog)": 0.5,
    "plan --json --python venv (cache miss)": 1.1,
}
PEAK_MIB = 20.0  # every plan case
FLEET_S, FLEET_MIB = 2.5, 80.0

FLEET_KINDS = [
    {"os": "linux", "arch": "x86_64", "python": "3.12", "libc": "glibc 2.35", "nvidia_driver": "550.54.14",
     "gpus": [{"vendor": "nvidia", "name": "NVIDIA GeForce RTX 4090", "compute_capability": "8.9"}]},
    {"os": "linux", "arch": "x86_64", "python": "3.11", "libc": "glibc 2.31", "nvidia_driver": "535.104.05",
     "gpus": [{"vendor": "nvidia", "name": "NVIDIA A100-SXM4-80GB", "compute_capability": "8.0"}]},
    {"os": "linux", "arch": "x86_64", "python": "3.12", "libc": "glibc 2.39", "nvidia_driver": "580.65.06",
     "gpus": [{"vendor": "nvidia", "name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"}]},
    {"os": "linux", "arch": "x86_64", "python": "3.12", "libc": "glibc 2.35", "rocm_version": "6.4.1",
     "gpus": [{"vendor": "amd", "name": "Radeon RX 7900 XTX", "gfx": "gfx1100"}]},
    {"os": "macos", "arch": "arm64", "python": "3.12", "macos_version": "14.5"},
    {"os": "windows", "arch": "AMD64", "python": "3.12", "nvidia_driver": "581.57",
     "gpus": [{"vendor": "nvidia", "name": "NVIDIA GeForce RTX 3060", "compute_capability": "8.6"}]},
    {"os": "linux", "arch": "aarch64", "python": "3.12", "libc": "glibc 2.35"},
    {"os": "linux", "arch": "x86_64", "python": "3.10", "libc": "glibc 2.28"},
]


REFRESHED_CACHE = """
import sys
from pathlib import Path
from torchup.catalog.load import cache_text, keep_snapshot, load_catalog
catalog = load_catalog({}, use_cache=False)
path = Path(sys.argv[1]) / "catalog.json"
path.parent.mkdir(parents=True, exist_ok=True)
path.write_text(cache_text(catalog).replace(catalog.data_date, "2999-01-01", 1))
keep_snapshot(path)
"""


def has_torchruntime() -> bool:
    r = subprocess.run([PY, "-c", "import importlib.util as u; print(u.find_spec('torchruntime') is not None)"],
                       capture_output=True, text=True)
    return r.stdout.strip() == "True"


def run_once(argv: list[str], env: dict, before=None) -> tuple[float, float]:
    """(wall ms, CPU ms: user + system) of one whole process; raises when it fails.  The CPU time
    moves less than the wall time when others load the machine: both are printed."""
    if before is not None:
        before()
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        took = (time.perf_counter() - start) * 1000
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(argv[:4])} ... exited {proc.returncode}: {err.read().decode()[-300:]}")
    return took, (usage.ru_utime + usage.ru_stime) * 1000


def peak_mib(argv: list[str], env: dict, before=None) -> float | None:
    gnu_time = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
    if gnu_time is None:
        return None
    if before is not None:
        before()
    with tempfile.NamedTemporaryFile("r") as out:
        r = subprocess.run([gnu_time, "-o", out.name, "-f", "%M", *argv], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=env, timeout=300)
        text = out.read().strip().splitlines()
    return int(text[-1]) / 1024 if r.returncode == 0 and text and text[-1].isdigit() else None


def instructions(argv: list[str], env: dict, before=None) -> int | None:
    """Instructions executed by ``argv`` and every process it starts (valgrind's callgrind, string
    hashing fixed with ``PYTHONHASHSEED=0``): a count other work on the machine does not move,
    unlike the times; None without valgrind or when the run fails."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    env = {**env, "PYTHONHASHSEED": "0"}
    if before is not None:
        before()
    else:  # warm, with this very environment (the interpreter-facts cache is keyed on PYTHON* variables)
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, timeout=120)
    with tempfile.TemporaryDirectory() as out:
        r = subprocess.run(
            [valgrind, "--tool=callgrind", "--trace-children=yes", f"--callgrind-out-file={out}/cg.%p",
             f"--log-file={out}/log.%p", *argv],  # a log per process: a child's stderr may be captured
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, timeout=600,
        )
        counts = [int(line.split(":")[-1].strip()) for log in Path(out).glob("log.*")
                  for line in log.read_text(errors="replace").splitlines() if "Collected :" in line]
    return sum(counts) if r.returncode == 0 and counts else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15, help="rounds (each runs every case once); default 15")
    ap.add_argument("--fleet", type=int, default=1000, help="machine files for the fleet case; default 1000")
    ap.add_argument("--instructions", action="store_true",
                    help="also count each case's instructions once under valgrind (slow; shown, no verdict)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="torchup-bench-"))
    cache = work / "cache"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(NO_COLOR="1", TORCHUP_CACHE_DIR=str(cache))
    subprocess.run([PY, "-m", "compileall", "-q", str(REPO / "src" / "torchup")], check=True, env=env)

    venv = work / "venv"
    subprocess.run([PY, "-m", "venv", "--without-pip", str(venv)], check=True)
    venv_py = str(venv / "bin" / "python")
    machine = work / "machine.json"
    machine.write_text(json.dumps(FLEET_KINDS[0]))
    fleet_args = []
    for i in range(args.fleet):
        path = work / "fleet" / f"m{i:04d}.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(FLEET_KINDS[i % len(FLEET_KINDS)]))
        fleet_args += ["--machine", str(path)]
    # a catalog cache as `torchup catalog refresh` leaves it after learning something (a later date)
    refreshed_env = {**env, "TORCHUP_CACHE_DIR": str(work / "refreshed-cache")}
    subprocess.run([PY, "-c", REFRESHED_CACHE, str(work / "refreshed-cache")], check=True, env=refreshed_env)
    miss_cache = work / "miss-cache"
    miss_env = {**env, "TORCHUP_CACHE_DIR": str(miss_cache)}

    def empty_miss_cache():
        shutil.rmtree(miss_cache, ignore_errors=True)

    script = Path(PY).parent / ("torchup.exe" if os.name == "nt" else "torchup")
    torchup = [str(script)] if script.exists() else [PY, "-m", "torchup"]  # the command users run
    cases: list[tuple[str, list[str], dict, object]] = [
        ("plan --json (facts cached, default target)", [*torchup, "plan", "--json"], env, None),
        ("plan --json --python venv (facts cached)", [*torchup, "plan", "--json", "--python", venv_py], env, None),
        ("plan --json --machine FILE", [*torchup, "plan", "--json", "--machine", str(machine)], env, None),
        ("plan --json --machine FILE (refreshed catalog)", [*torchup, "plan", "--json", "--machine", str(machine)],
         refreshed_env, None),
        ("plan --json --machine FILE --with xformers", [*torchup, "plan", "--json", "--machine", str(machine),
                                                        "--with", "xformers"], env, None),
        ("plan --json --python venv (cache miss)", [*torchup, "plan", "--json", "--python", venv_py], miss_env,
         empty_miss_cache),
        ("torchup --version", [*torchup, "--version"], env, None),
        ("floor: python -I -S -c pass", [PY, "-I", "-S", "-c", "pass"], env, None),
    ]
    yardstick = has_torchruntime()
    if yardstick:
        cases.insert(0, ("torchruntime info (yardstick)", [PY, "-m", "torchruntime", "info"], env, None))
    else:
        print("torchruntime is not installed in this interpreter (.venv/bin/pip install torchruntime, for the bench "
              "only): its column is skipped, and with it every ratio and verdict.\n")

    failed: dict[str, str] = {}
    for name, argv, case_env, before in cases:  # warm-up: page cache, .pyc, the interpreter-facts cache
        try:
            run_once(argv, case_env, before)
        except RuntimeError as exc:
            failed[name] = str(exc)
    times: dict[str, list[float]] = {name: [] for name, *_ in cases}
    cpu: dict[str, list[float]] = {name: [] for name, *_ in cases}
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    for round_ in range(args.runs):
        shift = round_ % len(cases)
        for name, argv, case_env, before in cases[shift:] + cases[:shift]:
            if name in failed:
                continue
            try:
                wall, used = run_once(argv, case_env, before)
            except RuntimeError as exc:
                failed[name] = str(exc)
                continue
            times[name].append(wall)
            cpu[name].append(used)
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    peaks = {name: peak_mib(argv, case_env, before) for name, argv, case_env, before in cases if name not in failed}

    yard = "torchruntime info (yardstick)"
    print(f"{args.runs} alternating rounds on {os.cpu_count()} CPUs; load average {load_before} before, "
          f"{load_after} after (a shared machine: others' work is in these numbers)")
    print(f"{'case':<45} {'median ms':>10} {'ratio':>7} {'target':>7} {'peak MiB':>9} {'CPU ms':>7} {'CPU ratio':>9}  verdict")
    all_met = True
    for name, *_ in cases:
        if name in failed:
            print(f"{name:<45} FAILED: {failed[name]}")
            all_met = False
            continue
        med = statistics.median(times[name])
        ratio = cpu_ratio = None
        if yardstick and yard not in failed and name != yard:
            ratio = statistics.median(a / b for a, b in zip(times[name], times[yard]))
            cpu_ratio = statistics.median(a / b for a, b in zip(cpu[name], cpu[yard]))
        target = TARGETS.get(name)
        peak = peaks.get(name)
        verdict = ""
        if target is not None:
            if ratio is None or peak is None or yard in failed:
                verdict = "no verdict (no yardstick or no peak)"
                all_met = False
            else:
                met = ratio <= target and peak <= PEAK_MIB
                all_met &= met
                verdict = "met" if met else "MISSED"
        print(f"{name:<45} {med:>10.1f} {'' if ratio is None else f'{ratio:.2f}x':>7} "
              f"{'' if target is None else f'{target}x':>7} {'' if peak is None else f'{peak:.1f}':>9} "
              f"{statistics.median(cpu[name]):>7.1f} {'' if cpu_ratio is None else f'{cpu_ratio:.2f}x':>9}  {verdict}")

    if args.instructions:
        counts = {name: instructions(argv, case_env, before) for name, argv, case_env, before in cases
                  if name not in failed}
        print(f"\n{'instructions (callgrind, every process)':<45} {'millions':>10} {'ratio':>7}")
        for name, count in counts.items():
            base = counts.get(yard)
            ratio_text = f"{count / base:.2f}x" if count and base and name != yard else ""
            print(f"{name:<45} {'' if count is None else f'{count / 1e6:.1f}':>10} {ratio_text:>7}")
        print()

    fleet_argv = [*torchup, "plan", "--json", *fleet_args]
    try:
        fleet_ms = statistics.median(run_once(fleet_argv, env)[0] for _ in range(3))
        fleet_peak = peak_mib(fleet_argv, env)
        met = fleet_ms <= FLEET_S * 1000 and fleet_peak is not None and fleet_peak <= FLEET_MIB
        all_met &= met
        print(f"{f'plan --json, {args.fleet} machine files':<45} {fleet_ms:>10.1f} {'':>7} {f'{FLEET_S} s':>7} "
              f"{'' if fleet_peak is None else f'{fleet_peak:.1f}':>9}  {'met' if met else 'MISSED'} "
              f"(targets: {FLEET_S} s, {FLEET_MIB:.0f} MiB; median of 3)")
    except RuntimeError as exc:
        print(f"fleet: FAILED: {exc}")
        all_met = False
    print(f"\ntargets (issue 15): ratios as listed, peak <= {PEAK_MIB:.0f} MiB for each plan case; "
          + ("all met" if all_met else "not all met (see above)"))
    shutil.rmtree(work, ignore_errors=True)
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
