"""The one place torchup starts a process.

Every call has a timeout.  On timeout the whole process group is killed with
SIGKILL and we wait at most a moment for it: a process stuck in the kernel (a
wedged GPU driver leaves ``nvidia-smi`` in D state) cannot be reaped, and
torchup must return anyway.  Results are returned, never raised: a missing
program, a non-zero exit and a timeout are all plain data in ``Result``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence

from torchup.record import record

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)
if TYPE_CHECKING:
    from typing import BinaryIO

if TYPE_CHECKING:
    import subprocess
    import threading

# subprocess, threading, signal and shutil are imported where a process is started: a command
# that starts none (plan --machine, plan with the target's facts cached) does not pay for them.

__all__ = ["MAX_TIMEOUT_S", "Result", "Runner", "Started", "probe_env", "timeout_seconds"]

_KILL_GRACE_S = 1.0  # how long we wait for a killed process before giving up on it
MAX_TIMEOUT_S = 7 * 24 * 3600  # a week; 1e308 or inf would overflow the clocks the runner waits on


def timeout_seconds(text: str) -> float | None:
    """Pure: ``text`` as a timeout the runner can wait on (seconds above 0, at most a week);
    None when it is not one (nan included: every comparison with nan is false).  The rule of
    every ``--timeout`` (``commands._args.seconds`` words the refusal)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 < value <= MAX_TIMEOUT_S else None


@record
class Result:
    argv: tuple[str, ...]
    returncode: int | None  # None: it never started, or was killed on timeout
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    error: str | None = None  # why it could not start ("not found", "permission denied")
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    @property
    def command(self) -> str:
        import shlex

        return shlex.join(self.argv)


def probe_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment for probe commands: the caller's, with a fixed C locale
    so that tools print English, dot-decimal output we can parse."""
    out = {k: v for k, v in env.items() if not k.startswith("LC_")}
    out["LC_ALL"] = "C"
    out["LANG"] = "C"
    return out


class Runner:
    """Runs commands with ``env`` as their environment and reports each one to ``on_run``."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        on_run: Callable[[Result], None] | None = None,
    ) -> None:
        self.env = dict(os.environ if env is None else env)
        self.on_run = on_run

    def which(self, name: str) -> str | None:
        path = self.env.get("PATH", os.defpath)
        if os.name != "posix":
            import shutil  # PATHEXT and the rest of Windows' rules

            return shutil.which(name, path=path)
        return _which_posix(name, path)

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> Result:
        """Run ``argv`` to completion or until ``timeout`` seconds have passed."""
        return self.start(argv, timeout=timeout, input=input, env=env, cwd=cwd).wait()

    def start(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> Started:
        """Start ``argv`` now and return at once; ``Started.wait()`` gives its ``Result``.

        Lets torchup start a slow child (the target-Python probe) first and do its own
        work (imports, the catalog) while the child runs.  ``timeout`` counts from here."""
        import subprocess

        argv = tuple(str(a) for a in argv)
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=dict(self.env if env is None else env),
                cwd=cwd,
                start_new_session=os.name == "posix",
            )
        except FileNotFoundError:
            return Started(self, self._done(Result(argv=argv, returncode=None, error="not found")))
        except PermissionError:
            return Started(self, self._done(Result(argv=argv, returncode=None, error="permission denied")))
        except OSError as exc:
            return Started(self, self._done(Result(argv=argv, returncode=None, error=exc.strerror or str(exc))))
        return Started(self, None, proc=proc, argv=argv, start=start, timeout=timeout, input=input)

    def stream(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        on_output: Callable[[bytes], None] | None = None,
        log: BinaryIO | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        tty: bool = False,
        pass_fds: Sequence[int] = (),
        on_start: Callable[[int], None] | None = None,
    ) -> Result:
        """Run ``argv`` with stdout and stderr merged, passing the output on as it comes.

        Every chunk goes to ``log`` (a binary file) and to ``on_output``; the
        whole output is also returned in ``Result.stdout``.  With ``tty`` the
        child writes to a pseudo-terminal, so a package manager shows its own
        progress bars.  A ``KeyboardInterrupt`` kills the child's process group
        and is re-raised once the child is gone.  ``pass_fds`` stay open in the
        child (POSIX); ``on_start`` is told the child's pid once it runs.
        """
        import subprocess
        import threading

        argv = tuple(str(a) for a in argv)
        chunks: list[bytes] = []

        def sink(chunk: bytes) -> None:
            chunks.append(chunk)
            if log is not None:
                log.write(chunk)
                log.flush()
            if on_output is not None:
                on_output(chunk)

        master = slave = None
        if tty and os.name == "posix":
            import pty

            master, slave = pty.openpty()
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=slave if slave is not None else subprocess.PIPE,
                stderr=slave if slave is not None else subprocess.STDOUT,
                env=dict(self.env if env is None else env),
                cwd=cwd,
                start_new_session=os.name == "posix",
                pass_fds=tuple(pass_fds),
            )
        except OSError as exc:
            for fd in (master, slave):
                if fd is not None:
                    os.close(fd)
            error = {FileNotFoundError: "not found", PermissionError: "permission denied"}.get(
                type(exc), exc.strerror or str(exc)
            )
            return self._done(Result(argv=argv, returncode=None, error=error))
        if on_start is not None:
            on_start(proc.pid)
        if slave is not None:
            os.close(slave)  # the child holds its own copy; EOF comes when it exits
            reader = threading.Thread(target=_stream_pty, args=(master, sink), daemon=True)
        else:
            reader = threading.Thread(target=_stream_pipe, args=(proc, sink), daemon=True)
        reader.start()
        timed_out = False
        try:
            if _exited_within(proc, timeout):
                returncode: int | None = proc.returncode
            else:
                timed_out = True
                _kill_group(proc)
                try:
                    proc.wait(timeout=_KILL_GRACE_S)
                except subprocess.TimeoutExpired:
                    pass
                returncode = None
        except KeyboardInterrupt:
            _kill_group(proc)
            try:
                proc.wait(timeout=_KILL_GRACE_S)
            except subprocess.TimeoutExpired:
                pass
            reader.join(timeout=_KILL_GRACE_S)
            if master is not None:
                os.close(master)
            raise
        reader.join(timeout=_KILL_GRACE_S if timed_out else 5.0)
        if master is not None:
            os.close(master)
        return self._done(
            Result(
                argv=argv,
                returncode=returncode,
                stdout=_decode(chunks),
                timed_out=timed_out,
                duration_s=time.monotonic() - start,
            )
        )

    def _done(self, result: Result) -> Result:
        if self.on_run is not None:
            self.on_run(result)
        return result


