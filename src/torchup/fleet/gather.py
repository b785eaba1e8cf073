"""Gathering machine files from a fleet: what the engine runs, and reading back its answer.

Pure.  Ansible runs the probe bundle on every node of the user's inventory
(``probe_playbook``; the ``script`` module copies it there and runs it with the node's
``python3``) and the playbook's last task saves every node's registered result in
one JSON file on the controller (``read_ansible_results``).  Slurm runs the bundle once per
node of an allocation (``srun_command`` / ``sbatch_script``); each task prints one marked
line, so the merged output still splits by node (``read_marked_output``, which also reads
the saved output of an ad-hoc ``ansible -m script`` run).

A node that is unreachable, whose probe failed or that ran past its time is reported with
the reason and gets no machine file (``assign_files`` names the files of the others).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from torchup.errors import InputError, TorchupError
from torchup.fleet import MARK
from torchup.machine import machine_from_dict
from torchup.record import replace

__all__ = [
    "NodeResult",
    "assign_files",
    "node_file_name",
    "probe_playbook",
    "read_ansible_results",
    "read_marked_output",
    "sbatch_script",
    "srun_command",
]

OK, UNREACHABLE, TIMED_OUT, FAILED, NO_ANSWER = "ok", "unreachable", "timed out", "probe failed", "no answer"
_NAME_RE = re.compile(r"[^A-Za-z0-9._-]")
_TAIL = 500


@dataclass(frozen=True, kw_only=True)
class NodeResult:
    """One node's answer: ``status`` is ``ok`` (``machine`` holds its machine file) or why not."""

    node: str
    status: str
    machine: Mapping[str, Any] | None = None
    message: str = ""
    path: str | None = None  # the machine file written for it

    def to_json(self) -> dict:
        return {"node": self.node, "status": self.status, "message": self.message, "machine_file": self.path}


def node_file_name(node: str) -> str:
    """``<node>.json``, with anything but letters, digits, ``.``, ``_`` and ``-`` replaced by ``_``."""
    safe = _NAME_RE.sub("_", node).lstrip(".") or "_"
    return safe + ".json"


# --- Ansible ------------------------------------------------------------------------


def probe_playbook(*, bundle: str, results: str, probe_timeout: float, node_timeout: int) -> str:
    """The playbook (JSON, which YAML readers take as it is) that probes every host of the
    inventory and saves all answers in ``results`` on the controller.

    Host variables it reads: ``torchup_python`` (the interpreter to probe, default ``python3``),
    ``torchup_environment`` (variables for the probe, e.g. ``CUDA_VISIBLE_DEVICES``) and
    ``torchup_node_timeout`` (seconds, in place of ``node_timeout``)."""
    probe = {
        "name": "probe the node with its own Python (nothing is installed)",
        "ansible.builtin.script": {
            "cmd": f"{shlex.quote(bundle)} --timeout {probe_timeout:g} --node {{{{ inventory_hostname | quote }}}}",
            "executable": "{{ torchup_python | default('python3') }}",
        },
        "environment": "{{ torchup_environment | default({}) }}",
        "timeout": f"{{{{ torchup_node_timeout | default({int(node_timeout)}) }}}}",
        "register": "torchup_probe",
        "ignore_errors": True,
        "ignore_unreachable": True,
        "changed_when": False,
    }
    every = "ansible_play_hosts_all"
    answers = f"{every} | map('extract', hostvars) | map(attribute='torchup_probe', default={{}})"
    save = {
        "name": "save every node's answer on the controller",
        "run_once": True,
        "delegate_to": "localhost",
        "ansible.builtin.copy": {"dest": results, "content": f"{{{{ dict({every} | zip({answers})) | to_json }}}}"},
    }
    play = {"name": "torchup fleet probe", "hosts": "all", "gather_facts": False, "tasks": [probe, save]}
    return json.dumps([play], indent=2) + "\n"


def read_ansible_results(data: Any) -> list[NodeResult]:
    """The answers the probe playbook saved: ``{host: registered result}``."""
    if not isinstance(data, dict):
        raise InputError("the Ansible results are not a JSON object of hosts")
    return [_ansible_one(str(host), result) for host, result in sorted(data.items())]


def _ansible_one(host: str, result: Any) -> NodeResult:
    if not isinstance(result, dict) or not result:
        return NodeResult(node=host, status=NO_ANSWER, message="Ansible returned nothing for this host")
    msg = str(result.get("msg") or "")
    if result.get("unreachable"):
        return NodeResult(node=host, status=UNREACHABLE, message=msg or "unreachable")
    if result.get("timedout") or msg.startswith("Task failed: Timed out"):
        return NodeResult(node=host, status=TIMED_OUT, message=msg or "the probe ran past its time")
    stdout = str(result.get("stdout") or "")
    found = _marked(stdout)
    if found:
        return _answer(host, found)
    rc = result.get("rc")
    why = _tail(str(result.get("stderr") or "")) or msg or "it printed no answer"
    return NodeResult(node=host, status=FAILED, message=f"exit status {rc}: {why}" if rc is not None else why)


