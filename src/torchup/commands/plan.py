"""``torchup plan`` (and bare ``torchup``): choose the build, say why, print the command.

Wiring only: read the machine (probe, or ``--machine FILE``), load the catalog,
``resolve``, ``render``, and present the result as text or ``--json``.  The
exit code comes from the result: 0 with a plan, 3 when no build fits.
"""

from __future__ import annotations

import re
import sys

from torchup.commands._args import check_number_lengths, index_base
from torchup.errors import EXIT_NO_BUILD, EXIT_OK, UsageError
from torchup.lazyre import lazy
from torchup.output import map_strings, redact_url
from torchup.plan import DEFAULT_INDEX_BASE
from torchup.render import FORMATS

TYPE_CHECKING = False  # argparse is imported only when argparse parses (torchup.fastargs)
if TYPE_CHECKING:
    import argparse

__all__ = ["add_arguments", "detect_manager", "load_inputs", "plan_json", "render_text", "request_from_args", "run"]

MANAGERS = FORMATS  # what plan can print: every format the renderers write
# the formats that give one project file for several machines: what the text output calls it, its key in --json
PROJECT_MANAGERS = {
    "uv-project": ("uv project", "uv_project"),
    "poetry-project": ("Poetry project", "poetry_project"),
    "pixi": ("pixi workspace", "pixi_workspace"),
}
_VARIANT_RE = lazy(r"(?a)^(cpu|xpu|pypi|cu\d{3}|rocm\d+\.\d+(\.\d+)?)$")
_CUDA_RE = lazy(r"(?a)^\d+\.\d+$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--machine",
        metavar="FILE",
        action="append",
        help="plan for the machine described in FILE (JSON or TOML, as 'torchup probe --json' writes); "
        "repeat it to plan for several (with --manager uv-project, poetry-project or pixi: one project file for all)",
    )
    parser.add_argument(
        "--this-machine", action="store_true", help="with --machine: also plan for the machine torchup runs on (probed)"
    )
    parser.add_argument(
        "--python", metavar="PATH", help="the target Python (default: active venv / conda env, else python3 on PATH)"
    )
    parser.add_argument(
        "--gpu",
        metavar="NAME",
        action="append",
        help='plan for this GPU instead of the ones found ("RTX 4090", "H100", "RX 7900 XTX"); '
        "repeat it for several; the machine's NVIDIA driver is kept (unknown where it has none) unless --driver",
    )
    parser.add_argument(
        "--driver", metavar="VERSION", help="plan for this NVIDIA driver version (550.54.14) instead of the one found"
    )
    parser.add_argument("--torch", metavar="SPEC", help="limit torch versions: 2.14, ==2.5.1, '>=2.4,<2.6' (PEP 440)")
    parser.add_argument(
        "--variant", metavar="NAME", help="the build flavour: cpu, cu126, cu130, rocm6.4, xpu, or pypi (PyPI's default)"
    )
    parser.add_argument("--cuda", metavar="X.Y", help="only CUDA builds for this toolkit version, e.g. 12.6")
    parser.add_argument("--cpu", action="store_true", help="only CPU builds")
    parser.add_argument(
        "--with",
        dest="with_packages",
        metavar="SPEC",
        action="append",
        help="choose torch together with a package built against it and pin it (PEP 508: xformers, "
        "'flash-attn>=2.7', torch-scatter); repeat it for several; docs/stack.md lists the packages torchup knows",
    )
    parser.add_argument("--no-torchvision", dest="torchvision", action="store_false", help="leave torchvision out")
    parser.add_argument("--no-torchaudio", dest="torchaudio", action="store_false", help="leave torchaudio out")
    parser.add_argument(
        "--manager", choices=MANAGERS, help="the package manager to print the command for (default: the one in use)"
    )
    parser.add_argument(
        "--index-base",
        metavar="URL",
        help=f"PyTorch's index base (default: $TORCHUP_INDEX_BASE, else {DEFAULT_INDEX_BASE})",
    )
    parser.add_argument(
        "--explain", action="store_true", help="also list every build considered and why it was rejected"
    )
    parser.add_argument("--json", action="store_true", help="print the Plan as JSON (docs/plan.md)")
    parser.add_argument(
        "--write",
        action="store_true",
        help="with --manager uv-project, poetry-project or pixi: merge the result into pyproject.toml / "
        "pixi.toml here (created if absent; pixi: into [tool.pixi] of a pyproject.toml when there is no "
        "pixi.toml), after showing the diff and asking; the old file is kept as FILE.torchup-backup",
    )
    parser.add_argument("-y", "--yes", action="store_true", help="with --write: do not ask")
    _add_stack_arguments(parser)