class Started:
    """A child started by ``Runner.start``: its output is collected as it comes, and
    ``wait()`` blocks until it exits or its time is up (no polling: the wait wakes the
    moment the child is reaped), then returns the ``Result`` (once; later calls return it again)."""

    def __init__(
        self,
        runner: Runner,
        result: Result | None,
        *,
        proc: subprocess.Popen | None = None,
        argv: tuple[str, ...] = (),
        start: float = 0.0,
        timeout: float = 0.0,
        input: str | None = None,
    ) -> None:
        self._runner = runner
        self._result = result
        self._proc = proc
        self._argv = argv
        self._start = start
        self._deadline = start + timeout
        self._out: list[bytes] = []
        self._err: list[bytes] = []
        self._readers: list[threading.Thread] = []
        if proc is None:
            return
        import threading

        self._readers = [
            threading.Thread(target=_drain, args=(proc.stdout, self._out), daemon=True),
            threading.Thread(target=_drain, args=(proc.stderr, self._err), daemon=True),
        ]
        for t in self._readers:
            t.start()
        if input is not None and proc.stdin is not None:
            threading.Thread(target=_feed, args=(proc.stdin, input), daemon=True).start()

    def kill(self) -> None:
        """Stop the child now, with its whole process group, and reap it (bounded); a later
        ``wait()`` returns the killed child's ``Result`` at once.  Nothing once it has ended."""
        if self._result is None and self._proc is not None:
            _kill_group(self._proc)
            self._deadline = min(self._deadline, time.monotonic() + _KILL_GRACE_S)  # unkillable: do not hang
            self.wait()

    def stop(self, grace: float) -> None:
        """Give up on the child: it has ``grace`` seconds more to finish by itself (a script
        interrupted half-way may leave a file behind), then it is killed.  For a child started
        early whose answer is no longer wanted (torchup is exiting)."""
        if self._result is None and self._proc is not None and not _exited_within(self._proc, grace):
            self.kill()
        self.wait()

    def wait(self) -> Result:
        if self._result is not None:
            return self._result
        import subprocess

        proc = self._proc
        assert proc is not None
        timed_out = not _exited_within(proc, max(0.0, self._deadline - time.monotonic()))
        if timed_out:
            _kill_group(proc)
            try:
                proc.wait(timeout=_KILL_GRACE_S)
            except subprocess.TimeoutExpired:
                pass  # unkillable (D state): leave it, we must not hang
        for t in self._readers:  # bounded: a grandchild may hold the pipes open after the child exits
            t.join(timeout=_KILL_GRACE_S if timed_out else max(0.0, self._deadline - time.monotonic()) + _KILL_GRACE_S)
        self._result = self._runner._done(
            Result(
                argv=self._argv,
                returncode=None if timed_out else proc.returncode,
                stdout=_decode(self._out),
                stderr=_decode(self._err),
                timed_out=timed_out,
                duration_s=time.monotonic() - self._start,
            )
        )
        return self._result


