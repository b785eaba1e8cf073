"""Prove that the torch of a target Python works: ``run_verify(system, python)``.

The check script runs in the target interpreter, from a fresh temporary
directory holding nothing but the script (so a ``torch/`` folder or a stray
``numpy.py`` in the user's current directory cannot shadow the real packages),
under a time limit.  The user site and ``PYTHONPATH`` are kept by default:
verify tests the torch the user's programs import.  ``isolated=True`` runs
``python -I`` instead (neither user site nor ``PYTHON*`` variables).
"""

from __future__ import annotations

import os

from torchup.record import record

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)
if TYPE_CHECKING:  # importing torchup.verify.report must stay cheap and host-free
    from typing import Any

    from torchup.system import System
    from torchup.verify.report import VerifyReport

__all__ = ["BENCH_TIMEOUT", "CHECK_SCRIPT", "DEFAULT_TIMEOUT", "LIGHT_TIMEOUT", "CheckRun", "run_check", "run_verify"]

CHECK_SCRIPT = os.path.join(os.path.dirname(__file__), "check.py")
DEFAULT_TIMEOUT = 180.0  # a cold import of a CUDA torch plus CUDA start-up can take a minute
LIGHT_TIMEOUT = 120.0
BENCH_TIMEOUT = 420.0


@record
class CheckRun:
    """One run of the check script, raw: what ``doctor --save-state`` records."""

    events: list[dict]
    returncode: int | None
    timed_out: bool
    start_error: str | None
    stderr: str
    timeout: float

    def to_json(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "returncode": self.returncode,
            "timed_out": self.timed_out,
            "start_error": self.start_error,
            "stderr": self.stderr[-8000:],
            "timeout": self.timeout,
        }

    def report(self, python: str) -> VerifyReport:
        from torchup.verify.report import build_report

        return build_report(
            self.events,
            python_executable=python,
            returncode=self.returncode,
            timed_out=self.timed_out,
            start_error=self.start_error,
            stderr=self.stderr,
            timeout=self.timeout,
        )


def run_verify(
    system: System,
    python: str,
    *,
    bench: bool = False,
    light: bool = False,
    timeout: float | None = None,
    isolated: bool = False,
) -> VerifyReport:
    """Run the check script in ``python`` and return what it found (never raises for its failures)."""
    return run_check(system, python, bench=bench, light=light, timeout=timeout, isolated=isolated).report(python)


def run_check(
    system: System,
    python: str,
    *,
    bench: bool = False,
    light: bool = False,
    timeout: float | None = None,
    isolated: bool = False,
) -> CheckRun:
    """Run the check script in ``python``; the raw result."""
    import tempfile

    from torchup.verify.report import parse_events

    if timeout is None:
        timeout = BENCH_TIMEOUT if bench else LIGHT_TIMEOUT if light else DEFAULT_TIMEOUT
    flags = [f for f, on in (("--light", light), ("--bench", bench)) if on]
    env = dict(system.env)
    env["PYTHONIOENCODING"] = "utf-8"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    with tempfile.TemporaryDirectory(prefix="torchup-verify-") as tmp:
        script = os.path.join(tmp, "torchup_check.py")
        with open(CHECK_SCRIPT, encoding="utf-8") as source, open(script, "w", encoding="utf-8") as fh:
            fh.write(source.read())
        argv = [python, *(["-I"] if isolated else []), script, *flags]
        result = system.runner.run(argv, timeout=timeout, env=env, cwd=tmp)
    return CheckRun(
        events=parse_events(result.stdout),
        returncode=result.returncode,
        timed_out=result.timed_out,
        start_error=result.error,
        stderr=result.stderr,
        timeout=timeout,
    )
