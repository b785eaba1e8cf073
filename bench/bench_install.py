"""torchup install vs the same install run directly, side by side on the local index.

    .venv/bin/python bench/bench_install.py [--runs 5] [--manager pip|uv|both] [--torch-mb 200]
    .venv/bin/python bench/bench_install.py --snapshot   # snapshot/restore methods on the real torch
    .venv/bin/python bench/bench_install.py --baseline /tmp/old/src   # also an older torchup, same runs

``--baseline`` takes the ``src`` directory of another torchup checkout (``git archive REV src``)
and times it as a third side in the same alternation, so before/after compare at the same moment.

Each run installs torch 2.14.1+cu126 (a synthetic wheel shaped like the real one:
--torch-files files and --torch-mb MB, plus three NVIDIA stand-ins of a quarter of that
each) over torch 2.9.1+cpu (as many files) in a fresh copy of the same venv, from a PyTorch-like index on 127.0.0.1, with a warm package cache
for both sides (``--cold``: an empty one before every install).  The two sides alternate; the medians are compared.

``--previous``: the torchup side's venv also holds the snapshot of an earlier torchup install
(a hard-link mirror of the whole old environment), as it does from the second install on;
torchup deletes it while the manager runs.

Besides the medians it prints the median of the paired differences (each round's two runs
are close in time) and, for uv, uv's own "Prepared" time (download and unpack) per side:
on a shared disk that phase alone swings from 1.5 to 10 s between runs, whichever side runs
it.  ``--detail`` prints every run with uv's phases and the page cache not yet written back.
``TMPDIR=/dev/shm`` puts everything (index files, caches, venvs) in memory, which takes the
disk out of the comparison.

torchup is timed from compiled bytecode, as installed (the source tree is compiled first).
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from tests.support import install_env as ie  # noqa: E402
from tests.support.index_server import IndexServer  # noqa: E402


def _env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "TORCHUP_"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", UV_NO_CONFIG="1",
               UV_CACHE_DIR=str(tmp / "uv-cache"), PIP_CACHE_DIR=str(tmp / "pip-cache"), NO_COLOR="1")
    return ie.tool_env(env, tmp)


def _timed(argv: list[str], env: dict) -> tuple[float, str]:
    """Wall seconds of ``argv`` and its output."""
    start = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return elapsed, r.stdout + r.stderr


_UV_PHASE = re.compile(r"^(Resolved|Prepared|Uninstalled|Installed) \d+ packages? in ([\d.]+)(ms|s)\b", re.M)


def uv_phases(output: str) -> dict[str, float]:
    """uv's own summary lines ("Prepared 4 packages in 2.31s") as seconds per phase."""
    return {m[1]: float(m[2]) / (1000 if m[3] == "ms" else 1) for m in _UV_PHASE.finditer(output)}


