"""Every ``--json`` output is one envelope on stdout (docs/json.md): the real CLI in a
subprocess, per command a result and an error, each parsed from stdout alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from torchup import render
from torchup.machine import MACHINE_DOCUMENT, MACHINE_FORMAT
from torchup.output import FORMAT_VERSIONS

DOCTOR_STATE = Path(__file__).resolve().parent / "fixtures" / "doctor" / "cpu-torch2.13.0__healthy.json"
RTX4090 = {
    "os": "linux", "arch": "x86_64", "python": "3.12", "libc": "glibc 2.35",
    "nvidia_driver": "580.65.06", "cuda_driver_max": "13.0",
    "gpus": [{"vendor": "nvidia", "name": "NVIDIA GeForce RTX 4090", "compute_capability": "8.9"}],
}


@pytest.fixture
def env(tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.startswith("TORCHUP_")}
    base.update(NO_COLOR="1", XDG_CACHE_HOME=str(tmp_path / "cache"), HOME=str(tmp_path))
    return base


def torchup(env, *args, input=None):
    return subprocess.run([sys.executable, "-m", "torchup", *args], capture_output=True, text=True,
                          env=env, input=input, timeout=120)


def envelope(res, document: str, code: int) -> dict:
    """The stdout of ``res`` parsed whole, checked to be the envelope of ``document``, exit ``code``."""
    assert res.returncode == code, res.stdout + res.stderr
    data = json.loads(res.stdout)
    assert (data["format"], data["version"]) == (f"torchup/{document}", FORMAT_VERSIONS[document])
    assert "Traceback" not in res.stderr
    return data


def error(res, document: str, code: int, error_code: str) -> dict:
    data = envelope(res, document, code)
    assert set(data) == {"format", "version", "error"}
    assert data["error"]["code"] == error_code and data["error"]["message"]
    return data["error"]


def write(tmp_path, name, data) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


# --- plan --------------------------------------------------------------------


def test_plan_json_carries_every_rendering_in_full(tmp_path, env):
    data = envelope(torchup(env, "plan", "--machine", write(tmp_path, "m.json", RTX4090), "--json"), "plan", 0)
    assert set(data["renderings"]) == set(render.FORMATS)
    for fmt, r in data["renderings"].items():
        assert set(r) == {"text", "notes", "error", "shell"}
        assert (r["text"] is None) != (r["error"] is None), fmt
        assert r["shell"] == ("posix" if fmt in render.COMMAND_FORMATS else None)
    assert "[[tool.uv.index]]" in data["renderings"]["uv-project"]["text"]
    assert data["renderings"]["requirements"]["text"].splitlines()[2].startswith("--index-url ")
    assert data["renderings"]["pip"]["text"] == data["commands"]["pip"]
    # warnings are whole sentences, never cut short
    assert data["warnings"] and not any("…" in w or w.endswith("...") for w in data["warnings"])


def test_bare_torchup_json_is_the_plan_envelope(tmp_path, env):
    envelope(torchup(env, "--machine", write(tmp_path, "m.json", RTX4090), "--json"), "plan", 0)


def test_plan_json_for_several_machines_has_one_combined_uv_project(tmp_path, env):
    mac = {"os": "macos", "arch": "arm64", "python": "3.12", "macos_version": "14.5"}
    data = envelope(torchup(env, "plan", "--machine", write(tmp_path, "a.json", RTX4090),
                            "--machine", write(tmp_path, "b.json", mac), "--json"), "plan", 0)
    assert len(data["plans"]) == 2 and all("renderings" in p for p in data["plans"])
    assert "sys_platform == 'darwin'" in data["uv_project"]["text"]


def test_plan_json_refusal_is_an_error_envelope(tmp_path, env):
    old_mac = {"os": "macos", "arch": "x86_64", "python": "3.13", "macos_version": "13.0"}
    machine = write(tmp_path, "m.json", old_mac)
    err = error(torchup(env, "plan", "--machine", machine, "--json"), "plan", 3, "no-python-wheel")
    assert err["reasons"] and "considered" not in err  # the evidence only when asked for
    err = error(torchup(env, "plan", "--machine", machine, "--json", "--explain"), "plan", 3, "no-python-wheel")
    assert err["reasons"] and err["considered"]


def test_plan_json_has_the_considered_builds_only_with_explain(tmp_path, env):
    machine = write(tmp_path, "m.json", RTX4090)
    plain = envelope(torchup(env, "plan", "--machine", machine, "--json"), "plan", 0)
    explained = envelope(torchup(env, "plan", "--machine", machine, "--json", "--explain"), "plan", 0)
    assert "considered" not in plain and len(explained["considered"]) > 50
    assert {k: v for k, v in explained.items() if k != "considered"} == plain


def test_identical_machine_files_get_the_same_plan(tmp_path, env):
    mac = {"os": "macos", "arch": "arm64", "python": "3.12", "macos_version": "14.5"}
    files = [write(tmp_path, f"{name}.json", RTX4090 if name != "mac" else mac) for name in ("a", "b", "mac", "c")]
    args = [arg for f in files for arg in ("--machine", f)]
    data = envelope(torchup(env, "plan", *args, "--json"), "plan", 0)
    a, b, mac_plan, c = data["plans"]
    assert a == b == c != mac_plan and mac_plan["os"] == "macos"
    alone = envelope(torchup(env, "plan", "--machine", files[1], "--json"), "plan", 0)
    assert {k: v for k, v in alone.items() if k not in ("format", "version")} == b


@pytest.mark.parametrize("args, code", [
    (["--variant", "cu12x"], "usage"),  # not a variant name
    (["--manager", "nope"], "usage"),  # argparse's own usage error
    (["--no-such-option"], "usage"),
    (["--index-base", 'https://m.example/x"\n[[tool.uv.index]]'], "usage"),  # a line break in a URL
])
def test_plan_json_usage_errors_are_envelopes(tmp_path, env, args, code):
    error(torchup(env, "plan", "--machine", write(tmp_path, "m.json", RTX4090), "--json", *args), "plan", 2, code)


def test_plan_json_bad_machine_file_is_an_envelope(tmp_path, env):
    err = error(torchup(env, "plan", "--machine", write(tmp_path, "m.json", "{not json"), "--json"), "plan", 2, "bad-input")
    assert "not valid JSON" in err["message"]


# --- probe and the machine file ----------------------------------------------


def test_probe_json_is_the_envelope_and_a_machine_file(tmp_path, env):
    res = torchup(env, "probe", "--json", "--python", sys.executable)
    data = envelope(res, "probe", 0)
    assert (data["format"], data["version"]) == (MACHINE_DOCUMENT, MACHINE_FORMAT)
    path = write(tmp_path, "me.json", res.stdout)
    envelope(torchup(env, "plan", "--machine", path, "--json"), "plan", 0)


def test_machine_files_written_before_the_envelope_still_load(tmp_path, env):
    old = {"torchup_machine": 1, **RTX4090}
    res = torchup(env, "plan", "--machine", write(tmp_path, "old.json", old), "--json")
    envelope(res, "plan", 0)
    assert "unknown key" not in res.stderr


def test_a_plan_given_as_machine_file_is_refused_by_name(tmp_path, env):
    plan = torchup(env, "plan", "--machine", write(tmp_path, "m.json", RTX4090), "--json").stdout
    err = error(torchup(env, "plan", "--machine", write(tmp_path, "plan.json", plan), "--json"), "plan", 2, "bad-input")
    assert "torchup/plan" in err["message"] and "not a machine file" in err["message"]


def test_probe_json_error_is_an_envelope(env):
    error(torchup(env, "probe", "--json", "--timeout", "0"), "probe", 2, "usage")


# --- catalog -----------------------------------------------------------------


def test_catalog_json(env):
    data = envelope(torchup(env, "catalog", "--json"), "catalog", 0)
    assert data["torch"] and data["builds"]


def test_catalog_json_unknown_release_is_an_envelope(env):
    error(torchup(env, "catalog", "--torch", "0.0.1", "--json"), "catalog", 2, "usage")


def test_catalog_refresh_json_network_error_is_its_envelope(env):
    # port 9 (discard) on 127.0.0.1: nothing listens, the connection is refused at once. PyTorch's
    # index down alone is a note (the refresh learns what PyPI tells); the package index down fails
    error(torchup(env, "catalog", "refresh", "--json", "--index-base", "http://127.0.0.1:9",
                  "--pypi-index", "http://127.0.0.1:9/simple"), "catalog-refresh", 5, "network")


# --- verify, doctor, explain ---------------------------------------------------


def test_verify_json_of_a_python_without_torch(env):
    data = envelope(torchup(env, "verify", "--json", "--python", sys.executable), "verify", 1)
    assert data["ok"] is False and data["torch"] is None


@pytest.mark.parametrize("args", [["--timeout", "0"], ["--python", "/nonexistent/bin/python"]])
def test_verify_json_errors_are_envelopes(env, args):
    error(torchup(env, "verify", "--json", *args), "verify", 2, "usage")


def test_doctor_json_of_a_recorded_state(env):
    data = envelope(torchup(env, "doctor", "--json", "--state", str(DOCTOR_STATE)), "doctor", 0)
    assert data["findings"] == [] and data["summary"]["torch"]


def test_doctor_json_missing_state_file_is_an_envelope(tmp_path, env):
    data = envelope(torchup(env, "doctor", "--json", "--state", str(tmp_path / "missing.json")), "doctor", 2)
    assert set(data) == {"format", "version", "error"}


def test_explain_json(env):
    data = envelope(torchup(env, "explain", "--json", input="ERROR: No matching distribution found for torch\n"),
                    "explain", 0)
    assert data["findings"][0]["id"]


def test_explain_json_missing_log_is_an_envelope(tmp_path, env):
    error(torchup(env, "explain", str(tmp_path / "missing.log"), "--json"), "explain", 2, "bad-input")


# --- the error boundary ---------------------------------------------------------


def test_a_bug_under_json_is_exit_70_in_the_envelope(monkeypatch, capsys):
    from torchup import cli
    from torchup.commands import explain

    def broken(args, system):
        raise RuntimeError("boom")

    monkeypatch.setattr(explain, "run", broken)
    assert cli.main(["explain", "--json"]) == 70
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert data["format"] == "torchup/explain" and data["error"]["code"] == "bug"
    assert "RuntimeError: boom" in data["error"]["message"] and "bug in torchup" in err
    assert cli.main(["explain", "--json", "-v"]) == 70  # -v adds the traceback on stderr, nothing on stdout
    out, err = capsys.readouterr()
    assert json.loads(out)["error"]["code"] == "bug" and "Traceback" in err


def test_without_json_a_usage_error_stays_argparse_text(env):
    res = torchup(env, "plan", "--manager", "nope")
    assert res.returncode == 2 and res.stdout == "" and "usage:" in res.stderr
