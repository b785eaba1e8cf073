"""Fixtures shared by the install tests that drive real pip and uv: a template venv holding
the old torch, a fresh copy of it per test, and the environment with uv on PATH.

Each test module defines its own module-scoped ``index`` (the wheels differ in size) and
imports these; ``template`` is built once per module from that module's index."""

from __future__ import annotations

import os

import pytest

from tests.support import install_env as ie

__all__ = ["template", "venv", "env"]


@pytest.fixture(scope="module")
def template(tmp_path_factory, index):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    return ie.make_template_venv(tmp_path_factory.mktemp("tpl") / "venv", index, env)


@pytest.fixture
def venv(template, tmp_path):
    return ie.copy_venv(template, tmp_path / "venv")


@pytest.fixture
def env(clean_env, tmp_path, index):
    """The module's index is PyTorch's index for torchup, so its plan files are torchup's own choice."""
    return ie.with_index_base(ie.tool_env(clean_env, tmp_path), index)