def _which_posix(name: str, path: str) -> str | None:
    """``shutil.which`` on POSIX, without importing shutil (it brings bz2, lzma and fnmatch)."""
    if os.sep in name:
        return name if _executable(name) else None
    seen = set()
    for directory in path.split(os.pathsep):
        if directory in seen:
            continue
        seen.add(directory)
        candidate = os.path.join(directory, name)
        if _executable(candidate):
            return candidate
    return None


def _executable(path: str) -> bool:
    return os.path.exists(path) and os.access(path, os.X_OK) and not os.path.isdir(path)


CAPTURE_LIMIT = 16 << 20  # bytes of one stream of a child kept: its first and last 8 MB


def _drain(stream, sink: list[bytes], limit: int = CAPTURE_LIMIT) -> None:
    """Read ``stream`` to its end into ``sink``; of a child that prints without end (a hostile
    or broken target, a flooding tool) only the first and the last ``limit // 2`` bytes are
    kept, with a line saying how much was left out between them: the answers torchup reads
    are at the start (a tool's table) or at the end (the target script's last line)."""
    from collections import deque

    tail: deque[bytes] = deque()
    half, kept, tail_bytes, dropped = limit // 2, 0, 0, 0
    try:
        for chunk in iter(lambda: stream.read1(65536), b""):
            if kept < half:
                sink.append(chunk)
                kept += len(chunk)
                continue
            tail.append(chunk)
            tail_bytes += len(chunk)
            while tail_bytes - len(tail[0]) >= half:
                tail_bytes -= len(tail[0])
                dropped += len(tail.popleft())
    except (OSError, ValueError):
        pass
    if dropped:
        sink.append(f"\n[torchup: {dropped} bytes of this output left out]\n".encode())
    sink.extend(tail)


def _feed(stream, text: str) -> None:
    try:
        stream.write(text.encode())
        stream.close()
    except (OSError, ValueError):
        pass


def _exited_within(proc: subprocess.Popen, timeout: float) -> bool:
    """Whether ``proc`` exits within ``timeout`` seconds, noticed the moment it does.

    ``Popen.wait(timeout=...)`` polls, sleeping up to 50 ms between looks; a long-running
    install would end up to 50 ms late.  A thread blocked in ``wait()`` and joined with a
    timeout wakes when the child is reaped, and Ctrl-C still reaches this thread."""
    import threading

    waiter = threading.Thread(target=proc.wait, daemon=True)
    waiter.start()
    waiter.join(timeout)
    return not waiter.is_alive()


def _kill_group(proc: subprocess.Popen) -> None:
    import signal

    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError, OSError):
        try:
            proc.kill()
        except OSError:
            pass


def _decode(chunks: list[bytes]) -> str:
    return b"".join(chunks).decode("utf-8", errors="replace")


def _stream_pipe(proc: subprocess.Popen, on_chunk: Callable[[bytes], None]) -> None:
    stream = proc.stdout
    if stream is None:  # started without stdout=PIPE: nothing to copy
        return
    read = getattr(stream, "read1", stream.read)  # read1: whatever has arrived, without waiting for 64 KiB
    try:
        for chunk in iter(lambda: read(65536), b""):
            on_chunk(chunk)
    except (OSError, ValueError):
        pass


def _stream_pty(master: int, on_chunk: Callable[[bytes], None]) -> None:
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child side closed
            return
        if not chunk:
            return
        on_chunk(chunk)
