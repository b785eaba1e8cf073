"""``torchup install``: choose the build like ``torchup plan`` (same options), or take a
saved plan (``--plan FILE`` from ``torchup plan --json``), and install it safely.

With ``--json`` the step lines and the package manager's output go to stderr and
stdout carries only the result envelope (docs/json.md)."""

from __future__ import annotations

import os
import sys

from torchup.commands._args import index_base, seconds
from torchup.errors import UsageError
from torchup.system import System

TYPE_CHECKING = False  # argparse is imported only when argparse parses (torchup.fastargs)
if TYPE_CHECKING:
    import argparse

__all__ = ["add_arguments", "install_json", "run"]


def _add(parser: argparse._ActionsContainer, *flags: str, **kwargs) -> None:
    """Add an option unless ``plan`` already defined it (``--python`` is shared)."""
    if any(f in parser._option_string_actions for f in flags):
        return
    parser.add_argument(*flags, **kwargs)


def _plan_module():
    try:
        from torchup.commands import plan as plan_cmd
    except ImportError:
        return None
    return plan_cmd if hasattr(plan_cmd, "add_arguments") else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    plan_cmd = _plan_module()
    if plan_cmd is not None:
        plan_cmd.add_arguments(parser)
    from torchup.install.execute import MANAGERS

    g = parser.add_argument_group("install")
    _add(g, "--python", metavar="PATH", help="the target Python (default: the active venv / conda env, else python3)")
    _add(g, "--plan", metavar="FILE", help="install this plan (`torchup plan --json > FILE`) instead of planning again")
    _add(
        g,
        "--trust-plan-index",
        action="store_true",
        help="with --plan and --yes: accept a plan whose index or versions differ from torchup's own choice",
    )
    manager_help = (
        "package manager to run (default: uv when on PATH, else pip); conda, mamba and "
        "micromamba install conda-forge's build into a conda environment, pixi into the "
        "default environment of a pixi workspace"
    )
    shared = parser._option_string_actions.get("--manager")
    if shared is not None:  # plan's --manager names what to print; here it is what to run
        shared.choices, shared.default, shared.help = MANAGERS, "auto", manager_help
    _add(g, "--manager", choices=MANAGERS, default="auto", help=manager_help)
    json_help = "print the result as JSON on stdout (docs/json.md); the progress goes to stderr"
    if "--json" in parser._option_string_actions:
        parser._option_string_actions["--json"].help = json_help
    _add(g, "--json", action="store_true", help=json_help)
    _add(
        g,
        "--venv",
        metavar="DIR",
        help="create the virtual environment DIR from the target Python and install there "
        "(created only after the preflight and your yes)",
    )
    _add(g, "--dry-run", action="store_true", help="print exactly what would run; change nothing")
    _add(g, "-y", "--yes", action="store_true", help="do not ask for confirmation")
    _add(g, "--no-verify", action="store_true", help="skip `torchup verify` after the install")
    _add(
        g,
        "--no-guard",
        action="store_true",
        help='do not pin the installed torch stack for later pip installs (docs/install.md, "The guard")',
    )
    _add(
        g,
        "--rollback",
        action="store_true",
        help="restore the environment saved before the last install (takes only --python or --venv, --dry-run, --yes)",
    )
    _add(
        g,
        "--log",
        metavar="FILE",
        help="write the full log here (default: ~/.cache/torchup/logs/); created private (0600)",
    )
    _add(
        g,
        "--timeout",
        type=seconds,
        default=None,
        metavar="SECONDS",
        help="one deadline for the whole install: the index checks, then the package manager (default: 3600)",
    )
    _add(g, "--skip-network-check", action="store_true", help="do not contact the indexes before installing")


def _make_plan(args: argparse.Namespace, system: System, python: str):
    """What ``torchup plan`` would choose, with the same options."""
    from torchup.catalog.load import load_catalog
    from torchup.commands.plan import request_from_args
    from torchup.errors import NoBuildError
    from torchup.plan import Plan
    from torchup.resolve import resolve

    request = request_from_args(args, system.env)
    machines = getattr(args, "machine", None) or []
    if len(machines) + bool(getattr(args, "this_machine", False)) > 1:
        raise UsageError("torchup installs for one machine at a time; give at most one --machine")
    if getattr(args, "write", False):
        raise UsageError("--write belongs to `torchup plan`: install changes the environment, not the project file")
    if machines:
        from torchup.machine import load_machine_file

        machine, warnings = load_machine_file(machines[0])
        for w in warnings:
            print(f"torchup: warning: {w}", file=sys.stderr)
    else:
        from torchup.probe import probe_machine

        machine = probe_machine(system, python=python)
    if getattr(args, "gpu", None) or getattr(args, "driver", None):
        from torchup.commands.plan import describe_target

        machine = describe_target(machine, args.gpu, args.driver)
    result = resolve(machine, request, load_catalog(system.env))
    if not isinstance(result, Plan):
        raise NoBuildError(result.message, details=result.reasons, code=result.code)
    return result


