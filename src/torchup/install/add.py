"""``torchup add PKG...``: install more packages into an environment torchup set up, without
letting them replace the verified torch stack by surprise.

The manager's own resolver is asked first (``pip install --dry-run --report -``, ``uv pip
install --dry-run``), with the guard lifted for that question only, so that it says what it
*would* do; a change to torch, torchvision or torchaudio is shown and refused unless
``allow_torch_change``.  The install then runs inside the same transaction as ``torchup
install`` (lock, snapshot, restore on failure, verify): ``torchup install --rollback`` undoes it.
"""

from __future__ import annotations

import configparser
import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TextIO

from torchup.errors import EnvironmentProblem, InstallFailed, UsageError
from torchup.install import (
    DEFAULT_TIMEOUT_S,
    _exclusive,
    _open_log,
    _Out,
    _refuse_unfinished,
    _same_versions,
    _snapshot_and_run,
    _verify,
    default_log_path,
)
from torchup.install import guard as _guard
from torchup.install.execute import choose_manager, clean_lines, digest
from torchup.install.preflight import pep668_problem, writable_problem
from torchup.install.snapshot import keep_installed_files
from torchup.install.target import TargetEnv, inspect_target, installed_versions
from torchup.system import System

__all__ = [
    "AddOptions",
    "AddReport",
    "Change",
    "add",
    "add_argv",
    "changes",
    "parse_pip_report",
    "parse_uv_dry_run",
    "resolve_argv",
    "stack_changes",
    "unguarded_env",
]

_RESOLVE_TIMEOUT_S = 600.0


@dataclass(frozen=True, kw_only=True)
class AddOptions:
    python: str
    packages: tuple[str, ...]
    manager: str = "auto"  # pip or uv (auto: uv when on PATH)
    allow_torch_change: bool = False
    index_url: str | None = None
    dry_run: bool = False
    yes: bool = False
    verify: bool = True
    log_path: str | None = None
    timeout: float = DEFAULT_TIMEOUT_S
    tty: bool = False
    uv: str | None = None
    confirm: Callable[[str], bool] | None = None


@dataclass(frozen=True, kw_only=True)
class Change:
    name: str
    before: str | None  # None: not installed
    after: str | None  # None: uninstalled

    @property
    def key(self) -> str:
        from packaging.utils import canonicalize_name

        return str(canonicalize_name(self.name))

    def __str__(self) -> str:
        if self.before is None:
            return f"install {self.name} {self.after}"
        if self.after is None:
            return f"remove {self.name} {self.before}"
        return f"replace {self.name} {self.before} with {self.after}"


@dataclass(frozen=True, kw_only=True)
class AddReport:
    python: str
    manager: str
    argv: tuple[str, ...]
    changes: tuple[Change, ...]
    torch_changes: tuple[Change, ...]
    dry_run: bool
    log: str | None = None
    snapshot: str | None = None
    verified: bool | None = None

    def to_json(self) -> dict:
        def change(c: Change) -> dict:
            return {"name": c.name, "before": c.before, "after": c.after}

        return {
            "python": self.python,
            "manager": self.manager,
            "argv": list(self.argv),
            "dry_run": self.dry_run,
            "changes": [change(c) for c in self.changes],
            "torch_changes": [change(c) for c in self.torch_changes],
            "log": self.log,
            "snapshot": self.snapshot,
            "verified": self.verified,
        }


# --- pure -----------------------------------------------------------------------
def resolve_argv(manager: str, *, python: str, program: str | None, packages, index_url: str | None) -> list[str]:
    """The dry run that asks the manager's resolver what it would install."""
    if manager == "pip":
        return [
            python,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--quiet",
            "--report",
            "-",
            *(["--index-url", index_url] if index_url else []),
            *packages,
        ]
    return [
        program or "uv",
        "pip",
        "install",
        "--dry-run",
        "--python",
        python,
        *(["--default-index", index_url] if index_url else []),
        *packages,
    ]


def add_argv(
    manager: str, *, python: str, program: str | None, packages, index_url: str | None, constraint: str | None
) -> list[str]:
    """The install itself; ``constraint``: the guard's pins, named explicitly (uv reads no pip.conf)."""
    pins = ["--constraint", constraint] if constraint else []
    if manager == "pip":
        return [python, "-m", "pip", "install", *(["--index-url", index_url] if index_url else []), *pins, *packages]
    return [
        program or "uv",
        "pip",
        "install",
        "--python",
        python,
        *(["--default-index", index_url] if index_url else []),
        *pins,
        *packages,
    ]


