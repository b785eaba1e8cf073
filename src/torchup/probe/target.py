"""Which Python torchup works on: the *target* interpreter.

``--python PATH`` wins; else the active virtualenv (``VIRTUAL_ENV``), else the
active conda / pixi environment (``CONDA_PREFIX``), else ``python3`` (then
``python``) on PATH.  The target may differ from the Python torchup runs in.
"""

from __future__ import annotations

import os

from torchup.errors import UsageError
from torchup.system import System

__all__ = ["find_target_python"]


def _env_python(prefix: str, windows: bool) -> str:
    if windows:
        return (
            os.path.join(prefix, "Scripts", "python.exe")
            if not os.path.exists(os.path.join(prefix, "python.exe"))
            else os.path.join(prefix, "python.exe")
        )
    return os.path.join(prefix, "bin", "python")


def find_target_python(system: System, explicit: str | None = None) -> tuple[str, str]:
    """Return ``(path, how it was chosen)``; raise ``UsageError`` when there is none."""
    windows = os.name == "nt"
    if explicit:
        path = explicit
        if os.sep not in path and "/" not in path:
            found = system.runner.which(path)
            if not found:
                raise UsageError(f"--python {explicit}: no such program on PATH")
            path = found
        if os.path.isdir(path):  # an environment directory was given
            path = _env_python(path, windows)
        if not os.path.exists(path):
            raise UsageError(f"--python {explicit}: {path} does not exist")
        return os.path.abspath(path), "--python"  # absolute: the check script runs in a directory of its own
    for var in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        prefix = system.env.get(var)
        if prefix:
            path = _env_python(prefix, windows)
            if os.path.exists(path):
                return path, f"${var}"
    for name in ("python3", "python"):
        found = system.runner.which(name)
        if found:
            return found, "PATH"
    raise UsageError(
        "no Python found: no active virtualenv or conda env, and no python3 on PATH",
        hint="name one with --python PATH",
    )