def _dirty_mb() -> float:
    """Page cache not yet written back (Dirty + Writeback in /proc/meminfo), in MB."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    except OSError:
        return float("nan")
    return sum(int(fields.get(k, "0 kB").split()[0]) for k in ("Dirty", "Writeback")) / 1024


def _plant_previous_snapshot(python: Path) -> None:
    """What an earlier ``torchup install`` leaves: the snapshot of the environment before it."""
    from torchup.install.snapshot import mark, take_snapshot
    from torchup.install.target import inspect_target
    from torchup.runner import Runner

    mark(take_snapshot(inspect_target(Runner(), str(python))), "installed")


def bench_manager(manager: str, runs: int, server: IndexServer, template: Path, tmp: Path, env: dict,
                  cold: bool = False, baseline: str | None = None, previous: bool = False,
                  detail: bool = False) -> None:
    from torchup.install.execute import manager_argv
    from torchup.commands.install import plan_from_json
    import json

    plan_path = ie.plan_file(tmp / "plan.json", server)
    plan = plan_from_json(json.loads(plan_path.read_text()))
    direct, wrapped, own, base, base_own = [], [], [], [], []
    prepared: dict[str, list[float]] = {}  # uv's own "Prepared N packages in ..." (download, unpack) per side
    sides = ("direct", "torchup", "baseline") if baseline else ("direct", "torchup")
    for i in range(runs + 1):  # run 0 warms the cache and is not counted
        for side in sides[i % len(sides):] + sides[:i % len(sides)]:
            if cold:  # every install downloads and unpacks again, as for a torch not seen before
                for key in ("PIP_CACHE_DIR", "UV_CACHE_DIR"):
                    shutil.rmtree(env[key], ignore_errors=True)
            dest = tmp / f"{manager}-{side}-{i}"
            python = ie.copy_venv(template, dest)
            if previous and side != "direct":
                _plant_previous_snapshot(python)
            if side == "direct":
                argv = manager_argv(plan, manager, python=str(python), program=shutil.which("uv", path=env["PATH"]))
            else:  # torchup, or the baseline torchup (the same command, another source tree)
                argv = [sys.executable, "-m", "torchup", "install", "--plan", str(plan_path), "--python", str(python),
                        "--manager", manager, "--yes", "--no-verify", "--log", str(tmp / f"log-{manager}-{i}")]
            if side == "baseline":
                argv[-1] += "-base"
            dirty = _dirty_mb()
            t, output = _timed(argv, dict(env, PYTHONPATH=baseline) if side == "baseline" else env)
            if side != "direct":
                output = Path(argv[-1]).read_text(errors="replace")
            phases = uv_phases(output)
            if detail:
                print(f"      run {i} {side:8} {t:7.3f} s   dirty+writeback at start {dirty:6.0f} MB   "
                      + " ".join(f"{k.lower()} {v:.2f}" for k, v in phases.items()), flush=True)
            if i:
                {"direct": direct, "torchup": wrapped, "baseline": base}[side].append(t)
                prepared.setdefault(side, []).append(phases.get("Prepared", float("nan")))
                if side != "direct":
                    (own if side == "torchup" else base_own).append(_before_manager(Path(argv[-1])))
            shutil.rmtree(dest)
    d, w = statistics.median(direct), statistics.median(wrapped)
    print(f"{manager:4}{' cold' if cold else ' warm'}{' previous-snapshot' if previous else ''}  direct median {d:7.3f} s   torchup install median {w:7.3f} s   "
          f"overhead {w - d:+.3f} s ({(w - d) / d * 100:+.1f}%)   runs={runs}")
    print(f"      paired: median of (torchup - direct) over the {runs} rounds {statistics.median(w - x for w, x in zip(wrapped, direct)):+.3f} s")
    print(f"      torchup's own time before the manager starts (inspect, preflight, snapshot): "
          f"median {statistics.median(own):.2f} s")
    prepared = {side: [x for x in v if x == x] for side, v in prepared.items()}  # not nan: uv said it
    if all(prepared.values()) and prepared:  # a warm cache has nothing to prepare
        print("      uv's own download-and-unpack phase (Prepared): median "
              + ", ".join(f"{side} {statistics.median(v):.3f} s" for side, v in prepared.items()))
    print(f"      direct: {' '.join(f'{x:.3f}' for x in direct)}")
    print(f"      torchup: {' '.join(f'{x:.3f}' for x in wrapped)}")
    if base:
        b = statistics.median(base)
        print(f"      baseline torchup ({baseline}): median {b:7.3f} s, overhead {b - d:+.3f} s "
              f"({(b - d) / d * 100:+.1f}%), before the manager {statistics.median(base_own):.2f} s")
        print(f"      baseline: {' '.join(f'{x:.3f}' for x in base)}")


def _add_unrelated(template: Path, tmp: Path, files: int, env: dict) -> None:
    """Install a package that torch neither needs nor touches, with ``files`` modules (an
    environment that also holds pandas, scipy, jupyter...), into the template venv."""
    from tests.support.wheels import make_wheel

    many = {f"unrelated_big/d{i // 500}/m{i}.py": f"X = {i}\n" * 20 for i in range(files)}
    wheel = make_wheel(tmp / "extra", "unrelated-big", "1.0", files=many)
    subprocess.run([str(template / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                    str(wheel)], check=True, env=env, timeout=600)


def _before_manager(log: Path) -> float:
    """Seconds from torchup's start to the manager's start, from the log's time stamps."""
    for line in log.read_text(errors="replace").splitlines():
        if "torchup: running:" in line and line.startswith("["):
            return float(line[1:line.index("s]")])
    return float("nan")


