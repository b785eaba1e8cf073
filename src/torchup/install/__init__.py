"""``torchup install``: carry out a Plan in the target environment, and lose nothing.

Order of work (each step printed as a ``torchup:`` line):
1. (``--venv DIR`` that does not exist) inspect the base interpreter instead: steps 3 and 4
   judge the empty environment DIR will be, and DIR is created only after the yes;
2. inspect the target (a script run inside it); take its lock (``<prefix>/.torchup/lock``,
   held until the manager has exited, see ``_exclusive``), inspect it again, pick the manager;
3. preflight (``preflight.py``): writable, not externally-managed, index reachable and
   holding every requirement for this target (``index_check.py``), free disk; name what is
   replaced and what would break;
4. confirm (``--yes`` skips; no terminal and no ``--yes`` refuses; a plan file that is not
   torchup's own choice needs the answer at the terminal or ``--trust-plan-index``);
5. snapshot (``snapshot.py``), run the manager (``execute.py``; ``conda.py`` and
   ``pixi.py`` for the conda-forge ones) with its output teed to a log file;
6. on any failure restore the snapshot and say so, with the failure's digest,
   the matching ``explain`` finding and the log path; on success check the
   installed version and run ``verify``;
7. (pip and uv) pin the installed stack for later pip installs (``guard.py``).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from torchup.errors import EXIT_INSTALL, EnvironmentProblem, InstallFailed, NetworkError, UsageError
from torchup.http import Client
from torchup.inspection import claim as claim_inspection
from torchup.install import guard as _guard
from torchup.install import preflight as _preflight
from torchup.install.conda import APPENDED, CONDA_MANAGERS, UNTOUCHED, read_records
from torchup.install.conda import result_problem as conda_result_problem
from torchup.install.execute import choose_manager, digest, manager_argvs, run_manager, uv_would_save
from torchup.install.snapshot import (
    RestoreReport,
    Snapshot,
    added_since,
    discard_previous_snapshot,
    keep_installed_files,
    load_snapshot,
    mark,
    restore,
    save_edited_files,
    take_snapshot,
)
from torchup.install.target import TargetEnv, inspect_target, installed_versions
from torchup.output import printable, redact_url
from torchup.plan import Plan
from torchup.progress import Heartbeat, describe_rate
from torchup.record import record, replace
from torchup.system import System

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)
if TYPE_CHECKING:
    from typing import TextIO


__all__ = [
    "InstallInterrupted",
    "InstallOptions",
    "InstallReport",
    "RollbackOptions",
    "default_log_path",
    "install",
    "rollback",
]

DEFAULT_TIMEOUT_S = 3600.0  # a CUDA torch is ~3 GB of wheels; an hour covers a slow link


class InstallInterrupted(InstallFailed):
    exit_code = 130
    code = "interrupted"


@record
class InstallOptions:
    python: str  # the target interpreter (or the base interpreter for --venv)
    manager: str = "auto"
    venv: str | None = None  # create this venv from ``python`` and install there
    dry_run: bool = False
    yes: bool = False
    verify: bool = True
    log_path: str | None = None
    timeout: float = DEFAULT_TIMEOUT_S  # one deadline for everything: index checks, then the manager
    check_network: bool = True
    tty: bool = False  # give the manager a terminal (its own progress bars)
    progress: bool = False  # torchup's own progress lines (a terminal, no --json): torchup.progress
    uv: str | None = None  # uv's path, when not the one on PATH
    confirm: Callable[[str], bool] | None = None  # asks the user; None: no terminal
    # how a plan read from a file differs from torchup's own choice (another index...): shown,
    # and installed only when the user says yes at the prompt, or with trust_foreign
    foreign: tuple[str, ...] = ()
    trust_foreign: bool = False  # --trust-plan-index
    guard: bool = True  # pin the installed stack for later pip installs (install/guard.py)


@record
class InstallReport:
    python: str
    manager: str
    argv: tuple[str, ...]  # the first command (torch's)
    dry_run: bool
    log: str | None = None
    snapshot: str | None = None
    replaced: str | None = None
    verified: bool | None = None  # None: not run
    more: tuple[tuple[str, ...], ...] = ()  # the commands after the first: the rest of the plan's stack


def default_log_path(env) -> str:
    home = env.get("HOME") or os.path.expanduser("~")
    base = env.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return os.path.join(base, "torchup", "logs", f"install-{stamp}-{os.getpid()}.log")


class _Out:
    """torchup's step lines, always shown (and copied into the log once it is open)."""

    def __init__(self, stream: TextIO, *, progress: bool = False) -> None:
        self.stream = stream
        self.progress = progress  # a terminal, and no --json: heartbeats while a step is silent
        self.log = None
        self.start = time.monotonic()
        self._beat: Heartbeat | None = None  # the status line now kept alive, if any
        self._started: dict[str, float] = {}  # when each download began (for its rate)

    @contextmanager
    def heartbeat(self, label: str, echo: Callable[[bytes], None] | None = None) -> Iterator[Heartbeat]:
        """A status line while the step in the ``with`` runs (torchup.progress); step lines erase it."""
        with Heartbeat(self.stream, label, enabled=self.progress, echo=echo) as beat:
            self._beat = beat
            try:
                yield beat
            finally:
                self._beat = None

    def on_bytes(self, url: str, received: int, total: int | None) -> None:
        """A download's progress, shown in the status line (thread-safe: pages come in on workers)."""
        start = self._started.setdefault(url, time.monotonic())
        beat = self._beat
        if beat is not None:
            beat.note(f"{redact_url(url)} {describe_rate(received, total, time.monotonic() - start)}")

    def step(self, text: str) -> None:
        self.line(f"torchup: {text}")

    def line(self, text: str) -> None:
        text = redact_url(text)  # an index URL may carry a password: never shown, never logged
        if self._beat is not None:
            self._beat.erase()
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
    out = _Out(stream or sys.stdout, progress=options.progress)
    deadline = time.monotonic() + options.timeout
    runner = system.runner
    python = options.python
    if options.venv and (options.manager in CONDA_MANAGERS or options.manager == "pixi"):
        raise UsageError(
            f"--venv creates a virtual environment, which {options.manager} does not install into",
            hint=f"name a conda environment with --python, or drop --manager {options.manager}",
        )
    if not options.dry_run:  # before the preflight contacts the plan's index
        _refuse_untrusted(options)
    pages = None
    if options.check_network and plan.index_url and options.manager not in (*CONDA_MANAGERS, "pixi"):
        # the family's index pages depend on the plan alone: fetched while the target is inspected
        client = Client(system.env, timeout=_preflight.INDEX_TIMEOUT_S, deadline=deadline, on_bytes=out.on_bytes)
        pages = _in_background(deadline, _preflight.index_pages, plan, client)
    if options.venv:
        python = _venv_python(options.venv)
        if not os.path.exists(python):
            return _install_new_venv(plan, options, system, out, pages, deadline)
        out.step(f"using the existing virtual environment {options.venv}")
    # started by the CLI before the imports when it could be (torchup.inspection); fresh all the same
    target = inspect_target(runner, python, started=claim_inspection(system, python))
    if options.dry_run:
        with out.heartbeat("checking the plan against the index"):
            prepared = _prepare(plan, options, system, out, target, pages, deadline)
        return prepared.dry_run_report(out)
    # one torchup per environment from the preflight on: what the preflight saw and the user
    # agreed to stays true until the manager (which holds the lock too) has exited
    with _exclusive(target.prefix) as lock:
        target = inspect_target(runner, python)  # again: another torchup may have changed it meanwhile
        with out.heartbeat("checking the plan against the index"):
            prepared = _prepare(plan, options, system, out, target, pages, deadline)
        deadline += _confirm(prepared, options, out)
        return _carry_out(plan, prepared, options, system, out, lock, deadline)


