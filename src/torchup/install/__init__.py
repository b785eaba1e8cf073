"""``torchup install``: carry out a Plan in the target environment, and lose nothing.

Order of work (each step printed as a ``torchup:`` line):
1. (``--venv``) create the virtual environment;
2. inspect the target (a script run inside it) and pick the manager;
3. preflight (``preflight.py``): writable, not externally-managed, index reachable,
   free disk; name what is replaced and what would break;
4. confirm (``--yes`` skips; no terminal and no ``--yes`` refuses);
5. snapshot (``snapshot.py``), run the manager (``execute.py``; ``conda.py`` and
   ``pixi.py`` for the conda-forge ones) with its output teed to a log file;
6. on any failure restore the snapshot and say so, with the failure's digest,
   the matching ``explain`` finding and the log path; on success check the
   installed version and run ``verify``;
7. (pip and uv) pin the installed stack for later pip installs (``guard.py``).
"""

from __future__ import annotations

import os
import shlex
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, TextIO

from torchup.errors import EXIT_INSTALL, EnvironmentProblem, InstallFailed, UsageError
from torchup.install import guard as _guard
from torchup.install import preflight as _preflight
from torchup.install.conda import APPENDED, CONDA_MANAGERS, UNTOUCHED, read_records
from torchup.install.conda import result_problem as conda_result_problem
from torchup.install.execute import choose_manager, digest, manager_argv, run_manager
from torchup.install.http import Client
from torchup.install.snapshot import (RestoreReport, Snapshot, discard_previous_snapshot, keep_installed_files,
                                     load_snapshot, mark, restore, save_edited_files, take_snapshot)
from torchup.install.target import TargetEnv, inspect_target, installed_versions
from torchup.plan import Plan
from torchup.system import System

__all__ = ["InstallOptions", "InstallReport", "InstallInterrupted", "install", "rollback", "default_log_path"]

DEFAULT_TIMEOUT_S = 3600.0  # a CUDA torch is ~3 GB of wheels; an hour covers a slow link


class InstallInterrupted(InstallFailed):
    exit_code = 130
    code = "interrupted"


@dataclass(frozen=True, kw_only=True)
class InstallOptions:
    python: str  # the target interpreter (or the base interpreter for --venv)
    manager: str = "auto"
    venv: str | None = None  # create this venv from ``python`` and install there
    dry_run: bool = False
    yes: bool = False
    verify: bool = True
    log_path: str | None = None
    timeout: float = DEFAULT_TIMEOUT_S
    check_network: bool = True
    tty: bool = False  # give the manager a terminal (its own progress bars)
    uv: str | None = None  # uv's path, when not the one on PATH
    confirm: Callable[[str], bool] | None = None  # asks the user; None: no terminal
    guard: bool = True  # pin the installed stack for later pip installs (install/guard.py)


@dataclass(frozen=True, kw_only=True)
class InstallReport:
    python: str
    manager: str
    argv: tuple[str, ...]
    dry_run: bool
    log: str | None = None
    snapshot: str | None = None
    replaced: str | None = None
    verified: bool | None = None  # None: not run


def default_log_path(env) -> str:
    home = env.get("HOME") or os.path.expanduser("~")
    base = env.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return os.path.join(base, "torchup", "logs", f"install-{stamp}-{os.getpid()}.log")


