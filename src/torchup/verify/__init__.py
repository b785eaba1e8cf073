"""Prove that the torch of a target Python works: ``run_verify(system, python)``.

The check script runs in the target interpreter under a time limit, as
``python -c BOOT check.py``: the few lines of ``BOOT`` take the current
directory off ``sys.path`` before anything is imported (so a ``torch/`` folder
or a stray ``numpy.py`` where the user stands cannot shadow the real packages)
and load the script from where torchup is installed.  The user site and
``PYTHONPATH`` are kept by default: verify tests the torch the user's programs
import.  ``isolated=True`` runs ``python -I`` instead (neither user site nor
``PYTHON*`` variables).

``torchup verify`` starts the check before its own imports and argument
parsing (``prestart_verify``, called by the CLI), since importing torch is
most of its time; ``started_check`` then uses that run when it was started
for the same interpreter and options, and kills it otherwise.  A started
check still running when torchup exits (Ctrl-C) is killed.
"""

from __future__ import annotations

import os

from torchup.record import record

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)
if TYPE_CHECKING:  # importing torchup.verify.report must stay cheap and host-free
    from collections.abc import Sequence
    from typing import Any

    from torchup.runner import Started
    from torchup.system import System
    from torchup.verify.report import VerifyReport

__all__ = [
    "BENCH_TIMEOUT",
    "CHECK_SCRIPT",
    "DEFAULT_TIMEOUT",
    "LIGHT_TIMEOUT",
    "CheckRun",
    "StartedCheck",
    "prestart_verify",
    "run_verify",
    "start_check",
    "started_check",
]

CHECK_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "check.py")
DEFAULT_TIMEOUT = 180.0  # a cold import of a CUDA torch plus CUDA start-up can take a minute
LIGHT_TIMEOUT = 120.0
BENCH_TIMEOUT = 420.0
# run with -c, whose sys.path[0] is '' (the current directory; not there with -I on 3.11+ or
# PYTHONSAFEPATH): taken off before the script imports anything.  The script is then loaded as
# a module from where torchup is installed, so a target of torchup's own Python version uses its
# byte-compiled copy (__pycache__) instead of compiling it each time.  Python 3.6 syntax.
_BOOT = (
    "import sys\n"
    "if sys.path[:1] == ['']:\n"
    "    del sys.path[0]\n"
    "import importlib.util\n"
    "spec = importlib.util.spec_from_file_location('torchup_check', sys.argv.pop(1))\n"
    "check = importlib.util.module_from_spec(spec)\n"
    "spec.loader.exec_module(check)\n"
    "sys.exit(check.main(sys.argv[1:]))\n"
)


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
    check = start_check(system, python, bench=bench, light=light, timeout=timeout, isolated=isolated)
    return check.wait().report(python)


class StartedCheck:
    """The check script running in ``python`` (``start_check``); ``wait()`` gives its ``CheckRun``."""

    def __init__(self, started: Started, *, python: str, options: tuple, timeout: float) -> None:
        self.python = python
        self.options = options  # (bench, light, isolated)
        self.timeout = timeout
        self._started = started

    def wait(self) -> CheckRun:
        import atexit

        from torchup.verify.report import parse_events

        result = self._started.wait()
        atexit.unregister(self.kill)  # ended: nothing to kill at exit
        return CheckRun(
            events=parse_events(result.stdout),
            returncode=result.returncode,
            timed_out=result.timed_out,
            start_error=result.error,
            stderr=result.stderr,
            timeout=self.timeout,
        )

    def kill(self) -> None:
        """Stop it now (nothing when it has ended)."""
        self._started.kill()


def _timeout(timeout: float | None, bench: bool, light: bool) -> float:
    if timeout is not None:
        return timeout
    return BENCH_TIMEOUT if bench else LIGHT_TIMEOUT if light else DEFAULT_TIMEOUT


def start_check(
    system: System,
    python: str,
    *,
    bench: bool = False,
    light: bool = False,
    timeout: float | None = None,
    isolated: bool = False,
) -> StartedCheck:
    """Start the check script in ``python`` and return at once; killed if still running when
    torchup exits."""
    import atexit

    timeout = _timeout(timeout, bench, light)
    flags = [f for f, on in (("--light", light), ("--bench", bench)) if on]
    env = dict(system.env)
    env["PYTHONIOENCODING"] = "utf-8"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    argv = [python, *(["-I"] if isolated else []), "-c", _BOOT, CHECK_SCRIPT, *flags]
    check = StartedCheck(
        system.runner.start(argv, timeout=timeout, env=env),
        python=python,
        options=(bench, light, isolated),
        timeout=timeout,
    )
    atexit.register(check.kill)
    return check


def started_check(
    system: System, python: str, *, bench: bool = False, timeout: float | None = None, isolated: bool = False
) -> StartedCheck:
    """The check ``prestart_verify`` started (``system.target_probe``) when it runs ``python``
    with these options; else that one is killed and a new one started."""
    early = system.target_probe
    if isinstance(early, StartedCheck):
        if (early.python, early.options, early.timeout) == (
            python,
            (bench, False, isolated),
            _timeout(timeout, bench, False),
        ):
            return early
        early.kill()
    return start_check(system, python, bench=bench, timeout=timeout, isolated=isolated)


def prestart_verify(argv: Sequence[str], system: System) -> System:
    """For ``torchup verify``: start the check before torchup's imports and argument parsing,
    when the command line is plainly a valid verify of a named or default Python: only ``-v``
    before the command word, after it only verify's own options, spelled out, with values the
    parser takes.  Anything else is left to the parser, and nothing is started.  The start is
    used when the parsed command asks for the same (``started_check``), and killed if torchup
    ends without waiting for it."""
    from torchup.runner import timeout_seconds

    words = list(argv)
    at = words.index("verify") if "verify" in words else -1
    if at < 0 or any(w not in ("-v", "--verbose") for w in words[:at]):
        return system
    python, timeout, bench, isolated = None, None, False, False
    rest = iter(words[at + 1 :])
    for word in rest:
        name, eq, given = word.partition("=")
        if name in ("--python", "--timeout"):
            value = given if eq else next(rest, None)
            if value is None or (value.startswith("-") and not eq):  # the parser takes it for an option
                return system
            if name == "--python":
                python = value
            else:
                timeout = timeout_seconds(value)
                if timeout is None:
                    return system
        elif word == "--bench":
            bench = True
        elif word == "--isolated":
            isolated = True
        elif word not in ("--json", "-v", "--verbose"):
            return system  # --help, an abbreviation, a mistake: the parser decides
    from torchup.errors import TorchupError
    from torchup.target import find_target_python

    try:
        path, _ = find_target_python(system, python)
    except TorchupError:
        return system  # the command says what is wrong
    return system.with_target_probe(start_check(system, path, bench=bench, timeout=timeout, isolated=isolated))