def _add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    """The packages to choose torch with (issue 13), read from files: ``-r``, ``--project``."""
    g = parser.add_argument_group("the stack around torch (docs/plan.md)")
    g.add_argument(
        "-r",
        "--requirement",
        metavar="FILE",
        action="append",
        dest="requirement_files",
        help="choose torch together with the packages of this requirements file (repeatable); "
        "a torch line there limits torch's version",
    )
    g.add_argument(
        "--project",
        metavar="PYPROJECT",
        help="choose torch together with the [project] dependencies of this pyproject.toml (or directory)",
    )
    g.add_argument(
        "--project-extra",
        metavar="NAME",
        action="append",
        dest="project_extras",
        help="with --project: also the packages of this extra ([project.optional-dependencies]); repeatable",
    )


def _with_stack_files(args: argparse.Namespace, request, env):
    """``request`` with the packages of ``-r`` / ``--project`` and the torch specifier they give."""
    files = getattr(args, "requirement_files", None) or []
    project = getattr(args, "project", None)
    extras = getattr(args, "project_extras", None) or []
    if extras and not project:
        raise UsageError("--project-extra needs --project (the pyproject.toml whose extras to read)")
    if not files and not project:
        return request
    from torchup import stack_input

    inputs = [stack_input.read_requirements(path) for path in files]
    if project:
        inputs.append(stack_input.read_project(project, extras))
    return stack_input.fold(request, _built_against_torch(inputs, env)) if inputs else request


def _built_against_torch(inputs, env):
    """The files' packages that torchup knows to be built against torch: those are chosen with torch;
    the others (numpy, requests, ...) are the user's manager's to install, after torch."""
    from torchup.catalog.stack import load_stack
    from torchup.metadata import requirement
    from torchup.record import replace

    stack = load_stack(env)
    return [
        replace(item, packages=tuple(p for p in item.packages if stack.get(requirement(p).name) is not None))
        for item in inputs
    ]


def request_from_args(args: argparse.Namespace, env):
    from torchup.plan import Request
    from torchup.resolve import parse_torch_spec

    for flag, value in (("--torch", args.torch), ("--cuda", args.cuda)):
        if value:
            check_number_lengths(flag, value)
    if args.torch:
        try:
            parse_torch_spec(args.torch)
        except ValueError as exc:
            raise UsageError(f"--torch: {exc}") from None
    variant = args.variant.strip().lower() if args.variant else None
    if variant and not _VARIANT_RE.match(variant):
        raise UsageError(
            f"--variant {args.variant!r} is not a variant name", hint="cpu, cu126, cu130, rocm6.4, xpu, or pypi"
        )
    if args.cuda and not _CUDA_RE.match(args.cuda.strip()):
        raise UsageError(f"--cuda {args.cuda!r} is not a CUDA version like 12.6")
    if args.cpu and (args.cuda or (variant and variant not in ("cpu", "pypi"))):
        raise UsageError("--cpu contradicts --cuda / --variant")
    base = index_base(args.index_base, env)
    with_packages = tuple(getattr(args, "with_packages", None) or ())
    if with_packages:
        _check_with(with_packages, env)
    request = Request(
        with_packages=with_packages,
        torch=args.torch,
        variant=variant,
        cuda=args.cuda.strip() if args.cuda else None,
        cpu=args.cpu,
        with_torchvision=args.torchvision,
        with_torchaudio=args.torchaudio,
        index_base=base.rstrip("/"),
    )
    return _with_stack_files(args, request, env)