@record
class _Prepared:
    """What the preflight found and what would run: shown, asked about, then carried out."""

    target: TargetEnv
    manager: str
    argvs: list[list[str]]  # run in order: torch's command, then one per further index of the stack
    conda: bool  # conda-forge packages, the whole prefix
    checks: _preflight.Preflight

    @property
    def command(self) -> str:
        # what is shown, one command a line; the manager gets the real argvs
        return "\n".join(redact_url(shlex.join(argv)) for argv in self.argvs)

    def dry_run_report(self, out: _Out) -> InstallReport:
        target = self.target
        kept = _pixi_files(target) if self.manager == "pixi" else ()
        out.step(
            "dry run: would snapshot "
            + (
                ", ".join((target.prefix, *kept))
                if self.conda
                else ", ".join(p for p in (*target.site_dirs, target.scripts) if p)
            )
        )
        out.step("dry run: would run")
        out.line(self.command)
        return InstallReport(
            python=target.executable,
            manager=self.manager,
            argv=tuple(self.argvs[0]),
            more=tuple(tuple(a) for a in self.argvs[1:]),
            dry_run=True,
            replaced=self.checks.replacing,
        )


def _prepare(
    plan: Plan, options: InstallOptions, system: System, out: _Out, target: TargetEnv, pages, deadline: float
) -> _Prepared:
    """Choose the manager, run the preflight and say what will happen; raise when it must not."""
    runner = system.runner
    out.step(f"target {target.executable} (Python {target.version}, {target.prefix})")
    manager, program = choose_manager(options.manager, target, runner, uv=options.uv, env=system.env)
    argvs = manager_argvs(plan, manager, python=target.executable, program=program, prefix=target.prefix)
    conda = manager in CONDA_MANAGERS or manager == "pixi"

    checks = _preflight.run_preflight(
        plan,
        target,
        manager=manager,
        env=system.env,
        check_network=options.check_network,
        runner=runner,
        argv=argvs[0],
        pages=pages() if pages is not None else None,
        deadline=deadline,
    )
    out.step(f"installing torch {plan.torch} ({plan.variant}) with {manager}")
    if plan.stack:
        out.step(
            "with its stack: "
            + ", ".join(f"{p.name} {p.version}" for p in plan.stack)
            + (
                f" ({len(argvs)} commands, one per index; a failure in any restores the snapshot)"
                if len(argvs) > 1
                else ""
            )
        )
    for reason in plan.reasons[:3]:
        out.line(f"  - {printable(reason)}")
    if options.foreign:
        out.step("this plan file is not what torchup would choose:")
        for line in options.foreign:
            out.line(f"  - {printable(line)}")
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
    return _Prepared(target=target, manager=manager, argvs=argvs, conda=conda, checks=checks)


