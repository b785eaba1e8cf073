"""Rolling a fleet plan out with Ansible, and the verify reports of every node in one table. Pure.

``rollout_playbook`` renders the playbook: each host gets the plan file of its group
(``nodes.json``, written by ``fleet plan --write-plans``), runs ``torchup install --plan FILE
--yes`` and then ``torchup verify --json``, and the last task saves what every host answered
in one JSON file on the controller.  ``read_rollout_results`` and ``read_verify_reports`` turn
that file, or a directory of ``torchup verify --json`` reports, into ``NodeReport`` rows.

torchup must be on each node for this step (``torchup_command``, default ``torchup``);
``torchup_python`` names the environment to install into and ``torchup_environment`` adds
variables, as for ``fleet probe``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torchup.errors import InputError

__all__ = ["NodeReport", "read_rollout_results", "read_verify_report", "rollout_playbook", "table"]

_TAIL = 300


@dataclass(frozen=True, kw_only=True)
class NodeReport:
    """One row of ``fleet verify``: ``status`` is ``ok``, ``verify failed``, ``install failed``,
    ``unreachable``, ``no plan`` or ``no report``."""

    node: str
    status: str
    plan: str | None = None
    torch: str | None = None
    build: str | None = None
    devices: str = ""
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict:
        return {
            "node": self.node,
            "status": self.status,
            "ok": self.ok,
            "plan": self.plan,
            "torch": self.torch,
            "build": self.build,
            "devices": self.devices,
            "problem": self.problem,
        }


def _command(*args: str) -> str:
    """The argv of a torchup command on the node, as a Jinja expression (a list)."""
    base = "([torchup_command] if torchup_command is string else torchup_command)"
    python = "(['--python', torchup_python] if torchup_python is defined else [])"
    return "{{ " + f"{base} + {json.dumps(list(args))} + {python}" + " }}"


def rollout_playbook(*, plans_dir: str, assignments: Mapping[str, str], results: str, node_timeout: int) -> str:
    """The rollout playbook (JSON, which YAML readers take as it is).  ``assignments`` maps a
    node to the name of its plan file in ``plans_dir``; a host not in it is reported as
    having no plan and left alone."""
    when = "torchup_plan_name != ''"
    tasks: list[dict[str, Any]] = [
        {
            "name": "the plan file for this node",
            "ansible.builtin.set_fact": {
                "torchup_plan_name": "{{ torchup_assignments[inventory_hostname] | default('') }}",
                "torchup_command": "{{ torchup_command | default('torchup') }}",
            },
        },
        {
            "name": "a private directory on the node",
            "ansible.builtin.tempfile": {"state": "directory", "prefix": "torchup-rollout-"},
            "register": "torchup_tmp",
            "when": when,
        },
        {
            "name": "copy the plan",
            "ansible.builtin.copy": {
                "src": "{{ torchup_plans_dir }}/{{ torchup_plan_name }}",
                "dest": "{{ torchup_tmp.path }}/plan.json",
                "mode": "0600",
            },
            "when": when,
        },
        {
            "name": "torchup install --plan",
            "ansible.builtin.command": {
                "argv": _command("install", "--plan", "PLAN", "--yes", "--no-verify").replace(
                    '"PLAN"', "torchup_tmp.path + '/plan.json'"
                )
            },
            "environment": "{{ torchup_environment | default({}) }}",
            "register": "torchup_install",
            "failed_when": False,
            "changed_when": "torchup_install.rc == 0",
            "when": when,
        },
        {
            "name": "torchup verify --json",
            "ansible.builtin.command": {"argv": _command("verify", "--json")},
            "environment": "{{ torchup_environment | default({}) }}",
            "register": "torchup_verify",
            "failed_when": False,
            "changed_when": False,
            "when": f"{when} and torchup_install.rc == 0",
        },
        {
            "name": "remove the private directory",
            "ansible.builtin.file": {"path": "{{ torchup_tmp.path }}", "state": "absent"},
            "when": f"{when} and torchup_tmp.path is defined",
        },
    ]
    for task in tasks:
        task.setdefault("timeout", node_timeout)
        task["ignore_unreachable"] = True
    every = "ansible_play_hosts_all"

    def answers(var: str) -> str:
        return f"{every} | map('extract', hostvars) | map(attribute='{var}', default={{}})"

    plan_names = f"{every} | map('extract', hostvars) | map(attribute='torchup_plan_name', default='')"
    steps = f"{plan_names} | zip({answers('torchup_install')}, {answers('torchup_verify')}, {answers('torchup_tmp')})"
    content = "{{ dict(" + every + " | zip(" + steps + ")) | to_json }}"
    tasks.append(
        {
            "name": "save every node's answer on the controller",
            "run_once": True,
            "delegate_to": "localhost",
            "ansible.builtin.copy": {"dest": results, "content": content},
        }
    )
    play = {
        "name": "torchup fleet rollout",
        "hosts": "all",
        "gather_facts": False,
        "vars": {"torchup_plans_dir": plans_dir, "torchup_assignments": dict(assignments)},
        "tasks": tasks,
    }
    return json.dumps([play], indent=2) + "\n"


def read_rollout_results(data: Any) -> list[NodeReport]:
    """The file the rollout playbook saved: ``{host: [plan name, install, verify, tmp]}``."""
    if not isinstance(data, dict):
        raise InputError("the rollout results are not a JSON object of hosts")
    rows = []
    for node, value in sorted(data.items()):
        plan, install, verify, tmp = value if isinstance(value, list) and len(value) == 4 else ("", {}, {}, {})
        name = plan if isinstance(plan, str) and plan else None
        rows.append(_rollout_row(str(node), name, _dict(install), _dict(verify), _dict(tmp)))
    return rows


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _rollout_row(node: str, plan: str | None, install: dict, verify: dict, tmp: dict) -> NodeReport:
    for step in (tmp, install, verify):
        if step.get("unreachable"):
            return NodeReport(node=node, status="unreachable", plan=plan, problem=str(step.get("msg") or ""))
    if not plan:
        return NodeReport(node=node, status="no plan", problem="no plan file was assigned to this node")
    if tmp.get("failed"):
        return NodeReport(node=node, status="install failed", plan=plan, problem=_tail(str(tmp.get("msg") or "")))
    if install.get("rc") != 0:
        why = _tail(str(install.get("stderr") or install.get("msg") or "")) or "no output"
        return NodeReport(
            node=node, status="install failed", plan=plan, problem=f"exit status {install.get('rc')}: {why}"
        )
    stdout = str(verify.get("stdout") or "")
    try:
        report = json.loads(stdout)
    except ValueError:
        why = _tail(str(verify.get("stderr") or verify.get("msg") or "")) or "it printed no JSON"
        return NodeReport(node=node, status="no report", plan=plan, problem=why)
    row = read_verify_report(node, report)
    return NodeReport(**{**row.__dict__, "plan": plan})


def read_verify_report(node: str, report: Any) -> NodeReport:
    """One ``torchup verify --json`` report as a row."""
    if not isinstance(report, dict) or report.get("format") != "torchup/verify":
        return NodeReport(node=node, status="no report", problem="not a torchup verify --json report")
    if isinstance(report.get("error"), dict):
        return NodeReport(node=node, status="no report", problem=str(report["error"].get("message") or "error"))
    torch = report.get("torch") if isinstance(report.get("torch"), dict) else None
    build = _dict(report.get("build"))
    devices = [d for d in report.get("devices") or () if isinstance(d, dict)]
    names = ", ".join(str(d.get("name") or d.get("device") or "?") for d in devices)
    problem = ""
    if not report.get("ok"):
        failed = [c for c in report.get("checks") or () if isinstance(c, dict) and c.get("status") == "fail"]
        if report.get("crashed"):
            problem = str(report["crashed"])
        elif failed:
            c = failed[0]
            problem = f"{c.get('step')}: {c.get('detail') or ''}".strip()
        elif torch is None:
            problem = "torch does not import"
        else:
            problem = "a device has no kernels for its architecture"
    return NodeReport(
        node=node,
        status="ok" if report.get("ok") else "verify failed",
        torch=str(torch.get("version")) if torch else _installed_torch(report),
        build=str(build.get("label")) if build.get("label") else None,
        devices=names,
        problem=_tail(problem),
    )


def _installed_torch(report: Mapping[str, Any]) -> str | None:
    """The torch distribution on the target's path, when it did not import (its metadata says)."""
    for d in report.get("distributions") or ():
        if isinstance(d, dict) and d.get("name") == "torch" and d.get("version"):
            return str(d["version"])
    return None


def _tail(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _TAIL else "..." + text[-_TAIL:]


def table(rows: list[NodeReport]) -> str:
    """The rows as an aligned text table, worst first."""
    order = sorted(rows, key=lambda r: (r.ok, r.node))
    cells = [("node", "status", "plan", "torch", "build", "devices", "problem")]
    cells += [
        (r.node, r.status, r.plan or "-", r.torch or "-", r.build or "-", r.devices or "-", r.problem or "")
        for r in order
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(6)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row[:6], widths)) + "  " + row[6] for row in cells]
    return "\n".join(line.rstrip() for line in lines) + "\n"
