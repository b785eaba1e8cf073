"""The target inspection of ``torchup install`` (``install/_target_script.py`` run inside the
target interpreter), started as early as possible.

``install --plan FILE`` needs the target's facts first, and the interpreter takes ~50 ms to
start and answer: ``prestart_install_inspection`` starts it from the CLI before torchup's own
imports, the plan file and the catalog, and ``install`` takes its answer (``claim``) when it
inspects the target the first time.  These are not cached facts: the script runs during this
torchup run, before anything is decided on them, as the first inspection would; install
inspects again under the environment's lock.  This module stays outside ``torchup.install``,
whose package imports the whole install on the way.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from torchup.errors import TorchupError
from torchup.runner import Runner, Started
from torchup.system import System

__all__ = ["SCRIPT", "TIMEOUT_S", "Inspection", "claim", "prestart_install_inspection", "start_inspection"]

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "install", "_target_script.py")
TIMEOUT_S = 60.0
_STOP_GRACE_S = 2.0  # an unclaimed inspection at exit: time to finish (it removes its write test) before the kill


def start_inspection(runner: Runner, python: str, *, timeout: float = TIMEOUT_S) -> Started:
    """The inspection script, started now in ``python`` (``Started.wait()`` gives its output)."""
    return runner.start([python, "-I", SCRIPT], timeout=timeout)


class Inspection:
    """An inspection started before the command knew it would want it; claimed at most once."""

    def __init__(self, runner: Runner, python: str) -> None:
        self.python = python
        self._unclaimed: Started | None = start_inspection(runner, python)

    def claim(self, python: str) -> Started | None:
        """The started inspection, when it is of ``python`` and not claimed before."""
        if self._unclaimed is None or python != self.python:
            return None
        started, self._unclaimed = self._unclaimed, None
        return started

    def stop(self) -> None:
        """At exit: an inspection nobody claimed (a usage error, another target) is not left running."""
        if self._unclaimed is not None:
            self._unclaimed.stop(_STOP_GRACE_S)


def claim(system: System, python: str) -> Started | None:
    """The inspection of ``python`` that the CLI started early, if it did (once)."""
    early = system.target_probe
    return early.claim(python) if isinstance(early, Inspection) else None


def _abbreviates(word: str, option: str) -> bool:
    return len(word) > 2 and word != option and option.startswith(word)


def prestart_install_inspection(argv: Sequence[str], system: System) -> System:
    """For ``install --plan FILE``: start the target inspection now, before the imports.  Only
    when the command line surely inspects its target and names it plainly (``--python X`` /
    ``--python=X`` or none); not for ``--rollback``, ``--venv`` (another interpreter), or an
    install that plans itself (plan's own probe uses ``system.target_probe``)."""
    words = list(argv)
    if "install" not in words or not any(w == "--plan" or w.startswith("--plan=") for w in words):
        return system
    if any(w in ("-h", "--help", "--version", "--rollback", "--venv") or w.startswith("--venv=") for w in words):
        return system
    explicit = None
    for i, word in enumerate(words):
        if word == "--python" and i + 1 < len(words):
            explicit = words[i + 1]
        elif word.startswith("--python="):
            explicit = word.partition("=")[2]
        elif any(_abbreviates(word, o) for o in ("--python", "--plan", "--rollback", "--venv")):
            return system  # an abbreviation argparse would accept: leave it to the command
    from torchup.target import find_target_python

    try:
        python, _ = find_target_python(system, explicit)
    except TorchupError:
        return system  # the command says what is wrong
    import atexit

    inspection = Inspection(system.runner, python)
    atexit.register(inspection.stop)
    return system.with_target_probe(inspection)
