"""Running the package manager: which one, its exact argv, its output teed to the
terminal and a log file, and a short digest of a failure."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping

from torchup.errors import EnvironmentProblem, UsageError
from torchup.install.conda import CONDA_MANAGERS, conda_argv, find_program
from torchup.install.pixi import find_workspace, pixi_argv
from torchup.install.target import TargetEnv
from torchup.plan import Plan
from torchup.runner import Result, Runner

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)
if TYPE_CHECKING:
    from typing import BinaryIO


__all__ = ["MANAGERS", "choose_manager", "digest", "manager_argvs", "run_manager", "uv_would_save"]

MANAGERS = ("auto", "pip", "uv", "conda", "mamba", "micromamba", "pixi")


def choose_manager(
    requested: str, target: TargetEnv, runner: Runner, *, uv: str | None = None, env: Mapping[str, str] | None = None
) -> tuple[str, str | None]:
    """``(manager, program)``: uv when it is on PATH and the user did not choose, pip otherwise;
    conda, mamba or micromamba when asked for, into a conda environment; pixi into the
    default environment of a pixi workspace.

    ``program`` is the tool's path (pip runs as ``python -m pip`` in the target)."""
    uv_path = uv or runner.which("uv")
    if requested == "auto":
        if uv_path:
            return "uv", uv_path
        if target.has_pip:
            return "pip", None
        raise EnvironmentProblem(
            f"neither uv nor pip is available for {target.executable}",
            hint=f"install uv, or add pip to the environment: `{target.executable} -m ensurepip`",
            code="no-manager",
        )
    if requested == "uv":
        if not uv_path:
            raise EnvironmentProblem(
                "--manager uv: uv is not on PATH", hint="install uv, or use --manager pip", code="no-manager"
            )
        return "uv", uv_path
    if requested == "pip":
        if not target.has_pip:
            raise EnvironmentProblem(
                f"--manager pip: {target.executable} has no pip",
                hint=f"`{target.executable} -m ensurepip`, or use --manager uv",
                code="no-manager",
            )
        return "pip", None
    if requested in CONDA_MANAGERS:
        return requested, find_program(requested, target, runner.which, env or {})
    if requested == "pixi":
        find_workspace(target.prefix)  # refuses a target that is not a pixi workspace's default env
        found = runner.which("pixi")
        if not found:
            raise EnvironmentProblem(
                "--manager pixi: pixi is not on PATH",
                code="no-manager",
                hint="put pixi on PATH, or use --manager uv / pip",
            )
        return "pixi", found
    raise UsageError(f"unknown --manager {requested!r}", hint=f"choose one of {', '.join(MANAGERS)}")


def manager_argvs(
    plan: Plan, manager: str, *, python: str, program: str | None, prefix: str | None = None
) -> list[list[str]]:
    """The exact argvs, run in order: pip and uv as rendered by ``torchup.render`` (uv by its full
    path), one per index the plan's stack needs; conda, mamba and micromamba into ``prefix`` from
    conda-forge, pixi into its workspace (one each; neither installs a stack)."""
    if plan.stack and (manager in CONDA_MANAGERS or manager == "pixi"):
        names = ", ".join(p.name for p in plan.stack)
        raise UsageError(
            f"--manager {manager} cannot install the stack around torch ({names}): "
            + (
                "conda installs conda-forge's torch, and these are wheels built against PyTorch's"
                if manager in CONDA_MANAGERS
                else "torchup adds conda-forge's torch to a pixi workspace, and these are wheels built against PyTorch's"
            ),
            hint="install with --manager pip or uv (into a conda environment too), or write the pixi workspace with "
            "`torchup plan --manager pixi --write` and run pixi install",
        )
    if manager in CONDA_MANAGERS:
        return [conda_argv(plan, program or manager, prefix or "")]
    if manager == "pixi":
        return [pixi_argv(plan, program or "pixi", find_workspace(prefix or "").manifest)]
    from torchup.render import install_argvs

    argvs = [list(argv) for argv in install_argvs(plan, manager, python=python)]
    if manager == "uv" and program:
        for argv in argvs:
            argv[0] = program
    return argvs


def run_manager(
    runner: Runner,
    argv: list[str],
    *,
    log: BinaryIO,
    echo: Callable[[bytes], None] | None,
    tty: bool,
    timeout: float,
    lock: int | None = None,
    on_start: Callable[[int], None] | None = None,
) -> Result:
    """Run the manager; ``lock`` (the environment's flock, POSIX) is handed down to it.

    A lock held by an open file is released when its last descriptor closes, so the manager's
    copy keeps the environment locked for as long as the manager lives, even when torchup
    itself is killed: a rollback started then is refused instead of racing a manager that
    is still writing.  The kernel does this bookkeeping, so there is no pid to go stale;
    a parent-death signal (PR_SET_PDEATHSIG) was the other way, but it is Linux-only, needs
    a ``preexec_fn`` (unsafe while torchup's threads run) and reaches the manager alone, not
    the processes it starts, and killing the manager would not undo what it had done."""
    keep = (lock,) if lock is not None and os.name == "posix" else ()
    return runner.stream(argv, timeout=timeout, on_output=echo, log=log, tty=tty, pass_fds=keep, on_start=on_start)


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_START = re.compile(r"^\s*(ERROR:|error:|×|Error:|  × )")


def clean_lines(output: str) -> list[str]:
    """Output without colour codes, with each progress-bar line reduced to its last state."""
    lines = []
    for raw in _ANSI.sub("", output).replace("\r\n", "\n").split("\n"):
        lines.append(raw.split("\r")[-1].rstrip())
    return [line for line in lines if line.strip()]


def digest(result: Result, *, max_lines: int = 12) -> list[str]:
    """The few lines that say why the manager failed."""
    if result.error:
        return [f"{result.argv[0]}: {result.error}"]
    lines = clean_lines(result.stdout)
    head: list[str] = []
    if result.timed_out:
        head = ["the package manager ran past its time limit and was stopped"]
    elif result.returncode is not None and result.returncode < 0:
        import signal

        try:
            name = signal.Signals(-result.returncode).name
        except ValueError:
            name = f"signal {-result.returncode}"
        head = [f"the package manager was killed by {name}"]
    start = next((i for i, line in enumerate(lines) if _START.match(line)), None)
    body = lines[start:] if start is not None else lines[-6:]
    return head + body[:max_lines]


# one measured pair (issue 15): the same CUDA torch install, cold caches, took 104 s with pip and
# 22 s with uv.  One machine and one link: what uv saves elsewhere is an estimate from it.
_MEASURED_PIP_S, _MEASURED_UV_S = 104.0, 22.0


def uv_would_save(pip_seconds: float, uv: str) -> str:
    """The line that says what uv would have saved, labelled as the estimate it is."""
    saved = pip_seconds * (1 - _MEASURED_UV_S / _MEASURED_PIP_S)
    return (
        f"pip took {pip_seconds:.0f} s; uv is on PATH ({uv}): with --manager uv this would likely have taken "
        f"~{saved:.0f} s less (an estimate: one CUDA torch install measured {_MEASURED_PIP_S:.0f} s with pip, "
        f"{_MEASURED_UV_S:.0f} s with uv)"
    )
