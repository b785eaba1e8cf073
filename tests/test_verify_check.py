"""The check script as a real process: no torch, old Pythons, crashes, hangs, the cwd, the CLI.

These use real interpreters and small stand-in programs, no torch (the real torch
is exercised in test_verify_real_torch.py, marked slow).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from torchup.system import system_from_env
from torchup.verify import run_verify

PYENV = Path.home() / ".pyenv" / "versions"


def _fake_python(tmp_path: Path, body: str) -> str:
    path = tmp_path / "fake-python"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_a_python_without_torch_fails_with_a_clear_reason(monkeypatch, tmp_path):
    # a torch/ package in the current directory must not be what the check imports
    fake = tmp_path / "torch"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise RuntimeError('the cwd copy was imported')\n")
    monkeypatch.chdir(tmp_path)
    rep = run_verify(system_from_env(), sys.executable, timeout=60)
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
