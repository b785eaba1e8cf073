"""A target interpreter that never answers (issue 18): doctor and install --dry-run stop within
their bound, say what hung and what to try, and exit 4; no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest


@pytest.fixture
def hung_python(tmp_path):
    """A 'python' that starts and then waits forever, as one blocked by a sitecustomize would."""
    path = tmp_path / "python"
    path.write_text("#!/bin/sh\nexec sleep 600\n")
    path.chmod(0o755)
    return path


def _torchup(env, *args, limit):
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "torchup", *args], capture_output=True, text=True, env=env,
                         timeout=limit + 30)
    return out, time.monotonic() - start


def test_doctor_stops_at_its_timeout(clean_env, hung_python, tmp_path):
    saved = tmp_path / "state.json"
    out, took = _torchup(clean_env, "doctor", "--python", str(hung_python), "--timeout", "2", "--save-state", str(saved),
                         limit=2)
    assert out.returncode == 4, out.stderr
    assert took < 2 + 8  # the check's bound, the kill and start-up; not a second wait in the probe
    assert f"{hung_python} did not run torchup's check: it printed nothing within 2 s" in out.stderr
    assert "--timeout allows longer" in out.stderr and "Traceback" not in out.stderr
    # the recording replays to the same answer
    out, _ = _torchup(clean_env, "doctor", "--json", "--state", str(saved), limit=10)
    assert out.returncode == 4 and "printed nothing within 2 s" in json.loads(out.stdout)["error"]["message"]


def test_install_dry_run_stops_at_the_probes_bound(clean_env, hung_python):
    out, took = _torchup(clean_env, "install", "--dry-run", "--cpu", "--python", str(hung_python), limit=15)
    assert out.returncode == 4, out.stderr
    assert took < 15 + 8
    assert f"{hung_python} did not answer within 15 s" in out.stderr
    assert "--python" in out.stderr and "Traceback" not in out.stderr


def test_inspecting_a_hung_target_says_so(hung_python, monkeypatch):
    from torchup.errors import EnvironmentProblem
    from torchup.install import target
    from torchup.runner import Runner

    monkeypatch.setattr(target, "_TIMEOUT_S", 1.0)  # the real bound is 60 s; the path is the same
    start = time.monotonic()
    with pytest.raises(EnvironmentProblem) as err:
        target.inspect_target(Runner(), str(hung_python))
    assert time.monotonic() - start < 5
    assert "did not answer within 1 s and was stopped" in err.value.message and "-c pass" in err.value.hint
