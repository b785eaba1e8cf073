"""`torchup install --dry-run` and `torchup verify`, each side by side with its yardstick.

    .venv/bin/python bench/bench_dry_run_verify.py [--runs 7] [--torch-venv DIR] [--baseline SRC]

torchup runs as the ``torchup`` command installed beside this interpreter (``python -m torchup``
when there is none: runpy adds a few milliseconds), as in ``bench_main.py``.

dry run: `torchup install --plan FILE --python VENV --dry-run --manager uv` (target inspection,
the index check against the loopback index, the plan shown) against `uv pip install --dry-run`
of the same pin from the same index (uv resolves and prints what it would do).  The venv holds
torch 2.9.1+cpu from a PyTorch-like index on 127.0.0.1 (tests/support).

verify: `torchup verify --python PY --json` against `PY -c "import torch"` in a venv with the real
CPU torch 2.13.0 (``--torch-venv``, made with `pip install torch==2.13.0` when it has no torch:
pip takes that wheel from this machine's disk).

The sides alternate, each run is a whole process; the table has the medians of wall time, of
CPU time (user + system of the process and its children) and the median of the per-round
ratios, so a burst of load on a shared machine hits both sides alike.  torchup's source is
byte-compiled first and ``PYTHONDONTWRITEBYTECODE`` dropped, as ``bench_main.py`` does.
``--baseline SRC`` runs the dry run of another torchup (its ``src``: ``git archive REV src``) as a
third side in the same rounds.  Issue 15's targets:
dry run <= 120 ms, verify <= 1.05x a bare `import torch`.
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
sys.path.insert(0, str(REPO))

from tests.support import install_env as ie  # noqa: E402
from tests.support.index_server import IndexServer  # noqa: E402


def _timed(argv: list[str], env: dict) -> tuple[float, float]:
    """(wall s, CPU s of it and its children) of one run; fails loudly when it fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{out.decode(errors='replace')[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def _side_by_side(
    name: str, ours: list[str], theirs: list[str], env: dict, runs: int, target: str, baseline: dict | None = None
) -> None:
    """``baseline``: the environment of another torchup (PYTHONPATH), run as a third side in the same rounds."""
    rows: list[tuple[tuple[float, float], ...]] = []
    sides = [(ours, env), (theirs, env)] + ([(ours, baseline)] if baseline else [])
    for argv, side_env in sides:  # warm the page cache and any cache the tools keep
        _timed(argv, side_env)
    for _ in range(runs):
        rows.append(tuple(_timed(argv, side_env) for argv, side_env in sides))
    med = [statistics.median(row[i][k] for row in rows) * 1000 for i in range(len(sides)) for k in (0, 1)]
    ratio = statistics.median(row[0][0] / row[1][0] for row in rows)
    print(
        f"{name:<9} torchup {med[0]:6.0f} ms (cpu {med[1]:5.0f})   yardstick {med[2]:6.0f} ms (cpu {med[3]:5.0f})"
        f"   ratio {ratio:4.2f}   target {target}"
    )
    if baseline:
        ratio = statistics.median(row[2][0] / row[1][0] for row in rows)
        print(f"{'':<9} baseline {med[4]:5.0f} ms (cpu {med[5]:5.0f})   same rounds, ratio {ratio:4.2f}")


def _torch_venv(path: Path, env: dict) -> Path:
    python = path / "bin" / "python"
    if (
        not python.exists()
        or subprocess.run([str(python), "-c", "import torch"], env=env, capture_output=True).returncode
    ):
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, env=env)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "torch==2.13.0"], check=True, env=env)
    return python


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--torch-venv", type=Path, help="a venv with torch 2.13.0 (made there when missing)")
    parser.add_argument("--skip-verify", action="store_true")
    parser.add_argument("--baseline", type=Path, help="src/ of another torchup (`git archive REV src`): its dry run too")
    args = parser.parse_args()
    # an installed torchup has its .pyc: with PYTHONDONTWRITEBYTECODE (as on our development
    # machines) every run would compile torchup's source again (~80 ms of a dry run)
    skip = ("PIP_", "UV_", "TORCHUP_", "PYTHONDONTWRITEBYTECODE")
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    sources = [REPO / "src" / "torchup"] + ([args.baseline.resolve() / "torchup"] if args.baseline else [])
    subprocess.run([sys.executable, "-m", "compileall", "-q", *map(str, sources)], check=True, env=base_env)
    base_env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", NO_COLOR="1")
    script = Path(sys.executable).parent / ("torchup.exe" if os.name == "nt" else "torchup")
    torchup = [str(script)] if script.exists() else [sys.executable, "-m", "torchup"]  # the command users run
    with tempfile.TemporaryDirectory(prefix="bench-dry-") as tmp_name:
        tmp = Path(tmp_name)
        env = ie.tool_env(dict(base_env, PIP_CONFIG_FILE=os.devnull), tmp)
        with IndexServer(missing_status=403) as server:
            ie.serve(server, ie.build_wheels(tmp / "wheels"))
            env = ie.with_index_base(env, server)
            venv = ie.make_template_venv(tmp / "venv", server, env)
            plan = ie.plan_file(tmp / "plan.json", server, torch=ie.NEW_CPU, variant="cpu")
            ours = [*torchup, "install", "--plan", str(plan), "--python", str(venv), "--dry-run", "--manager", "uv"]
            theirs = [
                str(tmp / "tools" / "uv"),
                "pip",
                "install",
                "--dry-run",
                "--python",
                str(venv),
                "--index-url",
                server.index_url("whl/cpu"),
                f"torch=={ie.NEW_CPU}",
            ]
            baseline = dict(env, PYTHONPATH=str(args.baseline.resolve())) if args.baseline else None
            _side_by_side("dry run", ours, theirs, env, args.runs, "<= 120 ms", baseline)
        if not args.skip_verify:
            python = _torch_venv(args.torch_venv or tmp / "torch-venv", base_env)
            ours = [*torchup, "verify", "--python", str(python), "--json"]
            _side_by_side("verify", ours, [str(python), "-c", "import torch"], base_env, args.runs, "ratio <= 1.05")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
