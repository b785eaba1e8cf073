"""Rendering: Plan -> the exact command or project file for a package manager.

Pure: every function takes a ``Plan`` and returns text or an argv; running it
is ``torchup install``'s job.  One module per format; ``render(plan, fmt)`` is
the single entry point, ``install_argv`` the argv ``install`` runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from torchup.errors import UsageError
from torchup.plan import Plan
from torchup.render._common import RenderError, pins, shell_for

__all__ = [
    "FORMATS",
    "RenderError",
    "install_argv",
    "install_argvs",
    "notes",
    "pins",
    "render",
    "render_all",
    "render_commands",
    "render_many",
]

FORMATS = (
    "pip",
    "uv",
    "uv-project",
    "poetry",
    "poetry-project",
    "pixi",
    "conda",
    "mamba",
    "micromamba",
    "requirements",
)
COMMAND_FORMATS = ("pip", "uv", "poetry", "conda", "mamba", "micromamba")  # shell lines; the others are files
# the keys of Plan.commands (the JSON contract) and the format each is rendered in
COMMAND_KEYS = {"pip": "pip", "uv": "uv", "conda": "conda", "pixi": "pixi", "poetry": "poetry"}


def install_argv(plan: Plan, manager: str, *, python: str) -> list[str]:
    """The argv that installs ``plan`` into ``python``'s environment.

    ``pip``: ``[python, -m, pip, install, (--index-url URL)?, torch==V, ...]``;
    ``uv``: ``[uv, pip, install, --python, python, (--default-index URL)?, ...]``.
    Pins are exact; PyTorch's index is always ``--index-url``, never an extra index.
    A stack that needs several commands is refused here: ``install_argvs`` gives them.
    """
    if manager == "pip":
        from torchup.render import pip

        return pip.argv(plan, python=python)
    if manager == "uv":
        from torchup.render import uv

        return uv.argv(plan, python=python)
    # conda, mamba, micromamba and pixi need the target's prefix or workspace: torchup.install.conda / .pixi
    raise RenderError(
        f"no wheel-install argv for {manager!r}: this renders pip's and uv's",
        hint="print the command with `torchup plan --manager NAME`",
    )


def install_argvs(plan: Plan, manager: str, *, python: str) -> list[list[str]]:
    """The argvs that install ``plan`` with pip or uv, in order: torch's first, then one per
    further index its stack needs (``_stack.py``); a plan without a stack has one."""
    if manager == "pip":
        from torchup.render import pip

        return pip.argvs(plan, python=python)
    if manager == "uv":
        from torchup.render import uv

        return uv.argvs(plan, python=python)
    return [install_argv(plan, manager, python=python)]  # refuses the other managers


def render(plan: Plan, fmt: str, *, python: str = "python", shell: str | None = None) -> str:
    """The text for one format: a command line, or a project-file fragment.

    Command lines are written for ``shell`` (``posix``, ``powershell`` or ``cmd``; default: PowerShell
    for a Windows plan, else POSIX); a ``UsageError`` says when a value cannot be quoted for it."""
    if fmt == "pip":
        from torchup.render import pip

        return pip.render(plan, python=python, shell=shell)
    if fmt == "uv":
        from torchup.render import uv

        return uv.render(plan, python=python, shell=shell)
    if fmt == "uv-project":
        from torchup.render import uv

        return uv.render_project([plan])
    if fmt == "poetry":
        from torchup.render import poetry

        return poetry.render(plan, shell=shell)
    if fmt == "poetry-project":
        from torchup.render import poetry

        return poetry.render_project([plan])
    if fmt == "pixi":
        from torchup.render import pixi

        return pixi.render(plan)
    if fmt in ("conda", "mamba", "micromamba"):
        from torchup.render import conda

        return conda.render(plan, tool=fmt, shell=shell)
    if fmt == "requirements":
        from torchup.render import requirements

        return requirements.render(plan)
    raise RenderError(f"unknown format {fmt!r}", hint=f"choose one of {', '.join(FORMATS)}")


def render_many(plans: Sequence[Plan], fmt: str, *, python: str = "python") -> str:
    """One text for several machines: a uv or Poetry project with platform markers, a pixi
    workspace with one platform entry per machine, or, for the other formats, one block per machine."""
    if fmt == "uv-project":
        from torchup.render import uv

        return uv.render_project(plans)
    if fmt == "poetry-project":
        from torchup.render import poetry

        return poetry.render_project(plans)
    if fmt == "pixi":
        from torchup.render import pixi

        return pixi.render_project(plans)
    blocks = []
    for plan in plans:
        head = f"# {plan.os}/{plan.arch}, Python {plan.python}" if plan.os else "#"
        blocks.append(head + "\n" + render(plan, fmt, python=python).rstrip("\n"))
    return "\n\n".join(blocks) + "\n"


def render_commands(plan: Plan, *, python: str = "python") -> dict[str, str | None]:
    """``Plan.commands``: one entry per manager of the contract; None where the
    plan cannot be expressed (ROCm through conda-forge, a path the shell cannot quote)."""
    out: dict[str, str | None] = {}
    for key, fmt in COMMAND_KEYS.items():
        try:
            out[key] = render(plan, fmt, python=python)
        except (RenderError, UsageError):
            out[key] = None
    return out


def commands_from(rendered: dict[str, dict]) -> dict[str, str | None]:
    """``Plan.commands`` read from ``render_all``'s output, which has every command format in the
    same shell: ``plan --json`` renders each once."""
    return {key: rendered[fmt]["text"] for key, fmt in COMMAND_KEYS.items()}


def render_all(plan: Plan, *, python: str = "python") -> dict[str, dict]:
    """Every format of ``FORMATS`` for ``plan --json``: ``{"text", "notes", "error", "shell"}`` each;
    ``text`` is None and ``error`` says why where the plan cannot be expressed in a format.
    ``shell`` names the shell a command is quoted for (None for a file); a Windows plan's commands,
    written for PowerShell, also carry ``cmd``: ``{"text", "error"}`` for cmd.exe."""
    out: dict[str, dict] = {}
    for fmt in FORMATS:
        shell = shell_for(plan) if fmt in COMMAND_FORMATS else None
        entry = _attempt(plan, fmt, python=python, shell=shell)
        entry["notes"] = notes(plan, fmt) if entry["text"] is not None else []
        entry["shell"] = shell
        if shell == "powershell":
            entry["cmd"] = _attempt(plan, fmt, python=python, shell="cmd")
        out[fmt] = entry
    return out


def _attempt(plan: Plan, fmt: str, *, python: str, shell: str | None) -> dict:
    try:
        return {"text": render(plan, fmt, python=python, shell=shell), "error": None}
    except (RenderError, UsageError) as err:  # UsageError: a value the format or the shell cannot carry
        return {"text": None, "error": err.message}


def notes(plan: Plan, fmt: str) -> list[str]:
    """Caveats to print next to the rendered text of ``fmt``."""
    if fmt in ("conda", "mamba", "micromamba", "pixi"):
        from torchup.render import conda

        if plan.stack:
            return []  # conda refuses a stack; pixi takes torch as a wheel with it (pixi.py)

        try:
            return conda.notes(plan, tool=fmt)
        except RenderError:
            return []
    return []