def _confirm(question: str) -> bool:
    # the question goes to stderr: stdout may be a --json document (input()'s prompt would land there)
    sys.stderr.write(f"torchup: {question} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def install_json(plan, report) -> dict:
    """The body of ``install --json``: the plan installed and what happened."""
    return {
        "plan": plan.to_json(),
        "python": report.python,
        "manager": report.manager,
        "argv": list(report.argv),
        "more_argvs": [list(argv) for argv in report.more],  # the rest of the plan's stack, in order
        "dry_run": report.dry_run,
        "log": report.log,
        "snapshot": report.snapshot,
        "replaced": report.replaced,
        "verified": report.verified,
    }


_ROLLBACK_FLAGS = ("rollback", "python", "venv", "dry_run", "yes", "json")  # what --rollback honours


def _given(args: argparse.Namespace) -> list[str]:
    """The install options set on the command line (differing from their defaults), as flags."""
    import argparse  # only here at run time: plain command lines are parsed without it (torchup.fastargs)

    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    flags = {a.dest: max(a.option_strings, key=len) for a in parser._actions if a.option_strings}
    defaults = {a.dest: a.default for a in parser._actions if a.option_strings}
    return [flags[dest] for dest in flags if dest in vars(args) and getattr(args, dest) != defaults[dest]]


def _rollback(args: argparse.Namespace, system: System) -> int:
    from torchup.install import RollbackOptions, _venv_python, rollback
    from torchup.target import find_target_python

    ignored = [f for f in _given(args) if f.lstrip("-").replace("-", "_") not in _ROLLBACK_FLAGS]
    if ignored:
        raise UsageError(
            f"--rollback does not take {', '.join(ignored)}",
            hint="--rollback restores the snapshot of the last install; it takes only --python or "
            "--venv, --dry-run and --yes",
        )
    if args.venv and getattr(args, "python", None):
        raise UsageError(
            "--rollback takes --venv DIR or --python PATH, not both", hint="name the environment to roll back once"
        )
    if args.venv:
        python = _venv_python(args.venv)
        if not os.path.exists(python):
            raise UsageError(f"--venv {args.venv}: there is no virtual environment there (no {python})")
    else:
        python, _how = find_target_python(system, getattr(args, "python", None))
    json_mode = getattr(args, "json", False)
    stream = sys.stderr if json_mode else sys.stdout  # under --json stdout holds the envelope only
    restored = rollback(
        RollbackOptions(
            python=python, dry_run=args.dry_run, yes=args.yes, confirm=_confirm if sys.stdin.isatty() else None
        ),
        system,
        stream=stream,
    )
    if json_mode:
        from torchup.output import emit_json

        emit_json(
            "install",
            {
                "rollback": {
                    "python": python,
                    "dry_run": args.dry_run,
                    "removed": restored.removed,
                    "restored": restored.restored,
                    "errors": list(restored.errors),
                }
            },
        )
    return 0


def run(args: argparse.Namespace, system: System) -> int:
    from torchup.install import DEFAULT_TIMEOUT_S, InstallOptions, install
    from torchup.target import find_target_python

    if args.rollback:
        return _rollback(args, system)
    json_mode = getattr(args, "json", False)
    stream = sys.stderr if json_mode else sys.stdout  # under --json stdout holds the envelope only
    python, _how = find_target_python(system, getattr(args, "python", None))
    differences: list[str] = []
    if args.plan and any(getattr(args, k, None) for k in ("requirement_files", "project", "project_extras")):
        raise UsageError(
            "-r / --project choose the packages of a new plan; a plan file holds its stack already",
            hint="plan again with them (`torchup plan --json -r FILE > plan.json`), or drop --plan",
        )
    if args.plan:
        from torchup.catalog.load import load_catalog
        from torchup.install.conda import CONDA_MANAGERS
        from torchup.install.planfile import differences as plan_differences
        from torchup.install.planfile import load_plan_file

        plan = load_plan_file(args.plan)
        base = index_base(getattr(args, "index_base", None), system.env)
        if args.manager not in (*CONDA_MANAGERS, "pixi"):  # those take only versions, from conda-forge
            differences = plan_differences(plan, load_catalog(system.env), base.rstrip("/"))
    else:
        plan = _make_plan(args, system, python)
    interactive = sys.stdin.isatty()
    options = InstallOptions(
        python=python,
        manager=args.manager or "auto",
        venv=args.venv,
        dry_run=args.dry_run,
        yes=args.yes,
        verify=not args.no_verify,
        log_path=args.log,
        timeout=args.timeout or DEFAULT_TIMEOUT_S,
        check_network=not args.skip_network_check,
        tty=stream.isatty() and os.name == "posix",
        progress=stream.isatty() and not json_mode,
        confirm=_confirm if interactive else None,
        foreign=tuple(differences),
        trust_foreign=args.trust_plan_index,
        guard=not args.no_guard,
    )
    report = install(plan, options, system, stream=stream)
    if json_mode:
        from torchup.output import emit_json

        emit_json("install", install_json(plan, report))
    if report.verified is False:
        return 1
    return 0