def _check_with(specs, env) -> None:
    """--with: each a PEP 508 requirement on a package torchup knows to be built against torch (exit 2 otherwise)."""
    from torchup.catalog.stack import load_stack
    from torchup.stack import parse_with, split_known

    for spec in specs:
        check_number_lengths("--with", spec)
    try:
        reqs = parse_with(specs)
    except ValueError as exc:
        raise UsageError(
            f"--with: {exc}", hint="a package name with an optional version spec: 'flash-attn>=2.7'"
        ) from None
    stack = load_stack(env)
    _, unknown = split_known(reqs, stack)
    if unknown:
        names = ", ".join(r.name for r in unknown)
        raise UsageError(
            f"--with {names}: torchup knows nothing of {names} being built against torch",
            hint="--with takes " + ", ".join(sorted(stack.packages)) + "; install other packages with your "
            "package manager after torch",
        )


def detect_manager(machine) -> str:
    """The package manager in use for the target environment."""
    managers = set(machine.managers or ())
    env = machine.python_env
    if env == "pixi":
        return "pixi"
    if env == "conda":
        if "conda" in managers:
            return "conda"
        return "mamba" if "mamba" in managers else "micromamba" if "micromamba" in managers else "conda"
    uv = bool(machine.uv_usable) or "uv" in managers
    if env == "uv" and uv:
        return "uv"
    if machine.pip_usable is False and uv:
        return "uv"
    return "pip"


def describe_target(machine, gpu_names, driver):
    """The machine with the GPUs and the NVIDIA driver given on the command line in place of
    the probed or recorded ones (a target described without writing a machine file)."""
    from torchup.catalog.hardware import gpu_by_name
    from torchup.machine import Gpu
    from torchup.record import replace

    if driver is not None:
        driver = driver.strip()
        if not re.fullmatch(r"(?a)\d{1,4}(\.\d{1,4}){0,3}", driver):
            raise UsageError(f"--driver {driver!r} is not an NVIDIA driver version", hint="like 550.54.14 or 581.57")
        machine = replace(
            machine,
            nvidia_driver=driver,
            cuda_driver_max=None,
            sources={**machine.sources, "nvidia_driver": "--driver"},
        )
    if gpu_names:
        gpus = []
        for name in gpu_names:
            model = gpu_by_name(name)
            if model is None:
                raise UsageError(
                    f"--gpu {name!r} is not a GPU model torchup knows",
                    hint='name it as the vendor does ("GeForce RTX 4090", "A100", "Radeon RX 7900 XTX", '
                    '"Arc A770"); `torchup catalog --gpu NAME` looks one up',
                )
            loaded = True if model.vendor == "nvidia" and machine.nvidia_driver else None
            gpus.append(
                Gpu(
                    vendor=model.vendor,
                    name=name.strip(),
                    compute_capability=model.compute_capability,
                    gfx=model.gfx,
                    driver_loaded=loaded,
                )
            )
        sources = {k: v for k, v in machine.sources.items() if not k.startswith("gpus[")}
        sources.update({f"gpus[{i}]": "--gpu" for i in range(len(gpus))})
        machine = replace(machine, gpus=tuple(gpus), sources=sources)
    return machine


def _load_machines(system, machine_files, python, this_machine=False):
    machines = []
    if machine_files:
        from torchup.machine import load_machine_files

        for machine, warnings in load_machine_files(machine_files):
            for w in warnings:
                print(f"torchup: warning: {w}", file=sys.stderr)
            machines.append(machine)
    if this_machine or not machines:
        from torchup.probe import probe_machine

        machines.append(probe_machine(system, python=python, cache=True))
    return machines


def load_inputs(system, machine_files=None, python=None, this_machine=False):
    """The machines (probed, or read from files) and the catalog.

    Sequential on purpose: parsing the catalog in a thread while the probe waits
    on its subprocesses was measured no faster (the parse holds the GIL the
    probe's threads need; best of 15 runs: 38 ms one after the other, 44 ms
    overlapped, on a loaded 2-core host)."""
    from torchup.catalog.load import load_catalog

    machines = _load_machines(system, machine_files, python, this_machine)
    return machines, load_catalog(system.env)


