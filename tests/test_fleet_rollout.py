"""The rollout playbook and the verify table (torchup.fleet.rollout): rendering, and reading
back what the playbook saved or a directory of ``torchup verify --json`` reports."""

from __future__ import annotations

import json
import subprocess
import sys

from torchup.fleet import rollout

GOOD = {
    "format": "torchup/verify",
    "version": 1,
    "ok": True,
    "torch": {"version": "2.13.0+cpu"},
    "build": {"label": "CPU"},
    "devices": [{"device": "cpu", "type": "cpu", "name": "AMD EPYC 9654"}],
    "checks": [{"step": "matmul", "status": "pass"}],
    "crashed": None,
    "distributions": [],
}
NO_KERNEL = dict(
    GOOD,
    ok=False,
    torch={"version": "2.15.0+cu130"},
    build={"label": "CUDA 13.0"},
    devices=[{"device": "cuda:0", "type": "cuda", "name": "Tesla V100-SXM2-32GB", "arch_ok": False}],
    checks=[
        {
            "step": "matmul",
            "device": "cuda:0",
            "status": "fail",
            "detail": "CUDA error: no kernel image is available for execution on the device",
        }
    ],
)
BROKEN = dict(
    GOOD,
    ok=False,
    torch=None,
    checks=[{"step": "import-torch", "status": "fail", "detail": "OSError: libcudnn.so.9: cannot open shared object"}],
    distributions=[{"name": "torch", "version": "2.14.1+cu126"}],
)


def test_the_playbook_runs_install_then_verify_with_the_hosts_command():
    text = rollout.rollout_playbook(
        plans_dir="/srv/plans", assignments={"n1": "plan-1.json"}, results="/srv/results.json", node_timeout=900
    )
    [play] = json.loads(text)
    assert play["vars"] == {"torchup_plans_dir": "/srv/plans", "torchup_assignments": {"n1": "plan-1.json"}}
    names = [t["name"] for t in play["tasks"]]
    assert names == [
        "the plan file for this node",
        "a private directory on the node",
        "copy the plan",
        "torchup install --plan",
        "torchup verify --json",
        "remove the private directory",
        "save every node's answer on the controller",
    ]
    install = play["tasks"][3]["ansible.builtin.command"]["argv"]
    assert install == (
        "{{ ([torchup_command] if torchup_command is string else torchup_command) + "
        '["install", "--plan", torchup_tmp.path + \'/plan.json\', "--yes", "--no-verify"] + '
        "(['--python', torchup_python] if torchup_python is defined else []) }}"
    )
    assert all(t["timeout"] == 900 and t["ignore_unreachable"] for t in play["tasks"][:-1])
    assert play["tasks"][-1]["ansible.builtin.copy"]["dest"] == "/srv/results.json"


def _saved(plan, install, verify, tmp=None):
    return [plan, install, verify, tmp or {"path": "/tmp/torchup-rollout-x"}]


def test_saved_answers_become_rows():
    data = {
        "ok": _saved("plan-1.json", {"rc": 0}, {"rc": 0, "stdout": json.dumps(GOOD)}),
        "v100": _saved("plan-1.json", {"rc": 0}, {"rc": 1, "stdout": json.dumps(NO_KERNEL)}),
        "cudnn": _saved("plan-2.json", {"rc": 0}, {"rc": 1, "stdout": json.dumps(BROKEN)}),
        "full": _saved("plan-1.json", {"rc": 6, "stderr": "ERROR: No space left on device"}, {}),
        "down": _saved("plan-1.json", {}, {}, {"unreachable": True, "msg": "Connection timed out"}),
        "spare": _saved("", {}, {}, {}),
    }
    rows = {r.node: r for r in rollout.read_rollout_results(data)}
    assert rows["ok"].to_json() == {
        "node": "ok",
        "status": "ok",
        "ok": True,
        "plan": "plan-1.json",
        "torch": "2.13.0+cpu",
        "build": "CPU",
        "devices": "AMD EPYC 9654",
        "problem": "",
    }
    assert (rows["v100"].status, rows["v100"].problem) == (
        "verify failed",
        "matmul: CUDA error: no kernel image is available for execution on the device",
    )
    assert (rows["cudnn"].torch, rows["cudnn"].problem) == (
        "2.14.1+cu126",
        "import-torch: OSError: libcudnn.so.9: cannot open shared object",
    )
    assert (rows["full"].status, rows["full"].problem) == (
        "install failed",
        "exit status 6: ERROR: No space left on device",
    )
    assert (rows["down"].status, rows["spare"].status) == ("unreachable", "no plan")
    table = rollout.table(list(rows.values()))
    assert table.splitlines()[0].split() == ["node", "status", "plan", "torch", "build", "devices", "problem"]
    assert table.splitlines()[-1].startswith("ok ")  # worst first


def test_fleet_verify_reads_a_directory_of_reports(tmp_path):
    (tmp_path / "n1.json").write_text(json.dumps(GOOD))
    (tmp_path / "n2.json").write_text(json.dumps(NO_KERNEL))
    (tmp_path / "n3.json").write_text('{"format": "torchup/plan"}')
    r = subprocess.run(
        [sys.executable, "-m", "torchup", "fleet", "verify", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["format"] == "torchup/fleet-verify" and doc["ok"] is False
    assert [(n["node"], n["status"]) for n in doc["nodes"]] == [
        ("n1", "ok"),
        ("n2", "verify failed"),
        ("n3", "no report"),
    ]
    (tmp_path / "n2.json").unlink()
    (tmp_path / "n3.json").unlink()
    r = subprocess.run(
        [sys.executable, "-m", "torchup", "fleet", "verify", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0 and r.stdout.startswith("torchup fleet verify: 1 of 1 nodes ok\n")
