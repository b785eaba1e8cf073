"""Progress while `torchup install` runs a package manager (issue 15): on a terminal, something
every 2 s at most even while the manager prints nothing; without a terminal or with --json,
no progress lines at all.  Real pip against a slow loopback index, torchup in a pseudo-terminal."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time

import pytest

from tests.support import install_env as ie
from tests.support.index_server import IndexServer
from tests.support.install_fixtures import env, template, venv  # noqa: F401 (fixtures)
from torchup.progress import phase_of, status_line

QUIET_S = 4.0  # the index keeps pip waiting (and silent) this long for the torch page
WHEEL_RATE = 100_000  # bytes per second for the new torch wheel (~300 KB: about 3 s)


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    wheels = ie.build_wheels(tmp_path_factory.mktemp("wheels"), pad=300_000)
    with IndexServer(missing_status=403) as server:
        ie.serve(server, wheels)
        yield server


@pytest.fixture
def slow(index):
    index.fault("/whl/cpu/torch/", delay=QUIET_S)  # the project page: pip waits without a word
    index.fault(f"/whl/cpu/torch/torch-{ie.NEW_CPU.replace('+', '%2B')}-", rate=WHEEL_RATE)
    yield index
    index.clear_faults()


def _args(venv, plan, *extra):
    return [
        "install",
        "--plan",
        str(plan),
        "--python",
        str(venv),
        "--manager",
        "pip",
        "--yes",
        "--no-verify",
        "--skip-network-check",
        *extra,
    ]


def _in_pty(args: list[str], env: dict, timeout: float = 300) -> tuple[int, list[tuple[float, bytes]]]:
    """Run torchup with stdout and stderr on a pseudo-terminal; (exit code, [(time, chunk)])."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "torchup", *args], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    chunks: list[tuple[float, bytes]] = []
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                break
            if not data:
                break
            chunks.append((time.monotonic(), data))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return proc.wait(timeout=30), chunks


def test_a_silent_manager_shows_a_heartbeat_at_least_every_2_s_on_a_terminal(slow, venv, env, tmp_path):
    plan = ie.plan_file(tmp_path / "plan.json", slow, torch=ie.NEW_CPU, variant="cpu")
    code, chunks = _in_pty(_args(venv, plan), env)
    text = b"".join(c for _, c in chunks).decode("utf-8", "replace")
    assert code == 0, text[-3000:]
    assert f"installed torch {ie.NEW_CPU}" in text
    start = next(t for t, c in chunks if b"torchup: running:" in c)
    done = next(t for t, c in chunks if b"installed torch" in c)
    assert done - start > QUIET_S  # the index did keep pip waiting
    times = [t for t, _ in chunks if start <= t <= done]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert max(gaps) <= 2.0, f"no output for {max(gaps):.1f} s while pip ran"
    # the heartbeat said what runs and for how long, and was erased before pip's next output
    assert "torchup: pip" in text and "\r\x1b[K" in text
    assert "no output for" in text
    # pip was used while uv is on PATH (tool_env): the estimate of what uv would save, said as one
    assert "uv is on PATH" in text and "an estimate" in text


def test_a_slow_index_check_shows_a_heartbeat_too(index, venv, env, tmp_path):
    # the preflight reads the plan's index page itself (a dry run does nothing else that is slow)
    index.fault("/whl/cpu/torch/", delay=QUIET_S)
    try:
        plan = ie.plan_file(tmp_path / "plan.json", index, torch=ie.NEW_CPU, variant="cpu")
        start = time.monotonic()
        code, chunks = _in_pty(["install", "--plan", str(plan), "--python", str(venv), "--dry-run"], env)
    finally:
        index.clear_faults()
    text = b"".join(c for _, c in chunks).decode("utf-8", "replace")
    assert code == 0, text[-3000:]
    assert "dry run: would run" in text and time.monotonic() - start > QUIET_S
    times = [t for t, _ in chunks]
    assert max(b - a for a, b in zip(times, times[1:])) <= 2.0, text
    assert "torchup: checking the plan against the index" in text


@pytest.mark.parametrize("how", ["pipes", "pty --json"])
def test_no_progress_lines_without_a_terminal_or_with_json(how, slow, venv, env, tmp_path):
    plan = ie.plan_file(tmp_path / "plan.json", slow, torch=ie.NEW_CPU, variant="cpu")
    if how == "pipes":
        r = ie.torchup(_args(venv, plan), env)
        code, text = r.returncode, r.stdout + r.stderr
    else:
        code, chunks = _in_pty(_args(venv, plan, "--json"), env)
        text = b"".join(c for _, c in chunks).decode("utf-8", "replace")
    assert code == 0, text[-3000:]
    assert f"installed torch {ie.NEW_CPU}" in text
    assert "no output for" not in text and "\x1b[K" not in text and "uv is on PATH" not in text


@pytest.mark.parametrize(
    ("output", "phase"),
    [
        ("Looking in indexes: http://127.0.0.1:1/whl/cpu\n", "resolving"),
        ("Collecting torch==2.14.1+cpu\n  Downloading http://x/torch.whl (300 kB)\n", "downloading"),
        ("Installing collected packages: torch\n", "installing (unpacking wheels)"),
        ("Resolved 2 packages in 12ms\nPrepared 1 package in 3.1s\n", "installing"),
        ("Successfully installed torch-2.14.1+cpu\n", "finished"),
        ("   ━━━━━━━ 120.3/393.1 MB 55.1 MB/s eta 0:00:05\r", None),
    ],
)
def test_the_phase_comes_from_the_managers_own_words(output, phase):
    assert phase_of(output) == phase


def test_the_status_line_says_what_runs_how_long_and_how_long_it_is_quiet():
    assert status_line("pip", "installing (unpacking wheels)", 74.2, 40.0) == (
        "torchup: pip, installing (unpacking wheels): 1 min 14 s, no output for 40 s"
    )
    assert status_line("verify", None, 3.0, 1.0) == "torchup: verify: 3 s"