def run(args: argparse.Namespace, system) -> int:
    from torchup import render
    from torchup.catalog.model import today as real_today
    from torchup.plan import Plan, Refusal
    from torchup.record import replace
    from torchup.resolve import resolve

    request = request_from_args(args, system.env)
    if args.write and (args.json or args.manager not in PROJECT_MANAGERS):
        raise UsageError(
            "--write merges a project file: it takes --manager uv-project, poetry-project or pixi, and no --json"
        )
    machines, catalog = load_inputs(system, args.machine, args.python, args.this_machine)
    if args.gpu or args.driver:
        machines = [describe_target(m, args.gpu, args.driver) for m in machines]
    today = real_today()
    stack = None
    if request.with_packages:
        from torchup.catalog.stack import load_stack

        stack = load_stack(system.env)
    # identical machines (a fleet's machine files) are resolved and rendered once
    planned: dict[tuple[str, str], tuple[Plan | Refusal, dict | None, dict | None]] = {}
    plans, pythons, variant_alternatives, renderings = [], [], [], []
    for machine in machines:
        python = args.python or machine.python_executable or "python"
        key = (_machine_key(machine), python)
        if key not in planned:
            result = resolve(machine, request, catalog, today=today, stack=stack, explain=args.explain)
            rendered = None
            if isinstance(result, Plan) and args.json:  # every format, the commands among them: rendered once
                rendered = render.render_all(result, python=python)
                result = replace(result, commands=render.commands_from(rendered))
            elif isinstance(result, Plan):
                result = replace(result, commands=render.render_commands(result, python=python))
            wheel_variant = _wheel_variant(result, machine, python, request.index_base, system.env)
            planned[key] = (result, wheel_variant, rendered)
        plan, wheel_variant, rendered = planned[key]
        plans.append(plan)
        pythons.append(python)
        variant_alternatives.append(wheel_variant)
        renderings.append(rendered)
    for w in catalog.warnings:
        print(f"torchup: warning: {w}", file=sys.stderr)

    refused = [r for r in plans if not isinstance(r, Plan)]
    if args.json:
        from torchup.output import emit_json

        emit_json(
            "plan",
            _redacted(plan_json(plans, pythons, variant_alternatives, explain=args.explain, renderings=renderings)),
        )
        return EXIT_NO_BUILD if refused else EXIT_OK

    from torchup.output import style_for

    style = style_for(sys.stdout, system.env)
    out = []
    combined = len(machines) > 1 and args.manager in PROJECT_MANAGERS and not refused
    for machine, plan, python, wheel_variant in zip(machines, plans, pythons, variant_alternatives):
        manager = args.manager or detect_manager(machine)
        out.append(
            render_text(
                machine,
                plan,
                manager,
                style,
                python=python,
                explain=args.explain,
                several=len(machines) > 1,
                command=not combined,
                wheel_variant=wheel_variant,
            )
        )
    if combined:
        try:
            text = render.render_many([p for p in plans if isinstance(p, Plan)], args.manager)  # none refused here
        except render.RenderError as err:
            raise UsageError(err.message, hint=err.hint) from None
        out.append(
            style.bold(f"One {PROJECT_MANAGERS[args.manager][0]} for all these machines:") + "\n" + _indent(text)
        )
    age = catalog.age_days(today)
    out.append(
        style.dim(
            f"Catalog data: {catalog.data_date} ({age} day{'s' if age != 1 else ''} old, {catalog.origin})"
            + ("; run 'torchup catalog refresh'" if catalog.is_stale(today) else "")
        )
    )
    sys.stdout.write(redact_url("\n".join(out)) + "\n")
    if args.write and refused:
        print("torchup: nothing written: not every machine has a build", file=sys.stderr)
    elif args.write:
        _write(args, plans)
    return EXIT_NO_BUILD if refused else EXIT_OK


def _write(args, plans) -> None:
    from pathlib import Path

    from torchup import render
    from torchup.commands.install import _confirm
    from torchup.project_file import write_project

    try:
        text = render.render_many(plans, args.manager)
    except render.RenderError as err:
        raise UsageError(err.message, hint=err.hint) from None
    done = write_project(
        args.manager,
        text,
        directory=Path.cwd(),
        yes=args.yes,
        confirm=_confirm,
        show=lambda diff: print(redact_url(diff), end=""),
    )
    print(f"torchup: {done}")
    if args.manager == "pixi":  # a merge keeps no header: say again what a GPU-less host must set
        from torchup.render.pixi import gpu_less_notes

        for note in gpu_less_notes(plans):
            print(f"torchup: note: {note}")


