"""Installs and rollbacks started at once against one environment, with the real uv and a
local index: whatever the timing, the environment ends as some serial order of the ones that
succeeded left it, and what each torchup said (exit code, last line) is what it did."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support import install_env as ie
from tests.support.index_server import IndexServer
from tests.support.install_fixtures import env, template  # noqa: F401 (fixtures)

# ~85 s on the 2-core test machine (30 trials, 3 torchup runs each), so marked slow
pytestmark = pytest.mark.slow
TRIALS = 30
NVIDIA = frozenset(f"{name.replace('-', '_')}-{version}" for name, version in ie.NVIDIA.items())


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    wheels = ie.build_wheels(tmp_path_factory.mktemp("wheels"))
    with IndexServer(missing_status=403) as server:
        ie.serve(server, wheels)
        yield server


def _dists(venv: Path) -> frozenset[str]:
    """``name-version`` of every distribution installed, from the .dist-info names."""
    site = next((venv.parent.parent / "lib").glob("python3*/site-packages"))
    return frozenset(e[: -len(".dist-info")] for e in os.listdir(site) if e.endswith(".dist-info"))


def _torch(dists: frozenset[str]) -> str | None:
    return next((d.split("-", 1)[1] for d in dists if d.startswith("torch-")), None)


def _installed(dists: frozenset[str], torch: str) -> frozenset[str]:
    """What a successful install of ``torch`` leaves: the new torch, and the NVIDIA wheels of a CUDA build
    (added; an install never removes what the new torch does not need)."""
    out = {d for d in dists if not d.startswith("torch-")} | {f"torch-{torch}"}
    return frozenset(out | NVIDIA if "+cu" in torch else out)


class _Op:
    def __init__(self, name: str, argv: list[str], env: dict, delay: float) -> None:
        self.name, self.argv, self.env, self.delay = name, argv, env, delay
        self.result: subprocess.CompletedProcess | None = None
        self.ended = 0.0
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        time.sleep(self.delay)
        self.result = subprocess.run([sys.executable, "-m", "torchup", *self.argv], capture_output=True, text=True,
                                     env=self.env, timeout=120, stdin=subprocess.DEVNULL)
        self.ended = time.monotonic()

    @property
    def said(self) -> str:
        return (self.result.stdout + self.result.stderr).strip()


def _lock_order(ops: list[_Op]) -> list[_Op]:
    """The order the ops held the lock in, from the order they ended.  A torchup releases the lock
    a little before its process has ended (its last lines, interpreter exit): a rollback that took
    the lock the moment an install let it go can end first.  Seen once in a loaded CI run, so a
    successful rollback that would come before any successful install goes after the install that
    ended within 2 s of it; the final state is still checked against that order."""
    order = sorted(ops, key=lambda o: o.ended)
    for i, op in enumerate(order):
        done = [o for o in order[:i] if o.name != "rollback" and o.result.returncode == 0]
        if op.name == "rollback" and op.result.returncode == 0 and not done:
            later = [o for o in order[i + 1 :] if o.name != "rollback" and o.result.returncode == 0]
            if later and later[0].ended - op.ended < 2.0:
                order.remove(later[0])
                order.insert(i, later[0])
            break
    return order


def _trial(venv: Path, plans: dict[str, Path], env: dict, rng: random.Random) -> tuple[str, ...]:
    original = _dists(venv)
    common = ["--python", str(venv), "--manager", "uv", "--yes", "--no-verify"]
    ops = [_Op(torch, ["install", "--plan", str(plans[torch]), *common], env, delay)
           for torch, delay in ((ie.NEW_CU126, 0.0), (ie.NEW_CPU, rng.uniform(0.0, 0.6)))]
    ops.append(_Op("rollback", ["install", "--rollback", "--python", str(venv)], env, rng.uniform(0.0, 2.0)))
    for op in ops:
        op.thread.start()
    for op in ops:
        op.thread.join()
    # the lock serialises the ones that succeed: replay them in the order they ended
    state, snapshot = original, None
    for op in _lock_order(ops):
        r, said = op.result, op.said
        refused = r.returncode == 4 and "another torchup install or rollback is running" in r.stderr
        if op.name == "rollback":
            if r.returncode == 0:
                assert snapshot is not None, f"rolled back with nothing to roll back to:\n{said}"
                state = snapshot
                torch = _torch(state)
                assert said.splitlines()[-1].endswith(f"torch {torch} is back" if torch else "as before"), said
            else:
                assert refused or (r.returncode == 4 and snapshot is None and "no snapshot" in r.stderr), said
        elif r.returncode == 0:
            snapshot, state = state, _installed(state, op.name)
            assert f"torchup: installed torch {op.name}" in r.stdout, said
            # the last word: how to undo it, then only the guard's lines (the pins it wrote)
            lines = said.splitlines()
            done = next(i for i, line in enumerate(lines) if line.startswith(f"torchup: installed torch {op.name}"))
            tail = lines[done + 1 :]
            assert tail[0].startswith("torchup: undo with:"), said
            assert all(line.startswith(("torchup: guard:", "torchup: uv reads no pip.conf")) for line in tail[1:]), said
        else:
            assert refused, said
    assert _dists(venv) == state, "\n\n".join(f"{op.name}: exit {op.result.returncode}\n{op.said}" for op in ops)
    return tuple(f"{op.name}:{op.result.returncode}" for op in sorted(ops, key=lambda o: o.ended))


def test_two_installs_and_a_rollback_at_once(index, template, env, tmp_path):
    plans = {ie.NEW_CU126: ie.plan_file(tmp_path / "cu126.json", index),
             ie.NEW_CPU: ie.plan_file(tmp_path / "cpu.json", index, torch=ie.NEW_CPU, variant="cpu")}
    rng = random.Random(19)
    outcomes = Counter()
    for i in range(TRIALS):
        venv = ie.copy_venv(template, tmp_path / f"venv{i}")
        outcomes[_trial(venv, plans, env, rng)] += 1
    print(dict(outcomes))
    # the timing made them meet: some torchup was refused because another held the environment
    assert any(":4" in op for outcome in outcomes for op in outcome), outcomes