def _refuse_untrusted(options: InstallOptions) -> None:
    """A plan file that is not torchup's own choice needs a person's yes, not ``--yes``."""
    if options.foreign and not options.trust_foreign and (options.yes or options.confirm is None):
        raise UsageError(
            "refusing a plan file that differs from torchup's own choice without an explicit yes",
            details=[printable(line) for line in options.foreign],
            hint="check where it came from; answer the question at a terminal (without --yes), "
            "or pass --trust-plan-index to install it as it is",
            code="untrusted-plan",
        )


def _confirm(prepared: _Prepared, options: InstallOptions, out: _Out) -> float:
    """Ask, unless ``--yes``; the seconds spent asking (the user's thinking time is not the install's)."""
    foreign = options.foreign and not options.trust_foreign
    if options.yes:
        return 0.0
    if options.confirm is None:
        raise UsageError(
            "refusing to change the environment without confirmation: there is no terminal to ask",
            hint="pass --yes to install without asking, or --dry-run to see what would run",
            code="needs-confirmation",
        )
    question = f"run `{prepared.command}`?"
    if foreign:
        question = f"the plan file differs from torchup's own choice (above); {question}"
    if prepared.checks.at_risk:
        question = f"{len(prepared.checks.at_risk)} installed package(s) would break; {question}"
    asked = time.monotonic()
    if not options.confirm(question):
        out.step("cancelled; nothing was changed")
        raise UsageError("cancelled by the user", code="cancelled")
    return time.monotonic() - asked