def _wheel_variant(plan, machine, python: str, index_base: str, env) -> dict | None:
    """uv's wheel-variant alternative for this machine (None where it does not fit), checked against
    the variant metadata ``catalog refresh`` kept."""
    from torchup.cache import cache_root
    from torchup.catalog.variants import cached_variant_metadata
    from torchup.plan import Plan
    from torchup.render.variants import alternative

    if not isinstance(plan, Plan):
        return None
    metadata = cached_variant_metadata(cache_root(env), plan.base_version)
    if metadata is None:
        metadata = f"none kept for torch {plan.base_version}; 'torchup catalog refresh' reads it where PyTorch's index is reachable"
    return alternative(plan, machine, index_base=index_base, python=python, metadata=metadata)


def plan_json(plans, pythons, wheel_variants=None, *, explain: bool = False, renderings=None) -> dict:
    """The body of ``plan --json``: one plan (or refusal) with every rendering and uv's wheel-variant
    alternative, or ``{"plans": [...]}`` for several machines, plus their one combined uv project, Poetry
    project and pixi workspace when every machine has a plan.  Each plan's ``considered`` list only with
    ``explain`` (docs/plan.md)."""
    from torchup import render
    from torchup.plan import Plan

    wheel_variants = wheel_variants or [None] * len(plans)
    renderings = renderings or [None] * len(plans)
    done: dict[tuple[int, str], dict] = {}  # identical machines share one Plan object: rendered once

    def one(plan, python, wheel_variant, rendered):
        key = (id(plan), python)
        if key not in done:
            if not isinstance(plan, Plan):
                done[key] = plan.to_json(considered=explain)
            else:
                done[key] = {
                    **plan.to_json(considered=explain),
                    "renderings": rendered or render.render_all(plan, python=python),
                    "wheel_variant": wheel_variant,
                }
        return done[key]

    if len(plans) == 1:
        return one(plans[0], pythons[0], wheel_variants[0], renderings[0])
    out: dict = {"plans": [one(*row) for row in zip(plans, pythons, wheel_variants, renderings)]}
    if all(isinstance(p, Plan) for p in plans):
        for fmt, (_, key) in PROJECT_MANAGERS.items():
            try:
                out[key] = {"text": render.render_many(plans, fmt), "error": None}
            except render.RenderError as err:
                out[key] = {"text": None, "error": err.message}
    return out


def _machine_key(machine) -> str:
    """What makes two machines plan alike: every field but ``sources`` (where each was read)."""
    from torchup.machine import Machine
    from torchup.record import fields

    return repr([getattr(machine, name) for name in fields(Machine) if name != "sources"])


def _redacted(value):
    """A plan's JSON with the password of its index URL hidden (``user:***@``): a plan is
    shown and saved, and the secret belongs in ~/.netrc (``install --plan`` then reads it there)."""
    return map_strings(value, redact_url)


def _indent(text: str, pad: str = "  ") -> str:
    return "".join(pad + line + "\n" if line else "\n" for line in text.rstrip("\n").split("\n"))


