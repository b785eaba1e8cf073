"""doctor's effects side: conda records, LD_LIBRARY_PATH, /dev nodes, gathering, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from torchup.doctor.rules import CondaRecord
from torchup.doctor.state import _conda_records, _ld_path_libs, gather_state, parse_conda_record
from torchup.system import System, system_from_env

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "doctor"


def test_parse_conda_record_names_with_dashes_and_channel():
    rec = parse_conda_record("pytorch-cuda-12.1-ha16c6d3_6.json", '{"build": "ha16c6d3_6", "channel": "https://conda.anaconda.org/pytorch/noarch"}')
    assert rec == CondaRecord(name="pytorch-cuda", version="12.1", build="ha16c6d3_6", channel="https://conda.anaconda.org/pytorch/noarch")
    assert parse_conda_record("history", None) is None
    assert parse_conda_record("odd.json", "{}") is None


def test_conda_records_under_a_system_root(tmp_path):
    meta = tmp_path / "env" / "conda-meta"
    meta.mkdir(parents=True)
    files = [f"lib/python3.11/site-packages/torch/f{i}.py" for i in range(40000)]  # a real record lists every file
    (meta / "pytorch-2.5.1-py3.11_cuda12.4_cudnn9.1.0_0.json").write_text(
        json.dumps({"name": "pytorch", "files": files, "channel": "https://conda.anaconda.org/pytorch/linux-64"}))
    (meta / "cpuonly-2.0-0.json").write_text(json.dumps({"channel": "pytorch"}))
    (meta / "zlib-1.3-h0.json").write_text("{}")
    (meta / "pinned").write_text("# pins\ncpuonly\n\npytorch=2.5.*\n")
    records, pinned = _conda_records(System(root=str(tmp_path)), "/env")
    assert {r.name: r.channel for r in records} == {"pytorch": "https://conda.anaconda.org/pytorch/linux-64", "cpuonly": "pytorch"}
    assert pinned == ("cpuonly", "pytorch=2.5.*")
    assert _conda_records(System(root=str(tmp_path)), "/not-conda") == ((), ())


def test_ld_library_path_dirs_with_cuda_libraries(tmp_path):
    for d, names in {"opt/cuda/lib64": ["libcudart.so.12", "libcudnn.so.8", "libfoo.so"], "opt/other": ["libz.so.1"]}.items():
        (tmp_path / d).mkdir(parents=True)
        for n in names:
            (tmp_path / d / n).write_text("")
    libs = _ld_path_libs(System(root=str(tmp_path)), "/opt/cuda/lib64::/opt/other:/missing")
    assert libs == {"/opt/cuda/lib64": ("libcudart.so.12", "libcudnn.so.8")}


def test_gather_state_for_a_python_without_torch(tmp_path):
    (tmp_path / "dev").mkdir()
    for n in ("nvidia0", "nvidiactl", "null"):
        (tmp_path / "dev" / n).write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "CONDA", "TORCHUP_"))}
    env["CUDA_VISIBLE_DEVICES"] = "1"
    system = System(root=str(tmp_path), env=env, runner=system_from_env(env).runner)
    state = gather_state(system, sys.executable, plan=False)
    assert state.verify is not None and state.verify.torch is None
    assert state.verify.check("import-torch").detail == "torch is not installed in this Python"
    assert state.machine is not None and state.machine.python.startswith(f"{sys.version_info[0]}.{sys.version_info[1]}")
    assert state.env["CUDA_VISIBLE_DEVICES"] == "1"
    if state.machine.os == "linux":
        assert state.dev_nvidia == ("nvidia0", "nvidiactl")
    assert state.verify_run["events"]  # the raw run is kept, to record


def test_gather_state_reads_the_pins_of_torchups_guard(tmp_path):
    prefix = sys.prefix  # the check script reports it; the file is read under the system root
    pins = tmp_path / prefix.lstrip("/") / ".torchup" / "constraints.txt"
    pins.parent.mkdir(parents=True)
    pins.write_text("# written by torchup\ntorch==2.14.1+cu126\ntorchvision==0.29.1+cu126\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "CONDA", "TORCHUP_"))}
    system = System(root=str(tmp_path), env=env, runner=system_from_env(env).runner)
    state = gather_state(system, sys.executable, plan=False)
    assert state.guard == {"torch": "2.14.1+cu126", "torchvision": "0.29.1+cu126"}


def _torchup(*args, env):
    return subprocess.run([sys.executable, "-m", "torchup", *args], capture_output=True, text=True, env=env, timeout=120)


def test_cli_replays_a_recorded_state(clean_env, tmp_path):
    out = _torchup("doctor", "--json", "--state", str(FIXTURES / "cpu-torch2.13.0__torchvision0.29.1-mismatch.json"), env=clean_env)
    assert out.returncode == 1, out.stderr
    data = json.loads(out.stdout)
    assert [f["id"] for f in data["findings"]] == ["torchvision-torch-mismatch"]
    assert data["findings"][0]["severity"] == "error"
    out = _torchup("doctor", "--state", str(FIXTURES / "cpu-torch2.13.0__healthy.json"), env=clean_env)
    assert out.returncode == 0 and "no problems found" in out.stdout
    saved = tmp_path / "again.json"
    out = _torchup("doctor", "--state", str(FIXTURES / "cpu-torch2.13.0__healthy.json"), "--save-state", str(saved), env=clean_env)
    assert json.loads(saved.read_text())["verify_run"] == json.loads((FIXTURES / "cpu-torch2.13.0__healthy.json").read_text())["verify_run"]


def test_cli_bad_input(clean_env, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    out = _torchup("doctor", "--state", str(bad), env=clean_env)
    assert out.returncode == 2 and "is not JSON" in out.stderr
    bad.write_text(json.dumps({"torchup_doctor_state": 1, "python": "p", "machine": {"os": "plan9"}}))
    out = _torchup("doctor", "--json", "--state", str(bad), env=clean_env)
    assert out.returncode == 2 and json.loads(out.stdout)["error"]["code"] == "bad-input"
    out = _torchup("doctor", "--state", str(bad), "--python", sys.executable, env=clean_env)
    assert out.returncode == 2 and "--state" in out.stderr


def test_cli_a_python_that_cannot_run_the_check(clean_env, tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'broken interpreter' >&2\nexit 3\n")
    fake.chmod(0o755)
    saved = tmp_path / "state.json"
    out = _torchup("doctor", "--json", "--python", str(fake), "--save-state", str(saved), env=clean_env)
    assert out.returncode == 4, out.stderr
    err = json.loads(out.stdout)["error"]
    assert err["code"] == "environment" and "exited with code 3" in err["message"]
    assert "broken interpreter" in err["reasons"]
    assert json.loads(saved.read_text())["verify_run"]["returncode"] == 3  # recorded all the same


def test_cli_torch_that_hangs_on_import_is_not_healthy(clean_env, tmp_path):
    # the recorded healthy state, cut where a real hang in `import torch` would cut it
    data = json.loads((FIXTURES / "cpu-torch2.13.0__healthy.json").read_text())
    events = data["verify_run"]["events"]
    keep = [e for e in events if e.get("step") in ("python", "distributions") or e["event"] == "hello"]
    data["verify_run"].update(events=keep + [{"event": "start", "step": "import-torch"}], returncode=None, timed_out=True)
    path = tmp_path / "hang.json"
    path.write_text(json.dumps(data))
    out = _torchup("doctor", "--state", str(path), env=clean_env)
    assert out.returncode == 1
    assert "torch is installed but does not import: the check did not finish within its time limit" in out.stdout
    assert "no known problem matches" in out.stdout
    out = _torchup("doctor", "--json", "--state", str(path), env=clean_env)
    summary = json.loads(out.stdout)["summary"]
    assert summary["torch_imports"] is False and "time limit" in summary["check_crashed"]


def test_cli_hung_nvidia_smi_is_a_driver_finding(clean_env, tmp_path):
    # the replayed machine tests/fixtures/machines/hung-nvidia-smi: its nvidia-smi never answers
    # (the probe waits its default 10 s for it, as on a real wedged driver)
    machine = Path(__file__).resolve().parent / "fixtures" / "machines" / "hung-nvidia-smi"
    env = dict(clean_env, PATH=str(machine / "bin"), TORCHUP_SYSROOT=str(machine / "root"), HOME=str(tmp_path))
    out = _torchup("doctor", "--json", "--no-plan", "--python", sys.executable, env=env)
    assert out.returncode == 1, out.stderr
    data = json.loads(out.stdout)
    [finding] = [f for f in data["findings"] if f["id"] == "driver-unresponsive"]
    assert finding["severity"] == "error" and finding["family"] == "driver"
    assert any("nvidia-smi did not answer within 10 s" in e for e in finding["evidence"])
    assert [n["id"] for n in data["summary"]["probe_notes"]] == ["driver-unresponsive"]


def test_state_file_beyond_the_limits_is_refused_naming_the_field(tmp_path, capsys):
    from torchup.cli import main

    healthy = json.loads((FIXTURES / "cpu-torch2.13.0__healthy.json").read_text())
    cases = {
        "deep": ("[" * 100_000 + "]" * 100_000, "over 32 deep"),  # the parser's own recursion limit
        "deep-field": ({**healthy, "env": {"X": json.loads("[" * 40 + "]" * 40)}}, "env.X[0][0]"),
        "long-int": (json.dumps(healthy).replace('"python": ', '"extra": ' + "9" * 5000 + ', "python": ', 1),
                     "extra: an integer of 5000 digits"),
        "wrong-type": ({**healthy, "env": [1]}, "a field of the wrong type"),
        "huge": (" " * (16 << 20) + "{}", "over 16 MB"),
    }
    for name, (content, expected) in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        assert main(["doctor", "--state", str(path)]) == 2, name
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err, (name, err)