def bench_snapshot(tmp: Path) -> None:
    """Three ways to be able to put torch back, on a venv holding the real torch 2.13.0."""
    from torchup.install.snapshot import restore, take_snapshot
    from torchup.install.target import inspect_target
    from torchup.runner import Runner

    wheel = Path("/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")
    venv = tmp / "real"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", str(wheel)], check=True)  # host config: local store
    target = inspect_target(Runner(), str(py))
    site = Path(target.site_dirs[0])
    files = sum(len(f) for _, _, f in os.walk(site))
    print(f"real torch venv: {files} files in site-packages")

    t = time.perf_counter(); snap = take_snapshot(target); t_link = time.perf_counter() - t
    shutil.rmtree(site / "torch")  # what an uninstall does
    t = time.perf_counter(); rep = restore(snap); t_restore = time.perf_counter() - t
    assert not rep.errors
    print(f"hard-link snapshot: take {t_link:.2f} s, restore after torch/ was deleted {t_restore:.2f} s "
          f"({rep.restored} entries put back), extra disk ~0 until the originals are replaced")

    t = time.perf_counter(); shutil.copytree(site, tmp / "copy", symlinks=True); t_copy = time.perf_counter() - t
    print(f"full copy of site-packages: {t_copy:.2f} s (and as much disk again)")

    cache = tmp / "wheels"
    t = time.perf_counter()
    subprocess.run([str(py), "-m", "pip", "uninstall", "-y", "-q", "torch"], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    t_pip = time.perf_counter() - t
    print(f"pip reinstall of the kept wheel (uninstall + install --no-deps --no-index): {t_pip:.2f} s")
    del cache


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--manager", choices=("pip", "uv", "both"), default="both")
    ap.add_argument("--torch-mb", type=int, default=190, help="incompressible payload of the new torch wheel (real 2.13.0 CPU: 192 MB)")
    ap.add_argument("--torch-files", type=int, default=12000, help="files in each torch wheel (real 2.13.0 CPU: 12,248)")
    ap.add_argument("--cold", action="store_true", help="empty the package cache before every install")
    ap.add_argument("--unrelated-files", type=int, default=0,
                    help="also install a package of that many files that the install does not touch")
    ap.add_argument("--previous", action="store_true",
                    help="give the torchup side the snapshot of an earlier install to delete, as from the second install on")
    ap.add_argument("--detail", action="store_true",
                    help="print every run: its time, the unwritten page cache at its start, and uv's own phase times")
    ap.add_argument("--baseline", help="src/ of an older torchup to time as a third side (before/after)")
    ap.add_argument("--snapshot", action="store_true", help="measure the snapshot methods on the real torch instead")
    args = ap.parse_args()
    # an installed torchup has its bytecode written at install time; a source checkout run with
    # PYTHONDONTWRITEBYTECODE=1 (as on our development machines) would compile every module on
    # every run and time that too
    for src in (REPO / "src", *([Path(args.baseline)] if args.baseline else [])):
        compileall.compile_dir(str(src), quiet=1)
    with tempfile.TemporaryDirectory(prefix="torchup-bench-") as d:
        tmp = Path(d)
        if args.snapshot:
            bench_snapshot(tmp)
            return
        env = _env(tmp)
        wheels = ie.build_wheels(tmp / "wheels", pad=args.torch_mb << 20, nvidia_pad=(args.torch_mb << 20) // 4,
                                 torch_files=args.torch_files)
        with IndexServer(missing_status=403) as server:
            ie.serve(server, wheels)
            template = ie.make_template_venv(tmp / "template", server, env)
            if args.unrelated_files:
                _add_unrelated(template, tmp, args.unrelated_files, env)
            for manager in ("pip", "uv") if args.manager == "both" else (args.manager,):
                bench_manager(manager, args.runs, server, template, tmp, env, cold=args.cold,
                              baseline=os.path.abspath(args.baseline) if args.baseline else None,
                              previous=args.previous, detail=args.detail)


if __name__ == "__main__":
    main()