def _marked(stdout: str) -> dict | None:
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith(MARK):
            return _decode_first(line[len(MARK) :])
    return None


def _answer(node: str, found: Mapping[str, Any]) -> NodeResult:
    error = found.get("error")
    if isinstance(error, dict):
        message = str(error.get("message") or error.get("code") or "failed")
        if error.get("hint"):
            message += f" ({error['hint']})"
        return NodeResult(node=node, status=FAILED, message=message)
    machine = found.get("machine")
    try:
        machine_from_dict(machine, origin=f"the machine file of {node}")
    except TorchupError as err:
        return NodeResult(node=node, status=FAILED, message="; ".join([err.message, *err.details]))
    assert isinstance(machine, dict)
    return NodeResult(node=node, status=OK, machine=machine)


def _tail(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _TAIL else "..." + text[-_TAIL:]


# --- Slurm --------------------------------------------------------------------------


def srun_command(*, bundle: str, python: str = "python3", probe_timeout: float = 10.0) -> list[str]:
    """``srun`` over the whole allocation, one task per node, each probing its node."""
    return [
        "srun",
        "--ntasks-per-node=1",
        "--kill-on-bad-exit=0",
        python,
        bundle,
        "--timeout",
        f"{probe_timeout:g}",
    ]


def sbatch_script(*, bundle: str, nodes: int, python: str = "python3", probe_timeout: float = 10.0,
                  partition: str | None = None, time_limit: str = "00:05:00") -> str:  # fmt: skip
    """A batch script for ``sbatch``; its output file is what ``fleet probe --from-output`` reads.
    ``bundle`` must be on a file system the nodes share."""
    lines = [
        "#!/bin/sh",
        "#SBATCH --job-name=torchup-probe",
        f"#SBATCH --nodes={int(nodes)}",
        "#SBATCH --ntasks-per-node=1",
        f"#SBATCH --time={time_limit}",
    ]
    if partition:
        lines.append(f"#SBATCH --partition={partition}")
    lines.append(shlex.join(srun_command(bundle=bundle, python=python, probe_timeout=probe_timeout)))
    return "\n".join(lines) + "\n"


def read_marked_output(text: str, expected: Iterable[str] = ()) -> list[NodeResult]:
    """The answers in a saved output: the marked line of each node (the Slurm job's output),
    or Ansible's report of each host (an ad-hoc ``ansible -m script`` run: ``host | CHANGED =>
    {...}``, ``host | UNREACHABLE! => {...}``).  A node named in ``expected`` (``scontrol show
    hostnames``, the inventory) with no answer is reported as such."""
    seen: dict[str, NodeResult] = {}
    for line in text.splitlines():
        idx = line.find(MARK)
        found = _decode_first(line[idx + len(MARK) :]) if idx >= 0 else None
        if found is not None:
            node = str(found.get("node") or f"task-{len(seen)}")
            seen[node] = _answer(node, found)
    decoder = json.JSONDecoder()
    for m in _ANSIBLE_REPORT.finditer(text):
        try:
            result, _end = decoder.raw_decode(text, m.end())
        except ValueError:
            continue
        seen[m.group(1)] = _ansible_one(m.group(1), result)
    for node in expected:
        if node not in seen:
            seen[node] = NodeResult(node=node, status=NO_ANSWER, message="no answer in the output")
    return [seen[n] for n in sorted(seen)]


# how ansible reports a host's result, with or without -o: "n1 | CHANGED => {", "n2 | UNREACHABLE! => {"
_ANSIBLE_REPORT = re.compile(r"^(\S+) \| [A-Z]+!? => (?=\{)", re.M)


def _decode_first(text: str) -> dict | None:
    """The JSON object at the start of ``text``, whatever follows it."""
    try:
        found, _end = json.JSONDecoder().raw_decode(text.strip())
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def assign_files(results: list[NodeResult]) -> list[tuple[NodeResult, str | None]]:
    """Each result with the name of its machine file (``None``: it failed).  Two nodes whose
    names map to the same file: the second is reported, not written over the first."""
    out: list[tuple[NodeResult, str | None]] = []
    taken: set[str] = set()
    for r in results:
        if r.status != OK or r.machine is None:
            out.append((r, None))
            continue
        name = node_file_name(r.node)
        if name in taken:
            out.append(
                (replace(r, status=FAILED, machine=None, message=f"its file name {name} is another node's"), None)
            )
            continue
        taken.add(name)
        out.append((r, name))
    return out
