"""Gathering: the probe bundle runs on a bare interpreter, Ansible's per-host answers and a
Slurm job's merged output become machine files or reasons (torchup.fleet.gather)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import FIXTURES, PROBE_FIXTURES
from torchup.fleet import bundle, gather
from torchup.fleet import MARK

MACHINE = {
    "format": "torchup/probe",
    "version": 1,
    "os": "linux",
    "arch": "x86_64",
    "python": "3.11.2",
    "gpus": [{"vendor": "nvidia", "name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"}],
}


def _line(node: str, **body) -> str:
    return MARK + json.dumps({"node": node, **body})


def test_the_bundle_runs_on_the_standard_library_alone(tmp_path):
    path = bundle.build_bundle(str(tmp_path / "probe.pyz"))
    name = "h100-mig"
    env = {
        "TORCHUP_SYSROOT": str(FIXTURES / "machines" / name / "root"),
        "TORCHUP_PROBE_FIXTURES": str(PROBE_FIXTURES),
        "PATH": f"{FIXTURES / 'machines' / name / 'bin'}{os.pathsep}/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    # -S: no site-packages at all (neither torchup nor packaging), -I: no PYTHONPATH, no user site
    r = subprocess.run(
        [sys.executable, "-I", "-S", path, "--node", "n1", "--timeout", "5"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    [line] = [ln for ln in r.stdout.splitlines() if ln.startswith(MARK)]
    answer = json.loads(line[len(MARK) :])
    assert answer["node"] == "n1"
    assert answer["machine"]["nvidia_driver"] == "590.48.01"
    assert answer["machine"]["gpus"][0]["compute_capability"] == "9.0"
    assert not [p for p in os.listdir(tmp_path) if p.startswith("torchup-fleet-")]


def test_the_bundle_tells_an_old_python_why(tmp_path):
    path = bundle.build_bundle(str(tmp_path / "probe.pyz"))
    # the bundle's __main__ checks the version before importing torchup; run that check as 3.9 would
    code = (
        f"import sys; sys.version_info = (3, 9, 18, 'final', 0); sys.argv = [{path!r}, '--node', 'old']; "
        f"import zipfile; exec(zipfile.ZipFile({path!r}).read('__main__.py'))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    answer = json.loads(r.stdout.strip()[len(MARK) :])
    assert answer == {
        "node": "old",
        "error": {
            "code": "python-too-old",
            "message": "the node's Python is 3.9; the torchup probe needs 3.10 or newer",
            "hint": "point torchup_python at a newer interpreter on this node",
        },
    }


def test_ansible_answers_become_results():
    data = {
        "ok": {"rc": 0, "stdout": "noise\n" + _line("ok", machine=MACHINE) + "\n", "stderr": "", "changed": False},
        "down": {
            "unreachable": True,
            "msg": "Task failed: Failed to connect to the host via ssh: Connection refused",
            "changed": False,
        },
        "slow": {"timedout": {"period": 20}, "failed": True, "msg": "Task failed: Timed out after 20 second(s)."},
        "crash": {
            "rc": 127,
            "stdout": "",
            "stderr": "python3: not found",
            "failed": True,
            "msg": "non-zero return code",
        },
        "refused": {
            "rc": 4,
            "stdout": _line(
                "refused",
                error={
                    "code": "target-python-failed",
                    "message": "cannot learn about the target Python",
                    "hint": "name a working interpreter",
                },
            ),
            "failed": True,
        },
        "garbled": {"rc": 0, "stdout": _line("garbled", machine={"os": "plan9"})},
        "skipped": {},
    }
    got = {r.node: (r.status, r.message) for r in gather.read_ansible_results(data)}
    garbled = got.pop("garbled")
    assert garbled[0] == "probe failed" and "the machine file of garbled" in garbled[1] and "plan9" in garbled[1]
    assert got == {
        "ok": ("ok", ""),
        "down": ("unreachable", "Task failed: Failed to connect to the host via ssh: Connection refused"),
        "slow": ("timed out", "Task failed: Timed out after 20 second(s)."),
        "crash": ("probe failed", "exit status 127: python3: not found"),
        "refused": ("probe failed", "cannot learn about the target Python (name a working interpreter)"),
        "skipped": ("no answer", "Ansible returned nothing for this host"),
    }


def test_machine_files_are_named_for_their_nodes_and_never_overwrite_each_other():
    results = [gather.NodeResult(node=n, status="ok", machine=MACHINE) for n in ("gpu/01", "gpu:01", "../x")]
    results.append(gather.NodeResult(node="down", status="unreachable", message="refused"))
    got = [(r.node, r.status, name) for r, name in gather.assign_files(results)]
    assert got == [
        ("gpu/01", "ok", "gpu_01.json"),
        ("gpu:01", "probe failed", None),
        ("../x", "ok", "_x.json"),
        ("down", "unreachable", None),
    ]


def test_srun_command_and_sbatch_script():
    assert gather.srun_command(bundle="/shared/torchup probe.pyz") == [
        "srun",
        "--ntasks-per-node=1",
        "--kill-on-bad-exit=0",
        "python3",
        "/shared/torchup probe.pyz",
        "--timeout",
        "10",
    ]
    assert gather.sbatch_script(bundle="/shared/probe.pyz", nodes=4, partition="gpu-v100", probe_timeout=20) == (
        "#!/bin/sh\n"
        "#SBATCH --job-name=torchup-probe\n"
        "#SBATCH --nodes=4\n"
        "#SBATCH --ntasks-per-node=1\n"
        "#SBATCH --time=00:05:00\n"
        "#SBATCH --partition=gpu-v100\n"
        "srun --ntasks-per-node=1 --kill-on-bad-exit=0 python3 /shared/probe.pyz --timeout 20\n"
    )


def test_srun_output_splits_by_node():
    text = "\n".join(
        [
            "slurmstepd: error: *** STEP 12.0 ON n3 CANCELLED AT 2026-12-03T10:00:00 ***",
            "0: " + _line("n1", machine=MACHINE),  # srun --label
            _line("n2", error={"code": "python-too-old", "message": "the node's Python is 3.6"}),
            "",
        ]
    )
    got = {r.node: r.status for r in gather.read_marked_output(text, expected=["n1", "n2", "n3"])}
    assert got == {"n1": "ok", "n2": "probe failed", "n3": "no answer"}


def test_fleet_slurm_writes_the_bundle_and_prints_the_script(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "torchup", "fleet", "slurm", "--bundle", str(tmp_path / "probe.pyz"), "--nodes", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith(
        f"srun --ntasks-per-node=1 --kill-on-bad-exit=0 python3 {tmp_path / 'probe.pyz'} --timeout 10\n"
    )
    assert (tmp_path / "probe.pyz").stat().st_size > 10_000


def test_fleet_probe_reads_a_saved_srun_output(tmp_path):
    out = tmp_path / "job.out"
    out.write_text(_line("n1", machine=MACHINE) + "\n")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "torchup",
            "fleet",
            "probe",
            "--from-output",
            str(out),
            "--expect",
            "n1,n2",
            "--out",
            str(tmp_path / "m"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert r.stdout == (
        f"torchup fleet probe: 1 of 2 nodes -> {tmp_path / 'm'}\n  n1: ok\n  n2: no answer: no answer in the output\n"
    )
    assert os.listdir(tmp_path / "m") == ["n1.json"]


def test_fleet_probe_needs_one_source(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "torchup", "fleet", "probe", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "name exactly one of --inventory" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "torchup", "fleet", "probe", "--render", "/proc/none"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 4 and "Traceback" not in r.stderr and "cannot write /proc/none" in r.stderr


def test_without_ansible_the_error_says_what_to_do(tmp_path):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("all:\n  hosts:\n    n1:\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no ansible-playbook there
    r = subprocess.run(
        [sys.executable, "-m", "torchup", "fleet", "probe", "-i", str(inventory), "--out", str(tmp_path / "m")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 4 and "Traceback" not in r.stderr
    assert "ansible-playbook is not on PATH" in r.stderr and "--render" in r.stderr
    assert not (tmp_path / "m").exists()
