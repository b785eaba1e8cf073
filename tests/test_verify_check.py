"""The check script as a real process: no torch, old Pythons, crashes, hangs, the cwd, the CLI.

These use real interpreters and small stand-in programs, no torch (the real torch
is exercised in test_verify_real_torch.py, marked slow).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from torchup.commands._args import seconds
from torchup.runner import MAX_TIMEOUT_S
from torchup.system import system_from_env
from torchup.verify import prestart_verify, run_verify, start_check, started_check

PYENV = Path.home() / ".pyenv" / "versions"


def _fake_python(tmp_path: Path, body: str) -> str:
    path = tmp_path / "fake-python"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


@pytest.mark.parametrize("isolated", [False, True])
def test_a_python_without_torch_fails_with_a_clear_reason(monkeypatch, tmp_path, isolated):
    # a torch/ package in the current directory must not be what the check imports
    fake = tmp_path / "torch"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise RuntimeError('the cwd copy was imported')\n")
    monkeypatch.chdir(tmp_path)
    rep = run_verify(system_from_env(), sys.executable, timeout=60, isolated=isolated)
    assert not rep.ok and rep.torch is None
    imp = rep.check("import-torch")
    assert imp.status == "fail" and imp.detail == "torch is not installed in this Python"
    assert rep.python["version"].startswith(f"{sys.version_info[0]}.{sys.version_info[1]}.")
    assert rep.crashed is None


@pytest.mark.parametrize("version", ["3.6", "3.7", "3.8"])
def test_the_check_script_runs_on_old_pythons(version):
    found = sorted(PYENV.glob(f"{version}.*/bin/python"))
    if not found:
        pytest.skip(f"no Python {version} interpreter on this machine")
    rep = run_verify(system_from_env(), str(found[0]), light=True, timeout=60)
    assert rep.crashed is None, rep.stderr_tail
    assert rep.python["version"].startswith(version + ".")
    assert rep.check("import-torch").detail == "torch is not installed in this Python"


def test_a_segfault_is_a_failed_check_naming_the_step(tmp_path):
    mark = "@@torchup-verify@@ "
    py = _fake_python(
        tmp_path,
        f"echo '{mark}{{\"event\": \"hello\", \"protocol\": 1}}'\n"
        f"echo '{mark}{{\"event\": \"start\", \"step\": \"matmul\", \"device\": \"cuda:0\"}}'\n"
        "echo 'Fatal Python error: Segmentation fault' >&2\n"
        "kill -SEGV $$\n",
    )
    rep = run_verify(system_from_env(), py, timeout=30)
    assert not rep.ok
    last = rep.failures[-1]
    assert (last.step, last.device) == ("matmul", "cuda:0")
    assert "SIGSEGV" in last.detail and "Segmentation fault" in rep.stderr_tail


def test_a_hang_is_cut_off_by_the_time_limit(tmp_path):
    py = _fake_python(tmp_path, "sleep 30\n")
    rep = run_verify(system_from_env(), py, timeout=1)
    assert not rep.ok and "time limit (1 s)" in rep.crashed


def test_cli_json_and_exit_code(tmp_path, clean_env):
    py = _fake_python(tmp_path, "exit 3\n")
    out = subprocess.run([sys.executable, "-m", "torchup", "verify", "--python", py, "--json"],
                         capture_output=True, text=True, env=clean_env, timeout=60)
    assert out.returncode == 1, out.stderr
    data = json.loads(out.stdout)
    assert data["ok"] is False and data["crashed"] == "the check process exited with code 3"
    out = subprocess.run([sys.executable, "-m", "torchup", "verify", "--python", str(tmp_path / "missing")],
                         capture_output=True, text=True, env=clean_env, timeout=60)
    assert out.returncode == 2 and "does not exist" in out.stderr
    out = subprocess.run([sys.executable, "-m", "torchup", "verify", "--python", py, "--timeout", "0"],
                         capture_output=True, text=True, env=clean_env, timeout=60)
    assert out.returncode == 2 and "--timeout" in out.stderr


def test_text_output_without_torch(clean_env):
    env = dict(clean_env)
    out = subprocess.run([sys.executable, "-m", "torchup", "verify", "--python", sys.executable],
                         capture_output=True, text=True, env=env, timeout=60, cwd=os.path.dirname(__file__))
    assert out.returncode == 1
    assert "torch does not import: torch is not installed in this Python" in out.stdout
    assert "result: FAILED" in out.stdout


def _sleeping_python(tmp_path: Path, name: str = "fake-python") -> tuple[str, Path]:
    """A "Python" that notes each start (its pid, one line per start) and sleeps like a slow import."""
    starts = tmp_path / f"{name}.starts"
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\necho $$ >> '{starts}'\nexec sleep 30\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path), starts


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for its new parent to reap it does not)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _starts(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def _started(path: Path, count: int = 1) -> list[int]:
    """The pids in ``path`` once ``count`` starts are noted (the fake Python's shell may not have
    run its first line yet when the test goes on; killed before it, it notes nothing)."""
    deadline = time.monotonic() + 20
    while len(_starts(path)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return _starts(path)


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
@pytest.mark.parametrize("bad", [["--timeout", "0"], ["--timeout", "x"], ["--timeout", "1e9"], ["--python"],
                                 ["--bench=yes"], ["--isolated=1"], ["extra"]])
def test_a_refused_command_line_is_a_usage_error_and_starts_nothing(tmp_path, clean_env, json_flag, bad):
    py, starts = _sleeping_python(tmp_path)
    out = subprocess.run([sys.executable, "-m", "torchup", "verify", "--python", py, *json_flag, *bad],
                         capture_output=True, text=True, env=clean_env, timeout=60)
    assert out.returncode == 2, out.stderr
    assert _starts(starts) == []


@pytest.mark.parametrize("value", ["0", "-1", "x", "", "nan", "inf", "-inf", "1e-400", "1e308", "9" * 400, "0.001",
                                   "1", "2.5", "1e3", str(MAX_TIMEOUT_S), str(MAX_TIMEOUT_S + 1)])
def test_the_early_start_reads_timeout_as_the_parser_does(value, tmp_path):
    try:
        parsed = seconds(value)
    except argparse.ArgumentTypeError:
        parsed = None
    py, _starts_file = _sleeping_python(tmp_path)
    system = prestart_verify(["verify", "--python", py, "--timeout", value], system_from_env())
    started = system.target_probe
    assert (started.timeout if started else None) == parsed
    if started:
        started.kill()


def test_the_early_check_is_the_one_used(tmp_path, clean_env):
    py, starts = _sleeping_python(tmp_path)
    out = subprocess.run([sys.executable, "-m", "torchup", "verify", "--python", py, "--timeout", "1", "--json"],
                         capture_output=True, text=True, env=clean_env, timeout=60)
    assert out.returncode == 1 and "time limit (1 s)" in json.loads(out.stdout)["crashed"]
    assert len(_starts(starts)) == 1  # started once, before the parsing, and waited for


@pytest.mark.parametrize("argv", [["verify", "--help"], ["--json", "verify"], ["verify", "--pyth", "X"],
                                  ["verify", "--python"], ["verify", "--python", "/no/such/python"],
                                  ["verify", "extra"], ["plan", "verify"]])
def test_no_early_check_unless_the_command_line_is_plainly_a_verify(argv, tmp_path):
    py, starts = _sleeping_python(tmp_path)
    system = system_from_env(dict(os.environ, VIRTUAL_ENV=str(tmp_path / "venv")))
    assert prestart_verify([a.replace("X", py) for a in argv], system) is system
    assert _starts(starts) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_an_early_check_for_other_options_is_killed_and_replaced(tmp_path):
    py, starts = _sleeping_python(tmp_path)
    system = prestart_verify(["-v", "verify", "--python", py, "--bench"], system_from_env())
    early = system.target_probe
    assert (early.python, early.options, early.timeout) == (py, (True, False, False), 420.0)
    assert len(_started(starts)) == 1
    other, other_starts = _sleeping_python(tmp_path, "other-python")
    check = started_check(system, other, timeout=1)
    assert check is not early and check.wait().timed_out
    killed = early.wait()
    assert killed.returncode == -9 and not killed.timed_out
    assert [_running(pid) for pid in _starts(starts) + _starts(other_starts)] == [False, False]
    same = start_check(system, py, timeout=1)
    assert started_check(system.with_target_probe(same), py, timeout=1) is same
    same.kill()


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_ctrl_c_stops_the_check_too(tmp_path, clean_env):
    py, starts = _sleeping_python(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "torchup", "verify", "--python", py, "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env)
    deadline = time.monotonic() + 30
    while not _starts(starts) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # torchup is waiting for the check by now
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and json.loads(out)["error"]["code"] == "interrupted", err
    assert [_running(pid) for pid in _starts(starts)] == [False]


CPUINFO = Path(__file__).parent / "fixtures" / "cpuinfo"


def test_the_cpu_is_named_from_cpuinfo_without_a_child_process(monkeypatch):
    from torchup.verify import check

    def no_child(*args, **kwargs):
        raise AssertionError("the CPU's name started a process")

    monkeypatch.setattr(subprocess, "Popen", no_child)
    monkeypatch.setattr(check.platform, "machine", lambda: "the-arch")
    assert check.cpu_name(str(CPUINFO / "xeon-x86_64.txt")) == "Intel(R) Xeon(R) Processor"
    # arm64 kernels write no model name: the architecture, not a line of another field
    assert check.cpu_name(str(CPUINFO / "cortex-a57-aarch64.txt")) == "the-arch"
    assert check.cpu_name(str(CPUINFO / "absent.txt")) == "the-arch"