def parse_pip_report(text: str) -> dict[str, str]:
    """``name -> version`` of what pip's installation report (``--report``, format 1) would install."""
    try:
        report = json.loads(text)
        return {str(item["metadata"]["name"]): str(item["metadata"]["version"]) for item in report["install"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise InstallFailed(
            f"pip's installation report cannot be read ({type(exc).__name__}: {exc}); nothing was changed",
            hint="pip 22.2 or later writes it: upgrade pip in the environment",
        ) from None


def parse_uv_dry_run(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """``(installs, removals)`` from ``uv pip install --dry-run``'s `` + name==version`` and
    `` - name==version`` lines."""
    installs: dict[str, str] = {}
    removals: dict[str, str] = {}
    for line in clean_lines(text):
        sign, _, spec = line.strip().partition(" ")
        name, sep, version = spec.partition("==")
        if sign in "+-" and len(sign) == 1 and sep:
            (installs if sign == "+" else removals)[name.strip()] = version.strip()
    return installs, removals


def changes(
    installed: Mapping[str, str], installs: Mapping[str, str], removals: Mapping[str, str] = {}
) -> list[Change]:
    """What the resolution changes, against ``installed`` (key -> version).  pip's report lists
    only what it installs: an installed project it names is replaced."""
    from packaging.utils import canonicalize_name

    def key(name: str) -> str:
        return str(canonicalize_name(name))

    out = []
    for name, version in sorted(installs.items()):
        before = installed.get(key(name))
        if before != version:
            out.append(Change(name=name, before=before, after=version))
    for name, version in sorted(removals.items()):
        if not any(key(n) == key(name) for n in installs):
            out.append(Change(name=name, before=version, after=None))
    return out


def stack_changes(found: list[Change], names: tuple[str, ...] = _guard.STACK) -> list[Change]:
    """The changes to an installed member of the torch stack (``names``: torch's family, and the
    packages the guard pins with it, such as a plan's xformers)."""
    from packaging.utils import canonicalize_name

    keys = {canonicalize_name(n) for n in names}
    return [c for c in found if canonicalize_name(c.key) in keys and c.before is not None]


def unguarded_env(env: Mapping[str, str], guard_path: str, conf_tokens: list[str]) -> dict[str, str]:
    """The environment for the resolver's dry run, without torchup's pins: pip's ``PIP_CONSTRAINT``
    replaces the configured constraint files (the site pip.conf's other files are kept in it);
    uv's ``UV_CONSTRAINT`` loses the guard's file."""
    out = dict(env)
    if "PIP_CONSTRAINT" not in out and guard_path in conf_tokens:  # an env value already overrides the guard
        # PIP_CONSTRAINT also hides constraint files named in the user and global pip.conf: a dry run only
        out["PIP_CONSTRAINT"] = " ".join(t for t in conf_tokens if t != guard_path) or os.devnull
    if "UV_CONSTRAINT" in out:
        rest = [t for t in out["UV_CONSTRAINT"].split() if t != guard_path]
        if rest:
            out["UV_CONSTRAINT"] = " ".join(rest)
        else:
            del out["UV_CONSTRAINT"]
    return out


# --- effects --------------------------------------------------------------------
def add(options: AddOptions, system: System, stream: TextIO | None = None) -> AddReport:
    """Resolve, show and (unless refused) install ``options.packages`` into ``options.python``."""
    out = _Out(stream or sys.stdout)
    runner = system.runner
    if not options.packages:
        raise UsageError("name at least one package to add")
    if options.manager not in ("auto", "pip", "uv"):
        raise UsageError(
            f"torchup add runs pip or uv, not {options.manager}",
            hint="use --manager pip or --manager uv (conda-forge builds: `torchup install`)",
        )
    target = inspect_target(runner, options.python)
    out.step(f"target {target.executable} (Python {target.version}, {target.prefix})")
    manager, program = choose_manager(options.manager, target, runner, uv=options.uv, env=system.env)
    for problem in (pep668_problem(target), writable_problem(target)):
        if problem is not None:
            raise problem
    _refuse_unfinished(target)
    guard_path = _guard.constraints_path(target.prefix)
    guarded = os.path.isfile(guard_path)
    # the stack is torch's family and whatever the guard pins with it (an install's Plan.stack)
    stack = (*_guard.STACK, *(n for n in _guard.parse_constraints(_read(guard_path) or "") if n not in _guard.STACK))
    found = _resolve(options, target, manager, program, runner, out, guard_path)
    torch = stack_changes(found, stack)
    for change in found:
        out.line(f"  - would {change}")
    if torch and not options.allow_torch_change:
        out.step("refused; nothing was changed")
        raise EnvironmentProblem(
            "this would change the installed torch stack: " + "; ".join(str(c) for c in torch),
            hint="pin a version of the package that works with the installed torch, or pass --allow-torch-change "
            f"(undo with `torchup install --rollback --python {shlex.quote(target.executable)}`)",
            code="torch-change",
        )
    argv = add_argv(
        manager,
        python=target.executable,
        program=program,
        packages=options.packages,
        index_url=options.index_url,
        constraint=guard_path if guarded and not torch else None,
    )
    report = AddReport(
        python=target.executable,
        manager=manager,
        argv=tuple(argv),
        changes=tuple(found),
        torch_changes=tuple(torch),
        dry_run=options.dry_run,
    )
    if not found:
        out.step("nothing to change: already installed")
        return report
    command = shlex.join(argv)
    if options.dry_run:
        out.step("dry run: would run")
        out.line(command)
        return report
    if not options.yes:
        if options.confirm is None:
            raise UsageError(
                "refusing to change the environment without confirmation: there is no terminal to ask",
                hint="pass --yes to install without asking, or --dry-run to see what would run",
                code="needs-confirmation",
            )
        if not options.confirm(f"run `{command}`?"):
            out.step("cancelled; nothing was changed")
            raise UsageError("cancelled by the user", code="cancelled")
    return _transaction(options, system, target, argv, report, out, relax=guarded and bool(torch), stack=stack)


def _resolve(
    options: AddOptions, target: TargetEnv, manager: str, program: str | None, runner, out: _Out, guard_path: str
) -> list[Change]:
    """Ask the manager's resolver, the guard lifted, what it would change."""
    try:
        conf = _guard.conf_constraints(_read(_guard.pip_conf_path(target.prefix)))
    except configparser.Error:  # pip cannot read it either, and says so in the dry run
        conf = []
    argv = resolve_argv(
        manager, python=target.executable, program=program, packages=options.packages, index_url=options.index_url
    )
    out.step(f"asking {manager}'s resolver: {shlex.join(argv)}")
    result = runner.run(argv, timeout=_RESOLVE_TIMEOUT_S, env=unguarded_env(runner.env, guard_path, conf))
    if not result.ok:
        raise InstallFailed(
            f"{manager} cannot resolve {' '.join(options.packages)}; nothing was changed",
            details=digest(_merged(result)),
        )
    installed = {d.key: d.version for d in target.distributions}
    if manager == "pip":
        return changes(installed, parse_pip_report(result.stdout))
    installs, removals = parse_uv_dry_run(result.stderr + "\n" + result.stdout)
    return changes(installed, installs, removals)


def _merged(result):
    """``digest`` reads stdout (the manager's merged output when streamed); here stderr holds most of it."""
    from torchup.record import replace

    return replace(result, stdout=(result.stderr or "") + "\n" + (result.stdout or ""))


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError:
        return ""


def _transaction(
    options: AddOptions,
    system: System,
    target: TargetEnv,
    argv: list[str],
    report: AddReport,
    out: _Out,
    *,
    relax: bool,
    stack: tuple[str, ...] = _guard.STACK,
) -> AddReport:
    """The install's transaction (install/__init__.py): lock, snapshot, run, restore on failure, verify."""
    from torchup.record import replace

    runner = system.runner
    log_path = options.log_path or default_log_path(system.env)
    with _exclusive(target.prefix) as lock, _open_log(log_path) as log:  # private log, as install's
        _refuse_unfinished(target)
        out.log = log
        out.step(f"full log: {log_path}")
        snap = _snapshot_and_run(
            out,
            runner,
            target,
            [argv],
            log=log,
            log_path=log_path,
            lock=lock,
            deadline=time.monotonic() + options.timeout,
            tty=options.tty,
            manager=report.manager,
            relax=relax,
            snapshot_args={
                "plan": {"add": list(options.packages)},
                "touches": [c.name for c in report.changes],
                "keep_files": _guard.guard_files(target.prefix),
            },
            result_problem=lambda: _result_problem(target, report.changes),
        )
        out.step("added " + ", ".join(f"{c.name} {c.after}" for c in report.changes if c.after))
        out.step(f"undo with: torchup install --rollback --python {shlex.quote(target.executable)}")
        verified = None
        if options.verify:
            verified = _verify(system, target.executable, out)
        if relax:  # the stack changed on purpose: pin the new one
            for line in _guard.after_install(
                target, enabled=True, verified=verified, manager=report.manager, names=stack
            ):
                out.step(line)
            keep_installed_files(snap)
        out.log = None
    return replace(report, log=log_path, snapshot=snap.path, verified=verified)


def _result_problem(target: TargetEnv, expected) -> str | None:
    """Why the environment after a successful run is not what the resolver said it would be."""
    for change in expected:
        got = installed_versions(target.site_dirs, change.name)
        if change.after is None and got:
            return f"{change.name} {', '.join(got)} is still installed"
        if change.after is not None and not _same_versions(got, change.after):
            return f"{change.name} is {', '.join(got) or 'not installed'}, not {change.after}"
    return None