class _Out:
    """torchup's step lines, always shown (and copied into the log once it is open)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.log = None
        self.start = time.monotonic()

    def step(self, text: str) -> None:
        self.line(f"torchup: {text}")

    def line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
        if self.log is not None:  # the log's lines carry the time since torchup started
            self.log.write(f"[{time.monotonic() - self.start:8.2f}s] {text}\n".encode())
            self.log.flush()

    def raw(self, chunk: bytes) -> None:
        buf = getattr(self.stream, "buffer", None)
        if buf is not None:
            self.stream.flush()
            buf.write(chunk)
            buf.flush()
        else:
            self.stream.write(chunk.decode("utf-8", "replace"))
            self.stream.flush()


def install(plan: Plan, options: InstallOptions, system: System, stream: TextIO | None = None) -> InstallReport:
    out = _Out(stream or sys.stdout)
    runner = system.runner
    python = options.python
    if options.venv and (options.manager in CONDA_MANAGERS or options.manager == "pixi"):
        raise UsageError(f"--venv creates a virtual environment, which {options.manager} does not install into",
                         hint=f"name a conda environment with --python, or drop --manager {options.manager}")
    if options.venv:
        python = _venv(options, system, out)
        if options.dry_run and not os.path.exists(python):
            return _dry_run_new_venv(plan, options, python, system, out)
    pages = None
    if options.check_network and plan.index_url and options.manager not in (*CONDA_MANAGERS, "pixi"):
        # the family's index pages depend on the plan alone: fetched while the target is inspected
        pages = _in_background(_preflight.index_pages, plan, Client(system.env, timeout=_preflight.INDEX_TIMEOUT_S))
    target = inspect_target(runner, python)
    out.step(f"target {target.executable} (Python {target.version}, {target.prefix})")
    manager, program = choose_manager(options.manager, target, runner, uv=options.uv, env=system.env)
    argv = manager_argv(plan, manager, python=target.executable, program=program, prefix=target.prefix)
    conda = manager in CONDA_MANAGERS or manager == "pixi"  # conda-forge packages, the whole prefix

    checks = _preflight.run_preflight(plan, target, manager=manager, env=system.env,
                                      check_network=options.check_network, runner=runner,
                                      pages=pages() if pages is not None else None)
    out.step(f"installing torch {plan.torch} ({plan.variant}) with {manager}")
    for reason in plan.reasons[:3]:
        out.line(f"  - {reason}")
    if checks.replacing:
        out.step(checks.replacing)
    for note in checks.notes:
        out.step(note)
    if checks.at_risk:
        out.step("these installed packages pin torch and would break:")
        for line in checks.at_risk:
            out.line(f"  - {line}")
    if checks.problems:
        first = checks.problems[0]
        extra = [f"also: {p.message}" for p in checks.problems[1:]]
        first.details = tuple(first.details) + tuple(extra)
        out.step("preflight failed; nothing was changed")
        raise first
    if checks.need is not None:
        out.step(f"preflight ok (about {_preflight._gb(checks.need.download)} to download)")
    else:
        out.step("preflight ok" if options.check_network else "preflight ok (indexes and disk not checked)")
    _refuse_unfinished(target)
    command = shlex.join(argv)
    if options.dry_run:
        kept = _pixi_files(target) if manager == "pixi" else ()
        out.step("dry run: would snapshot " + (", ".join((target.prefix, *kept)) if conda else
                                               ", ".join(p for p in (*target.site_dirs, target.scripts) if p)))
        out.step("dry run: would run")
        out.line(command)
        return InstallReport(python=target.executable, manager=manager, argv=tuple(argv), dry_run=True,
                             replaced=checks.replacing)
    if not options.yes:
        if options.confirm is None:
            raise UsageError(
                "refusing to change the environment without confirmation: there is no terminal to ask",
                hint="pass --yes to install without asking, or --dry-run to see what would run",
                code="needs-confirmation",
            )
        question = f"run `{command}`?"
        if checks.at_risk:
            question = f"{len(checks.at_risk)} installed package(s) would break; {question}"
        if not options.confirm(question):
            out.step("cancelled; nothing was changed")
            raise UsageError("cancelled by the user", code="cancelled")

    log_path = options.log_path or default_log_path(system.env)
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    with _exclusive(target.prefix), open(log_path, "ab") as log:
        _refuse_unfinished(target)  # again, now that no other torchup can be at work here
        out.log = log
        out.step(f"full log: {log_path}")
        out.step("snapshot of the environment before the install")
        try:
            snap = take_snapshot(target, plan=plan.to_json(), log=log_path, touches=checks.touches,
                                 replaces=checks.replaces, discard_previous=False,
                                 whole_prefix=UNTOUCHED if conda else None, copied=APPENDED if conda else (),
                                 keep_files=_pixi_files(target) if manager == "pixi" else
                                 () if conda else _guard.guard_files(target.prefix))
        except (OSError, KeyboardInterrupt) as exc:
            state = _undo_partial_snapshot(target.prefix)
            if isinstance(exc, KeyboardInterrupt):
                raise InstallInterrupted(f"interrupted while taking the snapshot; {state}") from None
            raise EnvironmentProblem(
                f"could not take the snapshot of the environment: {exc}; {state}",
                hint="the snapshot lives in <prefix>/.torchup/ and needs that directory to be writable",
                code="snapshot-failed",
            ) from None
        # from here until the snapshot is marked "installed", anything that stops torchup
        # (a failure, Ctrl-C, a bug) restores it first
        try:
            out.step(_snapshot_line(snap, target, checks.replaces))
            out.step(f"running: {command}")
            # the previous snapshot (the torch before last, often) goes while the manager downloads
            cleanup = threading.Thread(target=discard_previous_snapshot, args=(target.prefix,), daemon=True)
            cleanup.start()
            if not conda:
                _guard.relax(target.prefix)  # the snapshot keeps the pins: a failure puts them back
            result = run_manager(runner, argv, log=log, echo=out.raw, tty=options.tty, timeout=options.timeout)
            cleanup.join()
            if not result.ok:
                failure, text = digest(result), result.stdout
            else:
                problem = _result_problem(plan, target, checks.replaces, conda=conda)
                # the exit code said success; the environment says otherwise
                failure, text = ([f"{manager} exited 0 but {problem}"], result.stdout) if problem else (None, "")
        except KeyboardInterrupt:
            _failed(out, ["interrupted: the package manager was stopped"], snap, restore(snap), target, runner,
                    log_path, error=InstallInterrupted)
        except BaseException:
            restore(snap)
            mark(snap, "restored")
            raise
        if failure:
            _failed(out, failure, snap, restore(snap), target, runner, log_path, text=text)
        snap = mark(snap, "installed")
        keep_installed_files(snap)
        out.step(f"installed torch {plan.torch}" + (f" ({checks.replacing})" if checks.replacing else ""))
        out.step(f"undo with: torchup install --rollback --python {shlex.quote(target.executable)}")
        verified = None
        if options.verify:
            verified = _verify(system, target.executable, out)
        if not conda:
            for line in _guard.after_install(target, enabled=options.guard, verified=verified, manager=manager):
                out.step(line)
            keep_installed_files(snap)  # the guard as written, so a rollback tells it from a later edit
        out.log = None
    return InstallReport(python=target.executable, manager=manager, argv=tuple(argv), dry_run=False, log=log_path,
                         snapshot=snap.path, replaced=checks.replacing, verified=verified)


def _in_background(fn, *args):
    """Start ``fn(*args)`` in a thread; the returned function waits for its value (None
    when it raised: the caller then does the work itself)."""
    box: list = []

    def work() -> None:
        try:
            box.append(fn(*args))
        except Exception:  # noqa: BLE001 - no traceback from a thread; the caller does it again
            pass

    thread = threading.Thread(target=work, daemon=True)
    thread.start()

    def value():
        thread.join()
        return box[0] if box else None

    return value


def _refuse_unfinished(target: TargetEnv) -> None:
    previous = load_snapshot(target.prefix)
    if previous is not None and previous.status == "installing":
        raise EnvironmentProblem(
            f"an earlier torchup install into {target.prefix} ({previous.created}) never finished "
            "(torchup itself was killed?); its snapshot holds the environment from before it",
            hint=f"restore it first: `torchup install --rollback --python {shlex.quote(target.executable)}`"
            + (f"; its log: {previous.log}" if previous.log else ""),
            code="unfinished-install",
        )


@contextmanager
def _exclusive(prefix: str):
    """Hold ``<prefix>/.torchup/lock``: one torchup install or rollback per environment at a
    time (two at once could each take the other's snapshot for the previous one)."""
    path = os.path.join(prefix, ".torchup", "lock")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            if os.name == "nt":
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise EnvironmentProblem(
                f"another torchup install or rollback is running in {prefix}",
                hint="wait for it to finish, then run this again",
                code="install-running",
            ) from None
        yield
    finally:
        os.close(fd)  # closing releases the lock


def rollback(python: str, system: System, stream: TextIO | None = None) -> RestoreReport:
    """Put the environment of ``python`` back to the snapshot of its last install."""
    out = _Out(stream or sys.stdout)
    target = inspect_target(system.runner, python)
    snap = load_snapshot(target.prefix)
    if snap is None:
        raise EnvironmentProblem(
            f"no snapshot to roll back to in {target.prefix}",
            hint="torchup keeps the snapshot of the last `torchup install` into this environment",
            code="no-snapshot",
        )
    out.step(f"rolling back {target.prefix} to the snapshot of {snap.created}")
    with _exclusive(target.prefix):
        try:
            saved = save_edited_files(snap)
        except OSError as exc:
            raise EnvironmentProblem(f"cannot keep a copy of a file changed since the install: {exc}",
                                     hint="nothing was rolled back; free some space or fix the permissions and retry",
                                     code="rollback-incomplete") from None
        for path, copy in saved:
            out.step(f"{path} changed after the install; that version is kept as {copy}")
        report = restore(snap)
    if report.errors:
        raise EnvironmentProblem("the rollback could not put everything back", details=report.errors[:10],
                                 hint=f"the snapshot is kept in {snap.path}", code="rollback-incomplete")
    mark(snap, "rolled back")
    after = inspect_target(system.runner, python)
    if after.freeze() != snap.freeze():
        raise EnvironmentProblem("after the rollback the installed distributions still differ from the snapshot",
                                 details=_diff(snap.freeze(), after.freeze()), code="rollback-incomplete")
    torch = next((d for d in snap.distributions if d.key == "torch"), None)
    out.step(f"rolled back: {report.removed} entries removed, {report.restored} put back; "
             + (f"torch {torch.version} is back" if torch else "torch is not installed, as before"))
    return report


# --- helpers --------------------------------------------------------------------
def _failed(out: _Out, lines: list[str], snap: Snapshot, report: RestoreReport, target: TargetEnv, runner,
            log_path: str, *, error: type[InstallFailed] = InstallFailed, text: str = "") -> None:
    details = list(lines)
    if report.errors:
        state = "the environment could NOT be fully restored"
        details += list(report.errors[:10])
        hint = f"retry `torchup install --rollback --python {shlex.quote(target.executable)}`; log: {log_path}"
    else:
        mark(snap, "restored")
        after = inspect_target(runner, target.executable)
        if after.freeze() == snap.freeze():
            torch = target.find("torch")
            state = ("the environment is as it was before" if not report.changed
                     else f"the environment was restored ({report.removed} entries removed, {report.restored} put back)")
            state += f"; torch {torch.version} is still installed" if torch else "; torch is not installed, as before"
        else:
            state = "the environment differs from the snapshot after restoring"
            details += _diff(snap.freeze(), after.freeze())
        hint = f"full log: {log_path}"
    finding = _explain(text or "\n".join(lines))
    if finding:
        details.append(f"likely cause: {finding}")
    out.step(f"full log: {log_path}")
    exc = error(f"the install failed; {state}", details=details, hint=hint)
    if error is not InstallInterrupted:
        exc.exit_code = EXIT_INSTALL
    raise exc


def _explain(text: str) -> str | None:
    try:
        from torchup.doctor.explain import explain
    except ImportError:  # the explain catalog is optional here
        return None
    try:
        findings = explain(text)
    except Exception:  # a failed diagnosis must not hide the install failure
        return None
    if not findings:
        return None
    f = findings[0]
    fix = getattr(f, "fix", None)
    fix_text = (fix[0] if fix else "") if isinstance(fix, (list, tuple)) else (fix or "")
    return f"{getattr(f, 'title', '')} [{getattr(f, 'id', '')}]" + (f" — fix: {fix_text}" if fix_text else "")


def _pixi_files(target: TargetEnv) -> tuple[str, ...]:
    """pixi's manifest and lock: `pixi add` puts the manifest back after a failure, but not the lock."""
    from torchup.install.pixi import find_workspace

    ws = find_workspace(target.prefix)
    return (ws.manifest, ws.lock)


def _undo_partial_snapshot(prefix: str) -> str:
    """A snapshot stopped half-way may have set entries aside already: put them back."""
    partial = load_snapshot(prefix)
    if partial is None or partial.status != "installing":  # stopped before anything was moved
        return "nothing was changed"
    report = restore(partial)
    if report.errors:
        return ("what it had set aside could not all be put back: "
                f"`torchup install --rollback` retries ({report.errors[0]})")
    mark(partial, "restored")
    return "nothing was changed" if not report.changed else "what it had set aside was put back"


def _snapshot_line(snap: Snapshot, target: TargetEnv, replaces) -> str:
    line = f"snapshot: {snap.files} files of {len(snap.distributions)} distributions linked in {snap.path}"
    if snap.scope is not None:
        line += f" ({len(snap.scope)} the install can change; the rest listed)"
    aside = [f"{d.name} {d.version}" for d in target.distributions if d.key in replaces]
    if aside and snap.moved:
        line += "; set aside (moved into it): " + ", ".join(aside)
    return line


def _result_problem(plan: Plan, target: TargetEnv, replaces, *, conda: bool) -> str | None:
    """Why the environment after a successful run is not what the plan asked for."""
    if conda:
        return conda_result_problem(plan, read_records(target.prefix))
    got = installed_versions(target.site_dirs, "torch")
    if not _same_versions(got, plan.torch):
        return f"torch is {', '.join(got) or 'not installed'}, not {plan.torch}"
    missing = [d.name for d in target.distributions
               if d.key in replaces and not installed_versions(target.site_dirs, d.name)]
    if missing:  # set aside for a new version the manager did not install after all
        return f"it did not install {', '.join(missing)} again"
    return None


def _same_versions(got: list[str], want: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return len(got) == 1 and Version(got[0]) == Version(want)
    except InvalidVersion:
        return got == [want]


def _diff(before: list[str], after: list[str]) -> list[str]:
    b, a = set(before), set(after)
    return [f"missing: {x}" for x in sorted(b - a)] + [f"added: {x}" for x in sorted(a - b)]


def _verify(system: System, python: str, out: _Out) -> bool:
    from torchup.verify import run_verify

    out.step("verify: real computation in the new environment")
    report = run_verify(system, python)
    if report.ok:
        out.step(f"verify ok: torch {report.torch.get('version', '?') if report.torch else '?'} ({report.build_label or '?'})")
        return True
    out.step("verify FAILED:")
    for check in report.failures:
        out.line(f"  - {check.step}: {check.detail}")
    if report.crashed:
        out.line(f"  - {report.crashed}")
    out.step(f"run `torchup doctor --python {shlex.quote(python)}` for a diagnosis, "
             f"or `torchup install --rollback --python {shlex.quote(python)}` to undo")
    return False


def _venv_python(venv: str) -> str:
    return os.path.join(os.path.abspath(venv), "Scripts" if os.name == "nt" else "bin",
                        "python.exe" if os.name == "nt" else "python")


def _venv(options: InstallOptions, system: System, out: _Out) -> str:
    """Create ``--venv DIR`` from ``options.python`` (when it does not exist yet)."""
    python = _venv_python(options.venv)
    if os.path.exists(python):
        out.step(f"using the existing virtual environment {options.venv}")
        return python
    uv = options.uv or system.runner.which("uv")
    if options.manager in ("uv", "auto") and uv:
        argv = [uv, "venv", "--python", options.python, options.venv]
    else:
        argv = [options.python, "-m", "venv", options.venv]
    if options.dry_run:
        out.step("dry run: would create the virtual environment")
        out.line(shlex.join(argv))
        return python
    out.step(f"creating the virtual environment {options.venv}")
    result = system.runner.run(argv, timeout=300)
    if not result.ok:
        raise EnvironmentProblem(
            f"could not create the virtual environment {options.venv}",
            details=(result.error or (result.stderr or result.stdout).strip() or "no output").splitlines()[-5:],
            hint="on Debian/Ubuntu the venv module is in the python3-venv package",
            code="venv-failed",
        )
    return python


def _dry_run_new_venv(plan: Plan, options: InstallOptions, python: str, system: System, out: _Out) -> InstallReport:
    """The venv does not exist yet, so there is nothing to inspect: print the command only."""
    uv = options.uv or system.runner.which("uv")
    manager = "uv" if options.manager in ("uv", "auto") and uv else "pip"
    argv = manager_argv(plan, manager, python=python, program=uv)
    out.step("dry run: would run")
    out.line(shlex.join(argv))
    return InstallReport(python=python, manager=manager, argv=tuple(argv), dry_run=True)
