"""The ``torchup`` command ends a short-lived command with ``os._exit`` once its output is flushed
(``torchup.cli.entry``, issue 15).  What that must not change, checked on the real command
(``python -m torchup``, the entry point the console script also calls): every byte of a long
output arrives, on a pipe and in a file, stdout and stderr alike; the exit code is the command's;
a reader that leaves early gets no traceback; a long-lived command still ends the ordinary way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

MACHINE = {"os": "linux", "arch": "x86_64", "python": "3.12", "libc": "glibc 2.35", "nvidia_driver": "550.54.14",
           "gpus": [{"vendor": "nvidia", "name": "NVIDIA GeForce RTX 4090", "compute_capability": "8.9"}]}
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "TORCHUP_CACHE_DIR": str(tmp_path / "cache"), "NO_COLOR": "1"}


@pytest.fixture
def machine_file(tmp_path):
    path = tmp_path / "machine.json"
    path.write_text(json.dumps(MACHINE))
    return str(path)


def _torchup(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torchup", *args], capture_output=True, timeout=120, **kwargs)


def test_the_console_script_runs_entry():
    assert 'torchup = "torchup.cli:entry"' in PYPROJECT.read_text()


def test_a_long_json_answer_arrives_whole_on_a_pipe(env, machine_file):
    # --explain lists every build considered: tens of KB, several pipe buffers
    done = _torchup("plan", "--json", "--explain", "--machine", machine_file, env=env)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout) > 20_000
    plan = json.loads(done.stdout)
    assert plan["format"] == "torchup/plan" and len(plan["considered"]) > 100


def test_a_long_answer_arrives_whole_in_a_file(env, machine_file, tmp_path):
    out = tmp_path / "out.json"
    with open(out, "wb") as fh:
        done = subprocess.run([sys.executable, "-m", "torchup", "plan", "--json", "--explain", "--machine", machine_file],
                              stdout=fh, stderr=subprocess.PIPE, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["considered"]


def test_the_exit_code_and_stderr_are_the_commands(env, machine_file, tmp_path):
    refused = _torchup("plan", "--torch", "==1.0.0", "--machine", machine_file, env=env)
    assert refused.returncode == 3
    assert b"torch" in refused.stdout + refused.stderr
    missing = _torchup("plan", "--machine", str(tmp_path / "nowhere.json"), env=env)
    assert missing.returncode == 2
    assert missing.stderr.startswith(b"torchup: cannot read machine file") and missing.stderr.endswith(b"\n")
    warned = tmp_path / "warned.json"
    warned.write_text(json.dumps({**MACHINE, "colour": "blue"}))
    done = _torchup("plan", "--machine", str(warned), env=env)
    assert done.returncode == 0
    assert b"unknown key 'colour' ignored" in done.stderr and b"Catalog data:" in done.stdout


def test_a_reader_that_leaves_early_gets_no_traceback(env, machine_file):
    proc = subprocess.Popen([sys.executable, "-m", "torchup", "plan", "--json", "--explain", "--machine", machine_file],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout.read(10)
    proc.stdout.close()  # like `| head -c 10`
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0
    assert b"Traceback" not in err and b"Exception ignored" not in err


@pytest.mark.parametrize("command, teardown", [(["plan", "--json"], False), (["catalog", "--json"], True)])
def test_only_a_short_lived_command_skips_the_teardown(env, machine_file, command, teardown):
    # an atexit function stands for the interpreter's teardown: it runs after a long-lived command only
    script = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('teardown ran', file=sys.stderr))\n"
        f"sys.argv = ['torchup', *{command!r}, *(['--machine', {machine_file!r}] if {command!r}[0] == 'plan' else [])]\n"
        "from torchup.cli import entry\n"
        "sys.exit(entry())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["format"] == f"torchup/{command[0]}"
    assert (b"teardown ran" in done.stderr) is teardown


FULL = "/dev/full"  # Linux's always-full device: every write fails with ENOSPC


@pytest.mark.skipif(not os.path.exists(FULL), reason="needs Linux's /dev/full")
@pytest.mark.parametrize(
    "args",
    [
        ("plan", "--json", "--machine", "M"),
        ("plan", "--machine", "M"),
        ("plan", "--json", "--machine", "M", "--gpu", "nonsense"),  # an error envelope that cannot be written
        ("catalog",),
        ("matrix", "--gpu", "RTX 4090"),
        ("--version",),
    ],
)
def test_output_to_a_full_disk_is_said_on_stderr_with_exit_4(env, machine_file, args):
    args = tuple(machine_file if a == "M" else a for a in args)
    with open(FULL, "w") as full:
        out = subprocess.run([sys.executable, "-m", "torchup", *args], stdout=full, stderr=subprocess.PIPE,
                             timeout=120, env=env, text=True)
    assert out.returncode == 4, out.stderr
    assert out.stderr == (
        "torchup: cannot write its output: No space left on device\n"
        "hint: send the output where it can be written (a disk with room, an open file or pipe)\n"
    )


@pytest.mark.parametrize("args", [("plan", "--machine", "M"), ("plan", "--json", "--machine", "M"), ("--version",)])
def test_a_closed_standard_output_is_said_on_stderr_with_exit_4(env, machine_file, args):
    args = tuple(machine_file if a == "M" else a for a in args)
    script = "import os, sys, runpy; os.close(1); sys.argv = ['torchup', *sys.argv[1:]]; runpy.run_module('torchup', run_name='__main__')"
    out = subprocess.run([sys.executable, "-c", script, *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, timeout=120, env=env, text=True)
    # os.close(1) after start-up leaves sys.stdout set on a closed descriptor: EBADF on the write
    assert out.returncode == 4, out.stderr
    assert out.stderr.startswith("torchup: cannot write its output: Bad file descriptor\n"), out.stderr
    closed = subprocess.run(f'exec 1>&-; exec "{sys.executable}" -m torchup {" ".join(args)}', shell=True,
                            stderr=subprocess.PIPE, timeout=120, env=env, text=True)
    assert closed.returncode == 4, closed.stderr
    assert closed.stderr.startswith("torchup: cannot write its output: standard output is closed\n"), closed.stderr
