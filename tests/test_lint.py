"""ruff (lint and format) and mypy over src/, as configured in pyproject.toml: zero findings.
They run here so that the README's test command, and so CI, runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *argv], cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("argv", [("ruff", "check", "src"), ("ruff", "format", "--check", "src"), ("mypy",)],
                         ids=["ruff-check", "ruff-format", "mypy"])
def test_no_findings(argv):
    r = _run(*argv)
    assert r.returncode == 0, r.stdout + r.stderr