def _carry_out(
    plan: Plan, prepared: _Prepared, options: InstallOptions, system: System, out: _Out, lock: int, deadline: float
) -> InstallReport:
    """Snapshot, run the manager, check the result; restore the snapshot on any failure.
    The caller holds the environment's lock (``lock``, its file descriptor)."""
    runner = system.runner
    target, manager, argvs, conda, checks = (
        prepared.target,
        prepared.manager,
        prepared.argvs,
        prepared.conda,
        prepared.checks,
    )
    if time.monotonic() >= deadline:
        raise NetworkError(
            f"the --timeout of {options.timeout:g} s ran out before the package manager started "
            "(the index checks took it); nothing was changed",
            hint="raise --timeout",
            code="timeout",
        )
    log_path = options.log_path or default_log_path(system.env)
    with _open_log(log_path) as log:
        out.log = log
        out.step(f"full log: {log_path}")
        snap = _snapshot_and_run(
            out,
            runner,
            target,
            argvs,
            log=log,
            log_path=log_path,
            lock=lock,
            deadline=deadline,
            tty=options.tty,
            manager=manager,
            relax=not conda,
            snapshot_args={
                "plan": plan.to_json(),
                "touches": checks.touches,
                "replaces": checks.replaces,
                "whole_prefix": UNTOUCHED if conda else None,
                "copied": APPENDED if conda else (),
                "keep_files": _pixi_files(target)
                if manager == "pixi"
                else ()
                if conda
                else _guard.guard_files(target.prefix),
            },
            describe=lambda snap: _snapshot_line(snap, target, checks.replaces, checks.scope_unknown),
            result_problem=lambda: _result_problem(plan, target, checks.replaces, conda=conda),
        )
        out.step(f"installed torch {plan.torch}" + (f" ({checks.replacing})" if checks.replacing else ""))
        out.step(f"undo with: torchup install --rollback --python {shlex.quote(target.executable)}")
        verified = None
        if options.verify:
            verified = _verify(system, target.executable, out)
        if not conda:
            stack = (*_guard.STACK, *(p.name for p in plan.stack))
            for line in _guard.after_install(
                target, enabled=options.guard, verified=verified, manager=manager, names=stack
            ):
                out.step(line)
            keep_installed_files(snap)  # the guard as written, so a rollback tells it from a later edit
        out.log = None
    return InstallReport(
        python=target.executable,
        manager=manager,
        argv=tuple(argvs[0]),
        more=tuple(tuple(a) for a in argvs[1:]),
        dry_run=False,
        log=log_path,
        snapshot=snap.path,
        replaced=checks.replacing,
        verified=verified,
    )


def _snapshot_and_run(
    out: _Out,
    runner,
    target: TargetEnv,
    argvs: list[list[str]],
    *,
    log,
    log_path: str,
    lock: int,
    deadline: float,
    tty: bool,
    manager: str,
    relax: bool,
    snapshot_args: dict,
    result_problem: Callable[[], str | None],
    describe: Callable[[Snapshot], str] | None = None,
) -> Snapshot:
    """The transaction's core, for ``install`` and ``add``: snapshot, run the manager (which
    inherits the lock), check the result.  Any way out before the snapshot is marked "installed"
    (a failure, Ctrl-C, a bug) restores it first.  Returns the snapshot, marked "installed"."""
    out.step("snapshot of the environment before the install")
    try:
        snap = take_snapshot(target, log=log_path, discard_previous=False, **snapshot_args)
    except (OSError, KeyboardInterrupt) as exc:
        state = _undo_partial_snapshot(target.prefix)
        if isinstance(exc, KeyboardInterrupt):
            raise InstallInterrupted(f"interrupted while taking the snapshot; {state}") from None
        raise EnvironmentProblem(
            f"could not take the snapshot of the environment: {exc}; {state}",
            hint="the snapshot lives in <prefix>/.torchup/ and needs that directory to be writable",
            code="snapshot-failed",
        ) from None
    try:
        if describe is not None:
            out.step(describe(snap))
        # the previous snapshot (the torch before last, often) goes while the manager downloads
        cleanup = threading.Thread(target=discard_previous_snapshot, args=(target.prefix,), daemon=True)
        cleanup.start()
        if relax:
            _guard.relax(target.prefix)  # the snapshot keeps the pins: a failure puts them back
        for argv in argvs:  # torch's command, then the rest of the stack: the first failure stops them
            out.step(f"running: {redact_url(shlex.join(argv))}")
            with out.heartbeat(manager, echo=out.raw) as beat:
                result = run_manager(
                    runner,
                    argv,
                    log=log,
                    echo=beat.echo,
                    tty=tty,
                    timeout=max(deadline - time.monotonic(), 1.0),
                    lock=lock,
                    on_start=lambda pid: _write_holder(lock, torchup=os.getpid(), manager=pid),
                )
            if not result.ok:
                break
        cleanup.join()
        if result.ok and manager == "pip" and out.progress:
            uv = runner.which("uv")
            if uv:
                out.step(uv_would_save(result.duration_s, uv))
        failure: list[str] | None
        if not result.ok:
            failure, text = digest(result), result.stdout
        else:
            problem = result_problem()
            # the exit code said success; the environment says otherwise
            failure, text = ([f"{manager} exited 0 but {problem}"], result.stdout) if problem else (None, "")
    except KeyboardInterrupt:
        _failed(
            out,
            ["interrupted: the package manager was stopped"],
            snap,
            restore(snap),
            target,
            runner,
            log_path,
            error=InstallInterrupted,
        )
    except BaseException:
        restore(snap)
        mark(snap, "restored")
        raise
    if failure:
        _failed(out, failure, snap, restore(snap), target, runner, log_path, text=text)
    snap = mark(snap, "installed")
    keep_installed_files(snap)
    return snap


