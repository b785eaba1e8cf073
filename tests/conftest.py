"""Shared fixtures.  Every recorded output lives in tests/fixtures/ (see its SOURCES.md):
the probe captures in tests/fixtures/probe/ (their sources in that folder's SOURCES.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.index_server import IndexServer

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PROBE_FIXTURES = FIXTURES / "probe"


@pytest.fixture
def index_server():
    """A fresh package index on 127.0.0.1, stopped after the test."""
    with IndexServer() as server:
        yield server


@pytest.fixture
def clean_env(tmp_path):
    """An environment for torchup subprocesses that ignores the host's pip config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "TORCHUP_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["UV_NO_CONFIG"] = "1"
    env["UV_CACHE_DIR"] = str(tmp_path / "uv-cache")
    env["PIP_CACHE_DIR"] = str(tmp_path / "pip-cache")
    env["NO_COLOR"] = "1"
    return env
