"""The probe as it runs on a fleet node, inside the bundle (``torchup.fleet.bundle``).

Nothing of torchup is installed on the node: the bundle brings this package and the node's
own ``python3`` runs it.  It prints one line, ``TORCHUP_FLEET_PROBE:{json}``, holding the
node's name and either its machine file or the error, so that an engine that merges many
nodes' output (``srun``) still yields one answer per node.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys

from torchup.errors import EXIT_BUG, TorchupError
from torchup.fleet import MARK

__all__ = ["main"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="torchup-fleet-probe")
    parser.add_argument("--timeout", type=float, default=None)
    parser.add_argument("--node", default=None, help="the name to report (default: the host name)")
    args = parser.parse_args(argv)
    node = args.node or socket.gethostname()
    try:
        from torchup.machine import machine_to_dict
        from torchup.probe import DEFAULT_TIMEOUT, probe_machine
        from torchup.system import system_from_env

        # the target is the interpreter running the bundle: the engine chose it (torchup_python)
        machine = probe_machine(system_from_env(), python=sys.executable, timeout=args.timeout or DEFAULT_TIMEOUT)
        answer: dict = {"node": node, "machine": machine_to_dict(machine)}
        code = 0
    except TorchupError as err:
        answer, code = {"node": node, "error": err.to_json()}, err.exit_code
    except Exception as exc:  # noqa: BLE001 -- a bug on one node must still come back as that node's answer
        answer = {"node": node, "error": {"code": "bug", "message": f"internal error ({type(exc).__name__}: {exc})"}}
        code = EXIT_BUG
    sys.stdout.write(MARK + json.dumps(answer) + "\n")
    return code