def _in_background(deadline: float, fn, *args):
    """Start ``fn(*args)`` in a thread; the returned function waits for its value, until
    ``deadline`` at most (None when it raised or is late: the caller then does the work itself)."""
    box: list = []

    def work() -> None:
        try:
            box.append(fn(*args))
        except Exception:  # noqa: BLE001 - no traceback from a thread; the caller does it again
            pass

    thread = threading.Thread(target=work, daemon=True)
    thread.start()

    def value():
        # never a join without a timeout: Ctrl-C and the deadline must reach the main thread
        thread.join(timeout=max(deadline - time.monotonic(), 0.0) + 1.0)
        return box[0] if box else None

    return value


def _open_log(path: str):
    """The install log, opened for appending: created 0600 (its directory 0700 when torchup
    creates it), as it names the indexes used.  An unwritable place is refused before any change."""
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        log = os.fdopen(fd, "ab")
        try:  # a first line, flushed: a full disk (/dev/full) fails here, not mid-install
            log.write(f"torchup install log, {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC\n".encode())
            log.flush()
        except OSError:
            try:
                log.close()
            except OSError:  # closing flushes the same line again
                pass
            raise
    except OSError as exc:
        raise EnvironmentProblem(
            f"cannot write the install log {path}: {exc.strerror or exc}",
            hint="name a writable file with --log FILE; nothing was changed",
            code="log-unwritable",
        ) from None
    return log


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
    """Hold ``<prefix>/.torchup/lock`` (yields its file descriptor): one torchup install or
    rollback per environment at a time, from its preflight until its package manager has
    exited.  A second one fails at once (``install-running``) rather than wait: it may be
    waiting for a question at the other's prompt.  A ``.torchup`` directory made only for
    the lock is removed again, so that a refused or cancelled install leaves nothing."""
    state = os.path.join(prefix, ".torchup")
    path = os.path.join(state, "lock")
    made = os.name == "posix" and not os.path.isdir(state)
    while True:
        try:
            os.makedirs(state, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise EnvironmentProblem(
                f"cannot create {path}: {exc.strerror}",
                hint="torchup keeps its lock and snapshot in <prefix>/.torchup/; it needs to be writable",
                code="not-writable",
            ) from None
        try:
            _lock(fd)
        except OSError:
            os.close(fd)
            raise _busy(prefix, path) from None
        if _same_file(fd, path):
            break
        os.close(fd)  # its holder removed the file between our open and our lock: lock the new one
    try:
        _write_holder(fd, torchup=os.getpid())
        yield fd
    finally:
        if made and os.listdir(state) == ["lock"]:
            try:  # still locked while removed: whoever opened it meanwhile sees it gone and retries
                os.unlink(path)
                os.rmdir(state)
            except OSError:
                pass
        os.close(fd)  # closing releases the lock (unless a running manager holds it too)


def _lock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _same_file(fd: int, path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _write_holder(fd: int, **pids: int) -> None:
    """Who holds the lock, for the message of the one refused (the lock itself is the kernel's)."""
    data = json.dumps(pids).encode()
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, data)
    except OSError:
        pass  # only the wording of a refusal depends on it


def _busy(prefix: str, path: str) -> EnvironmentProblem:
    try:
        with open(path, encoding="utf-8") as fh:
            holder = json.loads(fh.read() or "{}")
    except (OSError, ValueError):
        holder = {}
    holder = holder if isinstance(holder, dict) else {}
    manager, torchup = holder.get("manager"), holder.get("torchup")
    if isinstance(manager, int) and isinstance(torchup, int) and not _alive(torchup) and _alive(manager):
        return EnvironmentProblem(
            f"an earlier install's package manager (pid {manager}) is still running in {prefix}; "
            "the torchup that started it was stopped",
            hint=f"wait for it to finish (or stop it: `kill {manager}`), then run this again; "
            "`torchup install --rollback` then puts back the environment from before that install",
            code="install-running",
        )
    return EnvironmentProblem(
        f"another torchup install or rollback is running in {prefix}",
        hint="wait for it to finish, then run this again",
        code="install-running",
    )


@record
class RollbackOptions:
    python: str  # the target interpreter
    dry_run: bool = False
    yes: bool = False
    confirm: Callable[[str], bool] | None = None  # asks the user; None: no terminal


def rollback(options: RollbackOptions, system: System, stream: TextIO | None = None) -> RestoreReport:
    """Put the environment of ``options.python`` back to the snapshot of its last install.
    What was added after the install (distributions, files) is named, and removed only once
    the user agrees (``confirm``, or ``yes``)."""
    out = _Out(stream or sys.stdout)
    python = options.python
    target = inspect_target(system.runner, python)
    with _exclusive(target.prefix):  # the snapshot is read under the lock: an install may be replacing it
        snap = load_snapshot(target.prefix)
        if snap is None:
            raise EnvironmentProblem(
                f"no snapshot to roll back to in {target.prefix}",
                hint="torchup keeps the snapshot of the last `torchup install` into this environment",
                code="no-snapshot",
            )
        torch = next((d for d in snap.distributions if d.key == "torch"), None)
        back = f"torch {torch.version}" if torch else "no torch"
        preview = restore(snap, dry_run=True)
        added = added_since(snap, preview.removing) or []
        if options.dry_run:
            out.step(
                f"dry run: would roll back {target.prefix} to the snapshot of {snap.created} ({back}): "
                f"{preview.removed} entries removed, {preview.restored} put back"
            )
            for path in added:
                out.line(f"  - would remove {_added_name(path)}, added after the install")
            for line in preview.errors:
                out.line(f"  - {line}")
            return preview
        if added:
            out.step(f"the rollback would remove {len(added)} thing(s) added after the install:")
            for path in added:
                out.line(f"  - {_added_name(path)}")
            if not options.yes:
                if options.confirm is None:
                    raise UsageError(
                        "refusing to remove what was added after the install without confirmation: "
                        "there is no terminal to ask",
                        details=[_added_name(p) for p in added[:10]],
                        hint="pass --yes to roll back all the same, or --dry-run to see what it would do",
                        code="needs-confirmation",
                    )
                if not options.confirm("remove them and roll back?"):
                    out.step("cancelled; nothing was changed")
                    raise UsageError("cancelled by the user", code="cancelled")
        out.step(f"rolling back {target.prefix} to the snapshot of {snap.created}")
        try:
            saved = save_edited_files(snap)
        except OSError as exc:
            raise EnvironmentProblem(
                f"cannot keep a copy of a file changed since the install: {exc}",
                hint="nothing was rolled back; free some space or fix the permissions and retry",
                code="rollback-incomplete",
            ) from None
        for path, copy in saved:
            out.step(f"{path} changed after the install; that version is kept as {copy}")
        report = restore(snap)
        if report.errors:
            more = [f"and {len(report.errors) - 10} more"] if len(report.errors) > 10 else []
            raise EnvironmentProblem(
                "the rollback could not put everything back",
                details=[*report.errors[:10], *more],
                hint=f"the snapshot is kept in {snap.path}",
                code="rollback-incomplete",
            )
        mark(snap, "rolled back")
        after = inspect_target(system.runner, python)
    if after.freeze() != snap.freeze():
        raise EnvironmentProblem(
            "after the rollback the installed distributions still differ from the snapshot",
            details=_diff(snap.freeze(), after.freeze()),
            code="rollback-incomplete",
        )
    out.step(
        f"rolled back: {report.removed} entries removed, {report.restored} put back; "
        + (f"torch {torch.version} is back" if torch else "torch is not installed, as before")
    )
    return report


def _added_name(path: str) -> str:
    """A path added after the install, in words: a distribution by its name and version."""
    base = os.path.basename(path)
    if base.endswith(".dist-info"):
        name, _, version = base[: -len(".dist-info")].partition("-")
        return f"the distribution {name} {version} ({path})"
    return path


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (POSIX; a zombie, dead but not yet reaped, does not)."""
    if os.name != "posix" or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): kill(0) answered


# --- helpers --------------------------------------------------------------------
def _failed(
    out: _Out,
    lines: list[str],
    snap: Snapshot,
    report: RestoreReport,
    target: TargetEnv,
    runner,
    log_path: str,
    *,
    error: type[InstallFailed] = InstallFailed,
    text: str = "",
) -> None:
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
            state = (
                "the environment is as it was before"
                if not report.changed
                else f"the environment was restored ({report.removed} entries removed, {report.restored} put back)"
            )
            state += f"; torch {torch.version} is still installed" if torch else "; torch is not installed, as before"
        else:
            state = "the environment differs from the snapshot after restoring"
            details += _diff(snap.freeze(), after.freeze())
        hint = f"full log: {log_path}"
    finding = _explain(text or "\n".join(lines), target)
    if finding:
        details.append(f"likely cause: {finding}")
    out.step(f"full log: {log_path}")
    exc = error(f"the install failed; {state}", details=details, hint=hint)
    if error is not InstallInterrupted:
        exc.exit_code = EXIT_INSTALL
    raise exc


def _explain(text: str, target: TargetEnv) -> str | None:
    try:
        from torchup.doctor.explain import Facts, explain
    except ImportError:  # the explain catalog is optional here
        return None
    try:
        # what the inspection learned of the target rules out causes it contradicts (issue 11)
        torch = target.find("torch")
        findings = explain(text, facts=Facts.from_markers(target.markers, torch=torch.version if torch else ""))
    except Exception:  # noqa: BLE001 - a failed diagnosis must not hide the install failure
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
        return (
            "what it had set aside could not all be put back: "
            f"`torchup install --rollback` retries ({report.errors[0]})"
        )
    mark(partial, "restored")
    return "nothing was changed" if not report.changed else "what it had set aside was put back"


def _snapshot_line(snap: Snapshot, target: TargetEnv, replaces, scope_unknown: str | None = None) -> str:
    line = f"snapshot: {snap.files} files of {len(snap.distributions)} distributions linked in {snap.path}"
    if snap.scope is not None:
        line += f" ({len(snap.scope)} the install can change; the rest listed)"
    elif scope_unknown:
        line += f" (all of it: what the install can change is not known, {redact_url(scope_unknown)})"
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
    for pin in plan.stack:
        got = installed_versions(target.site_dirs, pin.name)
        if not _satisfies(got, pin.version):
            return f"{pin.name} is {', '.join(got) or 'not installed'}, not {pin.version}"
    missing = [
        d.name for d in target.distributions if d.key in replaces and not installed_versions(target.site_dirs, d.name)
    ]
    if missing:  # set aside for a new version the manager did not install after all
        return f"it did not install {', '.join(missing)} again"
    return None


def _same_versions(got: list[str], want: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return len(got) == 1 and Version(got[0]) == Version(want)
    except InvalidVersion:
        return got == [want]


def _satisfies(got: list[str], want: str) -> bool:
    """One installed version that ``==want`` accepts (a wheel URL's local label included:
    ``2.7.4.post1+cu12torch2.7cxx11abiTRUE`` for ``2.7.4.post1``)."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        return len(got) == 1 and SpecifierSet(f"=={want}").contains(got[0], prereleases=True)
    except InvalidSpecifier:
        return got == [want]


def _diff(before: list[str], after: list[str]) -> list[str]:
    b, a = set(before), set(after)
    return [f"missing: {x}" for x in sorted(b - a)] + [f"added: {x}" for x in sorted(a - b)]


def _verify(system: System, python: str, out: _Out) -> bool:
    from torchup.verify import run_verify

    out.step("verify: real computation in the new environment")
    with out.heartbeat("verify"):
        report = run_verify(system, python)
    if report.ok:
        out.step(
            f"verify ok: torch {report.torch.get('version', '?') if report.torch else '?'} ({report.build_label or '?'})"
        )
        return True
    out.step("verify FAILED:")
    for check in report.failures:
        out.line(f"  - {check.step}: {check.detail}")
    if report.crashed:
        out.line(f"  - {report.crashed}")
    out.step(
        f"run `torchup doctor --python {shlex.quote(python)}` for a diagnosis, "
        f"or `torchup install --rollback --python {shlex.quote(python)}` to undo"
    )
    return False


def _venv_python(venv: str) -> str:
    return os.path.join(
        os.path.abspath(venv), "Scripts" if os.name == "nt" else "bin", "python.exe" if os.name == "nt" else "python"
    )


def _install_new_venv(
    plan: Plan, options: InstallOptions, system: System, out: _Out, pages, deadline: float
) -> InstallReport:
    """``--venv DIR`` that does not exist yet: the preflight judges the environment it will be
    (its base interpreter, empty, at DIR) and the question comes first; DIR is created only
    after a yes, so a refusal or a "no" leaves nothing behind."""
    venv = options.venv
    assert venv is not None  # install() comes here for --venv only
    create = _venv_argv(options, system, venv)
    base = inspect_target(system.runner, options.python)
    future = _future_venv(base, venv, has_pip=create[1:3] == ["-m", "venv"], not_writable=_unwritable_parent(venv))
    out.step(f"{options.venv} does not exist: it will be created from {base.executable} (Python {base.version})")
    prepared = _prepare(plan, options, system, out, future, pages, deadline)
    if options.dry_run:
        out.step("dry run: would create the virtual environment")
        out.line(shlex.join(create))
        out.step("dry run: would run")
        out.line(prepared.command)
        return InstallReport(
            python=future.executable,
            manager=prepared.manager,
            argv=tuple(prepared.argvs[0]),
            more=tuple(tuple(a) for a in prepared.argvs[1:]),
            dry_run=True,
        )
    deadline += _confirm(prepared, options, out)
    out.step(f"creating the virtual environment {options.venv}")
    result = system.runner.run(create, timeout=300)
    if not result.ok:
        raise EnvironmentProblem(
            f"could not create the virtual environment {options.venv}",
            details=(result.error or (result.stderr or result.stdout).strip() or "no output").splitlines()[-5:],
            hint="on Debian/Ubuntu the venv module is in the python3-venv package",
            code="venv-failed",
        )
    # locked by the prefix the new interpreter reports, as every later torchup will lock it
    with _exclusive(inspect_target(system.runner, future.executable).prefix) as lock:
        target = inspect_target(system.runner, future.executable)  # again, under the lock
        # the command asked about stays as it was: it names the new venv's python already
        return _carry_out(plan, replace(prepared, target=target), options, system, out, lock, deadline)


def _future_venv(base: TargetEnv, venv: str, *, has_pip: bool, not_writable: Mapping[str, str]) -> TargetEnv:
    """Pure: the environment ``--venv`` will create from ``base``, for the preflight to judge
    before it exists: the base's interpreter and markers, no packages, never externally managed."""
    prefix = os.path.abspath(venv)
    return replace(
        base,
        executable=_venv_python(venv),
        prefix=prefix,
        in_venv=True,
        conda=False,
        site_dirs=(),
        scripts=os.path.dirname(_venv_python(venv)),
        not_writable=not_writable,
        externally_managed=None,
        has_pip=has_pip,
        distributions=(),
    )


def _unwritable_parent(path: str) -> dict[str, str]:
    """``{directory: why}`` when the nearest existing directory above ``path`` refuses a new file."""
    probe = os.path.dirname(os.path.abspath(path))
    while not os.path.isdir(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    import tempfile  # here: it brings shutil and random, ~9 ms of every install (issue 15)

    try:
        fd, name = tempfile.mkstemp(dir=probe, prefix=".torchup-probe-")
    except OSError as exc:
        return {probe: exc.strerror or str(exc)}
    os.close(fd)
    os.unlink(name)
    return {}


def _venv_argv(options: InstallOptions, system: System, venv: str) -> list[str]:
    """How ``--venv DIR`` is created: ``uv venv`` when uv will install, else ``python -m venv`` (with pip)."""
    uv = options.uv or system.runner.which("uv")
    if options.manager in ("uv", "auto") and uv:
        return [uv, "venv", "--python", options.python, venv]
    return [options.python, "-m", "venv", venv]