def render_text(
    machine,
    result,
    manager: str,
    style,
    *,
    python: str,
    explain: bool = False,
    several: bool = False,
    command: bool = True,
    wheel_variant: dict | None = None,
) -> str:
    """The human answer: machine, recommendation, reasons, command, warnings, alternatives."""
    from torchup import render
    from torchup.plan import Plan, describe_variant
    from torchup.resolve import machine_summary

    lines = [f"{style.dim('Machine:')} {machine_summary(machine)}"]
    lines += [style.dim(f"  note: {n.message}") for n in machine.notes]
    if not isinstance(result, Plan):
        lines.append(style.red(style.bold(result.message[0].upper() + result.message[1:] + ".")))
        lines += [f"  - {r}" for r in result.reasons]
        if explain:
            lines += _explain_lines(result.considered, style)
        else:
            lines.append(style.dim("  (torchup plan --explain lists every build considered and why it was rejected)"))
        return "\n".join(lines) + "\n"
    plan = result
    companions = ", ".join(
        f"{n} {v}" for n, v in (("torchvision", plan.torchvision), ("torchaudio", plan.torchaudio)) if v
    )
    what = describe_variant(plan.variant, cuda=plan.cuda, rocm=plan.rocm, os=plan.os)
    lines.append(
        f"{style.bold('Recommended:')} {style.green(style.bold('torch ' + plan.base_version))}, {what}"
        + (f" (with {companions})" if companions else "")
    )
    lines += [f"  - {r}" for r in plan.reasons]
    if plan.stack:
        lines.append(style.bold("With torch:"))
        lines += [f"  - {pin.name} {pin.version} ({_pin_source(pin)})" for pin in plan.stack]
    fmt = manager
    if command:
        try:
            text = render.render(plan, fmt, python=python)
            notes = render.notes(plan, fmt)
        except render.RenderError as err:
            lines.append(style.yellow(f"{fmt}: {err.message}; the pip command instead:"))
            fmt, text, notes = "pip", render.render(plan, "pip", python=python), []
        label = {
            "requirements": "requirements.txt",
            "uv-project": "a uv project (pyproject.toml)",
            "poetry-project": "a Poetry project (pyproject.toml)",
            "pixi": "pixi (pixi.toml)",
        }.get(fmt, fmt)
        lines.append(style.bold(f"Install with {label}:"))
        lines.append(_indent(text).rstrip("\n"))
        if plan.os == "windows" and fmt in render.COMMAND_FORMATS:
            notes = [*notes, _cmd_note(plan, fmt, python, text)]
        for note in notes:
            lines.append(style.dim(f"  note: {note}"))
    warnings = list(plan.warnings)
    if fmt == "pip" and machine.externally_managed and machine.python_env in (None, "system"):
        warnings.insert(
            0,
            "this Python is externally managed (PEP 668): pip will refuse to install into it; "
            "create a virtual environment (python3 -m venv .venv) and run torchup --python .venv/bin/python",
        )
    if warnings:
        lines.append(style.bold("Warnings:"))
        lines += [style.yellow(f"  ! {w}") for w in warnings]
    if plan.alternatives:
        lines.append(style.bold("Alternatives:"))
        for alt in plan.alternatives:
            what = "PyPI's default build" if alt.variant == "pypi" else describe_variant(alt.variant)
            lines.append(f"  - torch {alt.torch.split('+')[0]}, {what}" + (f" ({alt.note})" if alt.note else ""))
    if wheel_variant:
        lines.append(style.bold("Alternative: uv wheel variants (a uv preview feature; not the recommendation):"))
        lines.append(_indent(wheel_variant["text"]).rstrip("\n"))
        for note in [wheel_variant["checked"], *wheel_variant["caveats"]]:
            lines.append(style.dim(f"  note: {note}"))
    if explain:
        lines += _explain_lines(plan.considered, style)
    elif not several:
        lines.append(style.dim("(--explain lists every build considered and why it was rejected)"))
    return "\n".join(lines) + "\n"


def _pin_source(pin) -> str:
    if pin.url:
        return f"wheel {redact_url(pin.url)}"
    if pin.find_links:
        return f"from the page {redact_url(pin.find_links)}"
    if pin.index_url:
        return f"from {redact_url(pin.index_url)}"
    return "from PyPI"


def _cmd_note(plan, fmt: str, python: str, powershell: str) -> str:
    """Windows commands are written for PowerShell; say what differs in cmd.exe."""
    from torchup import render
    from torchup.errors import UsageError

    try:
        cmd = render.render(plan, fmt, python=python, shell="cmd")
    except UsageError as err:
        return f"written for PowerShell; not for cmd.exe: {err.message}"
    if cmd == powershell:
        return "runs as written in PowerShell and in cmd.exe"
    return "written for PowerShell; in cmd.exe: " + cmd.replace("\n", " && ")


def _explain_lines(considered, style) -> list[str]:
    lines = [style.bold("Every build considered:")]
    for c in considered:
        if c.rejected:
            lines.append(f"  {style.red('x')} torch {c.torch} [{c.variant}]: {c.rejected}")
        else:
            lines.append(f"  {style.green('+')} torch {c.torch} [{c.variant}]" + (f": {c.note}" if c.note else ""))
    return lines
