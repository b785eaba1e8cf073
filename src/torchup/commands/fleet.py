"""``torchup fleet``: probe many nodes through Ansible or Slurm, plan for all of them, roll
the plan out and gather the verify reports (docs/fleet.md).

Wiring only: the engine's playbook and job text come from ``torchup.fleet.gather`` and
``torchup.fleet.rollout``, the planning from ``torchup.fleet.planning``; Ansible runs through
the one runner.  Exit status: 0 when every node answered (and, for ``plan``, got a build;
for ``verify``, verified), 1 when some node did not, 3 when no build fits.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from torchup.commands._args import seconds
from torchup.errors import EXIT_FAILURE, EXIT_NO_BUILD, EXIT_OK, EnvironmentProblem, InputError, UsageError
from torchup.output import redact_url

TYPE_CHECKING = False  # argparse is imported only when argparse parses (torchup.fastargs)
if TYPE_CHECKING:
    import argparse

__all__ = ["add_arguments", "load_fleet", "run"]

_DEFAULT_NODE_TIMEOUT = 300
# The whole ansible-playbook run: Ansible works through the hosts a few at a time (forks), so
# its length grows with the inventory; each host's task has its own limit (--node-timeout),
# and this is only the belt to those braces.
_ANSIBLE_RUN_LIMIT_S = 24 * 3600


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="fleet_command", metavar="STEP", required=True)

    p = sub.add_parser("probe", help="write one machine file per node (Ansible, or the output of the Slurm job)")
    p.add_argument("--inventory", "-i", metavar="INVENTORY", help="the Ansible inventory of the nodes")
    p.add_argument("--limit", metavar="PATTERN", help="only these hosts of the inventory (Ansible's --limit)")
    p.add_argument("--out", metavar="DIR", help="the directory for the machine files (<node>.json)")
    p.add_argument(
        "--timeout", type=seconds, metavar="SECONDS", help="time limit for each probing command on a node (default 10)"
    )
    p.add_argument(
        "--node-timeout",
        type=seconds,
        metavar="SECONDS",
        help=f"time limit for the whole probe of one node (default {_DEFAULT_NODE_TIMEOUT})",
    )
    p.add_argument("--render", metavar="DIR", help="write the playbook and the probe bundle to DIR; run nothing")
    p.add_argument(
        "--ansible-results",
        metavar="FILE",
        help="read the answers a rendered playbook saved (results.json) instead of running Ansible",
    )
    p.add_argument(
        "--from-output",
        metavar="FILE",
        help="read the saved output of the 'fleet slurm' job, or of an ad-hoc 'ansible -m script' run, instead",
    )
    p.add_argument("--expect", metavar="NODES", help="with --from-output: the nodes that should have answered (a,b,c)")
    p.add_argument("--json", action="store_true", help="print the per-node outcome as JSON")

    p = sub.add_parser("slurm", help="write the probe bundle and print the sbatch script that runs it on every node")
    p.add_argument(
        "--bundle", metavar="FILE", required=True, help="where to write the bundle (a file system the nodes share)"
    )
    p.add_argument("--nodes", type=int, required=True, metavar="N", help="how many nodes to probe")
    p.add_argument("--partition", metavar="NAME", help="the Slurm partition")
    p.add_argument("--python", default="python3", metavar="PATH", help="the Python on the nodes (default python3)")
    p.add_argument("--timeout", type=seconds, metavar="SECONDS", help="time limit for each probing command")

    p = sub.add_parser("plan", help="the one build for every machine file in DIR (--groups: the fewest builds)")
    p.add_argument("dir", metavar="DIR", help="a directory of machine files, one per node (fleet probe --out)")
    p.add_argument("--groups", action="store_true", help="the fewest builds, each node on one as good as its own")
    p.add_argument("--torch", metavar="SPEC", help="limit torch versions: 2.14, ==2.5.1, '>=2.4,<2.6' (PEP 440)")
    p.add_argument("--variant", metavar="NAME", help="the build flavour: cpu, cu126, cu130, rocm6.4, xpu, or pypi")
    p.add_argument("--cuda", metavar="X.Y", help="only CUDA builds for this toolkit version, e.g. 12.6")
    p.add_argument("--cpu", action="store_true", help="only CPU builds")
    p.add_argument("--no-torchvision", dest="torchvision", action="store_false", help="leave torchvision out")
    p.add_argument("--no-torchaudio", dest="torchaudio", action="store_false", help="leave torchaudio out")
    p.add_argument("--index-base", metavar="URL", help="PyTorch's index base (default: $TORCHUP_INDEX_BASE)")
    p.add_argument(
        "--write-plans",
        metavar="DIR",
        help="write each build's plan file (plan-N.json) and nodes.json (node -> plan file) for 'fleet rollout'",
    )
    p.add_argument("--json", action="store_true", help="print the plans as JSON (docs/fleet.md)")

    p = sub.add_parser("rollout", help="install the plans on every node with Ansible, verify, gather the reports")
    p.add_argument("--inventory", "-i", metavar="INVENTORY", help="the Ansible inventory of the nodes")
    p.add_argument("--limit", metavar="PATTERN", help="only these hosts of the inventory (Ansible's --limit)")
    p.add_argument("--plans", metavar="DIR", required=True, help="the directory 'fleet plan --write-plans' wrote")
    p.add_argument("--results", metavar="FILE", required=True, help="where Ansible saves every node's answer")
    p.add_argument(
        "--node-timeout",
        type=seconds,
        metavar="SECONDS",
        help="time limit for each step on one node (default 3600)",
    )
    p.add_argument("--render", metavar="FILE", help="write the playbook to FILE; run nothing")
    p.add_argument("--json", action="store_true", help="print the gathered reports as JSON")

    p = sub.add_parser("verify", help="one table of every node's verify report")
    p.add_argument(
        "source",
        metavar="PATH",
        help="the results file of 'fleet rollout', or a directory of 'torchup verify --json' reports (<node>.json)",
    )
    p.add_argument("--json", action="store_true", help="print the table as JSON")


def run(args: argparse.Namespace, system) -> int:
    return {
        "probe": _probe,
        "slurm": _slurm,
        "plan": _plan,
        "rollout": _rollout,
        "verify": _verify,
    }[args.fleet_command](args, system)


# --- probe -----------------------------------------------------------------------------


def _probe(args: argparse.Namespace, system) -> int:
    from torchup.fleet import gather

    probe_timeout = args.timeout or 10.0
    node_timeout = int(args.node_timeout or _DEFAULT_NODE_TIMEOUT)
    if args.render:
        return _writing(args.render, lambda: _render_probe(args.render, probe_timeout, node_timeout))
    sources = [x for x in (args.inventory, args.ansible_results, args.from_output) if x]
    if len(sources) != 1:
        raise UsageError("name exactly one of --inventory, --ansible-results and --from-output (or --render DIR)")
    if not args.out:
        raise UsageError("--out DIR: where to write the machine files")
    if args.from_output:
        expected = [n for n in (args.expect or "").split(",") if n]
        results = gather.read_marked_output(_read_text(args.from_output), expected)
    elif args.ansible_results:
        results = gather.read_ansible_results(_read_json(args.ansible_results))
    else:
        results = _run_probe_playbook(args, system, probe_timeout, node_timeout)
    written = _writing(args.out, lambda: _write_machine_files(gather.assign_files(results), args.out))
    failed = [r for r in written if r.status != gather.OK]
    if args.json:
        from torchup.output import emit_json

        emit_json("fleet-probe", {"out": args.out, "nodes": [r.to_json() for r in written]})
    else:
        ok = len(written) - len(failed)
        lines = [f"torchup fleet probe: {ok} of {len(written)} node{'s' if len(written) != 1 else ''} -> {args.out}"]
        for r in written:
            lines.append(f"  {r.node}: {'ok' if r.path else r.status}" + (f": {r.message}" if r.message else ""))
        sys.stdout.write("\n".join(lines) + "\n")
    return EXIT_FAILURE if failed or not written else EXIT_OK


def _write_machine_files(assigned, out_dir: str):
    """One machine file per answering node; the results with the path of each."""
    from torchup.machine import dump_machine, machine_from_dict
    from torchup.record import replace

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    done = []
    for r, name in assigned:
        if name is not None:
            machine, _warnings = machine_from_dict(r.machine, origin=r.node)
            (out / name).write_text(dump_machine(machine))
            r = replace(r, path=str(out / name))
        done.append(r)
    return done


def _render_probe(directory: str, probe_timeout: float, node_timeout: int) -> int:
    from torchup.fleet import bundle, gather

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    bundle.build_bundle(str(out / "probe.pyz"))
    text = gather.probe_playbook(
        bundle=str((out / "probe.pyz").resolve()),
        results=str((out / "results.json").resolve()),
        probe_timeout=probe_timeout,
        node_timeout=node_timeout,
    )
    (out / "probe-playbook.json").write_text(text)
    sys.stdout.write(
        f"wrote {out / 'probe.pyz'} and {out / 'probe-playbook.json'}\n"
        f"run:  ansible-playbook -i INVENTORY {out / 'probe-playbook.json'}\n"
        f"then: torchup fleet probe --ansible-results {out / 'results.json'} --out DIR\n"
    )
    return EXIT_OK


def _run_probe_playbook(args, system, probe_timeout: float, node_timeout: int):
    from torchup.fleet import bundle, gather

    with tempfile.TemporaryDirectory(prefix="torchup-fleet-") as work:
        bundle_path = bundle.build_bundle(os.path.join(work, "probe.pyz"))
        results = os.path.join(work, "results.json")
        playbook = os.path.join(work, "probe-playbook.json")
        Path(playbook).write_text(
            gather.probe_playbook(
                bundle=bundle_path, results=results, probe_timeout=probe_timeout, node_timeout=node_timeout
            )
        )
        _ansible_playbook(system, args.inventory, playbook, args.limit, _ANSIBLE_RUN_LIMIT_S, results)
        return gather.read_ansible_results(_read_json(results))


def _ansible_playbook(system, inventory: str, playbook: str, limit: str | None, timeout: float, results: str) -> None:
    """Run ``ansible-playbook``; a host's failure is in ``results``, Ansible's own failure is raised."""
    exe = system.runner.which("ansible-playbook")
    if exe is None:
        raise EnvironmentProblem(
            "ansible-playbook is not on PATH",
            hint="install Ansible (pip install ansible-core), or use --render and run the playbook yourself",
            code="no-ansible",
        )
    if "," not in inventory and not os.path.exists(inventory):  # "n1,n2," is an inline inventory
        raise UsageError(f"--inventory {inventory}: no such file or directory")
    argv = [exe, "-i", inventory, playbook] + (["--limit", limit] if limit else [])
    env = {**system.env, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0"}
    r = system.runner.run(argv, timeout=timeout, env=env)
    if not os.path.exists(results):
        why = "it ran past its time" if r.timed_out else (r.error or f"exit status {r.returncode}")
        tail = (r.stdout + r.stderr).strip().splitlines()[-8:]
        raise EnvironmentProblem(
            f"ansible-playbook saved no results ({why})",
            details=tail,
            hint="check the inventory with 'ansible-inventory -i INVENTORY --graph'",
            code="ansible-failed",
        )


def _slurm(args: argparse.Namespace, system) -> int:
    from torchup.fleet import bundle, gather

    if args.nodes < 1:
        raise UsageError("--nodes must be at least 1")
    path = os.path.abspath(args.bundle)
    bundle.build_bundle(path)
    sys.stdout.write(
        gather.sbatch_script(
            bundle=path,
            nodes=args.nodes,
            python=args.python,
            probe_timeout=args.timeout or 10.0,
            partition=args.partition,
        )
    )
    return EXIT_OK


# --- plan ---------------------------------------------------------------------------------


def load_fleet(directory: str):
    """``[(node, Machine)]`` from every ``*.json`` / ``*.toml`` in ``directory``; every bad file is named."""
    from torchup.errors import TorchupError
    from torchup.machine import load_machine_file

    d = Path(directory)
    if not d.is_dir():
        raise UsageError(f"{directory} is not a directory of machine files", hint="torchup fleet probe --out DIR")
    machines, problems = [], []
    for path in sorted(p for p in d.iterdir() if p.suffix in (".json", ".toml") and p.is_file()):
        try:
            machine, _warnings = load_machine_file(str(path))
        except TorchupError as err:
            problems.append(f"{path.name}: {err.message}" + "".join(f"; {x}" for x in err.details))
            continue
        machines.append((path.stem, machine))
    if problems:
        raise InputError(f"{len(problems)} machine file(s) in {directory} cannot be read", details=problems)
    if not machines:
        raise UsageError(f"{directory} holds no machine files (*.json, *.toml)")
    return machines


def _plan(args: argparse.Namespace, system) -> int:
    from torchup import render
    from torchup.catalog.load import load_catalog
    from torchup.commands.plan import request_from_args
    from torchup.fleet import planning
    from torchup.record import replace

    request = request_from_args(args, system.env)
    machines = load_fleet(args.dir)
    catalog = load_catalog(system.env)
    classes = planning.classify(machines, request, catalog)
    fleet = planning.plan_groups(classes) if args.groups else planning.plan_one(classes)
    plans = [planning.resolve_group(g, request, catalog) for g in fleet.groups]
    plans = [replace(p, commands=render.render_commands(p, python="python3")) for p in plans]
    groups = _groups_json(fleet, plans)
    if args.write_plans and plans:
        _writing(args.write_plans, lambda: _write_plans(args.write_plans, fleet, plans))
    if args.json:
        from torchup.commands.plan import _redacted
        from torchup.output import emit_json

        body = _plan_body(fleet, groups, len(machines), len(classes), args.groups)
        emit_json("fleet-plan", _redacted(body))
    else:
        sys.stdout.write(redact_url(_plan_text(fleet, groups, len(machines), len(classes), args.groups)))
    if not fleet.groups:
        return EXIT_NO_BUILD
    return EXIT_FAILURE if fleet.unplanned else EXIT_OK


def _groups_json(fleet, plans) -> list[dict]:
    """Each build: the Plan JSON of ``plan --json`` (with ``renderings``) plus its ``nodes``."""
    from torchup import render

    return [
        {**plan.to_json(), "renderings": render.render_all(plan, python="python3"), "nodes": list(g.nodes)}
        for g, plan in zip(fleet.groups, plans)
    ]


def _plan_body(fleet, groups: list[dict], n_nodes: int, n_classes: int, grouped: bool) -> dict:
    """One build: its Plan JSON at the top, with ``nodes``; ``--groups``: ``groups``."""
    body: dict = {}
    if fleet.refusal:
        body["error"] = {"code": "no-build", "message": fleet.refusal, "reasons": list(fleet.reasons)}
    elif grouped:
        body["groups"] = groups
    else:
        body.update(groups[0])
    body.update(
        nodes_total=n_nodes,
        distinct_machines=n_classes,
        tradeoffs=list(fleet.tradeoffs),
        unplanned=dict(fleet.unplanned),
    )
    return body


def _write_plans(directory: str, fleet, plans) -> None:
    from torchup.commands.plan import _redacted

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    assignments = {}
    for i, (g, plan) in enumerate(zip(fleet.groups, plans), 1):
        name = f"plan-{i}.json"
        data = plan.to_json()
        # the plan is resolved for one class of the group; what its nodes do not share (their
        # Python, say) is left out, so that install's platform check compares only what holds for all
        for key, values in _platforms(g).items():
            if len(values) > 1:
                data[key] = None
        (out / name).write_text(json.dumps(_redacted(data), indent=2) + "\n")
        assignments.update(dict.fromkeys(g.nodes, name))
    (out / "nodes.json").write_text(json.dumps(assignments, indent=2, sort_keys=True) + "\n")


def _platforms(group) -> dict[str, set]:
    """The OS, architecture and Python of each class of ``group``, as a plan file states them."""
    from torchup.resolve import wheel_arch

    out: dict[str, set] = {"os": set(), "arch": set(), "python": set()}
    for c in group.classes:
        m = c.machine
        out["os"].add(m.os)
        out["arch"].add(wheel_arch(m))
        out["python"].add(f"{m.python_minor[0]}.{m.python_minor[1]}{'t' if m.free_threaded else ''}")
    return out


def _plan_text(fleet, groups: list[dict], n_nodes: int, n_classes: int, grouped: bool) -> str:
    lines = [f"torchup fleet plan: {n_nodes} nodes, {n_classes} distinct machines"]
    if fleet.refusal:
        lines.append(f"no build: {fleet.refusal}")
        lines += [f"  - {r}" for r in fleet.reasons]
    for i, g in enumerate(groups, 1):
        head = f"build {i}: " if grouped else "the build for every node: "
        lines.append("")
        lines.append(
            f"{head}torch {g['torch']} ({g['variant']}) for {len(g['nodes'])} node{'s' if len(g['nodes']) != 1 else ''}"
        )
        lines.append("  nodes: " + ", ".join(g["nodes"]))
        if g["commands"].get("pip"):
            lines.append(f"  pip: {g['commands']['pip']}")
        lines += [f"  ! {w}" for w in g["warnings"]]
    if fleet.tradeoffs:
        lines += ["", "trade-offs:"]
        lines += [f"  - {t}" for t in fleet.tradeoffs]
    for node, why in fleet.unplanned.items():
        lines.append(f"no build for {node}: {why}")
    return "\n".join(lines) + "\n"


# --- rollout and verify ------------------------------------------------------------------


def _rollout(args: argparse.Namespace, system) -> int:
    from torchup.fleet import rollout

    plans = Path(args.plans)
    assignments = _read_json(str(plans / "nodes.json"))
    if not isinstance(assignments, dict) or not all(isinstance(v, str) for v in assignments.values()):
        raise InputError(f"{plans / 'nodes.json'} is not a map of node to plan file", hint="fleet plan --write-plans")
    for name in set(assignments.values()):
        if "/" in name or not (plans / name).is_file():
            raise InputError(f"{plans / 'nodes.json'} names {name!r}, which is not a plan file in {plans}")
    node_timeout = int(args.node_timeout or 3600)

    def playbook(results: str) -> str:
        return rollout.rollout_playbook(
            plans_dir=str(plans.resolve()), assignments=assignments, results=results, node_timeout=node_timeout
        )

    if args.render:
        text = playbook(os.path.abspath(args.results))
        _writing(args.render, lambda: Path(args.render).write_text(text))
        sys.stdout.write(f"wrote {args.render}\nrun: ansible-playbook -i INVENTORY {args.render}\n")
        return EXIT_OK
    if not args.inventory:
        raise UsageError("--inventory INVENTORY: the hosts to roll out to (or --render FILE to run it yourself)")
    with tempfile.TemporaryDirectory(prefix="torchup-fleet-") as work:
        # this run's answers land here first: an old results file is replaced only by a new one
        fresh = os.path.join(work, "results.json")
        path = os.path.join(work, "rollout-playbook.json")
        Path(path).write_text(playbook(fresh))
        _ansible_playbook(system, args.inventory, path, args.limit, _ANSIBLE_RUN_LIMIT_S, fresh)
        data = _read_json(fresh)
        _writing(args.results, lambda: shutil.copyfile(fresh, args.results))
    rows = rollout.read_rollout_results(data)
    return _show_rows(rows, args.json, "fleet-rollout")


def _verify(args: argparse.Namespace, system) -> int:
    from torchup.fleet import rollout

    src = Path(args.source)
    if src.is_dir():
        rows = [
            rollout.read_verify_report(p.stem, _read_json(str(p)))
            for p in sorted(src.iterdir())
            if p.suffix == ".json" and p.is_file()
        ]
        if not rows:
            raise UsageError(f"{src} holds no verify reports (<node>.json)")
    else:
        rows = rollout.read_rollout_results(_read_json(str(src)))
    return _show_rows(rows, args.json, "fleet-verify")


def _show_rows(rows, as_json: bool, document: str) -> int:
    from torchup.fleet import rollout

    if as_json:
        from torchup.output import emit_json

        emit_json(document, {"ok": all(r.ok for r in rows), "nodes": [r.to_json() for r in rows]})
    else:
        good = sum(1 for r in rows if r.ok)
        sys.stdout.write(f"torchup fleet verify: {good} of {len(rows)} nodes ok\n" + rollout.table(rows))
    return EXIT_OK if rows and all(r.ok for r in rows) else EXIT_FAILURE


def _writing(path: str, write):
    """``write()``; a directory or file torchup cannot write is the user's to fix, not a bug."""
    try:
        return write()
    except OSError as exc:
        raise EnvironmentProblem(f"cannot write {path}: {exc.strerror or exc}", code="cannot-write") from None


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(64 << 20)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _read_json(path: str):
    text = _read_text(path)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InputError(f"{path} is not JSON: {exc}") from None
