"""The Poetry project locks with the real Poetry against loopback stand-ins of PyTorch's index and PyPI.

Poetry is not a test dependency (it brings ~40 packages into the test environment): a session
fixture installs it with pip into a virtual environment of its own, from the configured package
index, and the tests are skipped, with the reason, when that install fails (no index reachable)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

from torchup import render
from tests.test_render_tools import _plan, _serve

pytestmark = pytest.mark.slow  # installs Poetry (about 40 packages) once per session


@pytest.fixture(scope="session")
def poetry(tmp_path_factory) -> str:
    home = tmp_path_factory.mktemp("poetry")
    venv.create(home, with_pip=True)
    python = home / ("Scripts" if os.name == "nt" else "bin") / "python"
    r = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "poetry>=2"],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        pytest.skip(f"could not install Poetry with pip (the tests need it from the package index): {r.stderr[-500:]}")
    return str(python.parent / "poetry")


def _poetry_env(clean_env, tmp_path) -> dict[str, str]:
    env = dict(clean_env)
    env["POETRY_CACHE_DIR"] = str(tmp_path / "poetry-cache")
    env["POETRY_CONFIG_DIR"] = str(tmp_path / "poetry-config")
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    env["POETRY_VIRTUALENVS_CREATE"] = "false"
    return env


def _lock(poetry, project: Path, text: str, server, env) -> dict:
    # the stand-in for PyPI: Poetry's implicit PyPI source gives way to a configured primary source
    standin = f'\n[[tool.poetry.source]]\nname = "pypi-standin"\nurl = "{server.index_url("simple")}"\npriority = "primary"\n'
    project.mkdir()
    (project / "pyproject.toml").write_text(text + standin)
    r = subprocess.run([poetry, "lock", "--no-interaction"], cwd=project, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return tomllib.loads((project / "poetry.lock").read_text())


def _locked(lock: dict, name: str) -> dict[str, tuple[str, str]]:
    """``{version: (source url, markers)}`` of one package in a poetry.lock."""
    return {p["version"]: (p.get("source", {}).get("url", ""), p.get("markers", ""))
            for p in lock["package"] if p["name"] == name}


def test_poetry_locks_the_project_for_three_machines(poetry, index_server, tmp_path, clean_env):
    _serve(index_server, tmp_path, "whl/cu126", "2.14.1+cu126", "py3-none-manylinux_2_28_x86_64")
    _serve(index_server, tmp_path, "whl/cu130", "2.14.1+cu130", "py3-none-win_amd64")
    _serve(index_server, tmp_path, "simple", "2.14.1", "py3-none-macosx_11_0_arm64")
    # PyPI also has Linux and Windows wheels of the version: the markers and sources keep those machines off them
    for tag in ("py3-none-manylinux_2_28_x86_64", "py3-none-win_amd64"):
        _serve(index_server, tmp_path / tag, "simple", "2.14.1", tag)
    plans = [_plan(index_server, "cu126"), _plan(index_server, "pypi", os="macos", arch="aarch64"),
             _plan(index_server, "cu130", os="windows")]
    text = render.render_many(plans, "poetry-project")
    lock = _lock(poetry, tmp_path / "proj", text, index_server, _poetry_env(clean_env, tmp_path))
    torch = _locked(lock, "torch")
    assert set(torch) == {"2.14.1+cu126", "2.14.1", "2.14.1+cu130"}, torch
    assert torch["2.14.1+cu126"][0] == index_server.index_url("whl/cu126").rstrip("/")
    assert torch["2.14.1+cu130"][0] == index_server.index_url("whl/cu130").rstrip("/")
    assert torch["2.14.1"][0] == index_server.index_url("simple").rstrip("/")
    # each build is locked for its own platform only
    assert "sys_platform == \"linux\"" in torch["2.14.1+cu126"][1] and "darwin" not in torch["2.14.1+cu126"][1]
    assert "sys_platform == \"darwin\"" in torch["2.14.1"][1] and "linux" not in torch["2.14.1"][1]
    assert "sys_platform == \"win32\"" in torch["2.14.1+cu130"][1] and "darwin" not in torch["2.14.1+cu130"][1]
    vision = _locked(lock, "torchvision")
    assert set(vision) == {"0.29.1+cu126", "0.29.1", "0.29.1+cu130"}
    assert vision["0.29.1+cu126"][0] == torch["2.14.1+cu126"][0]


def test_poetry_locks_the_project_for_one_machine(poetry, index_server, tmp_path, clean_env):
    _serve(index_server, tmp_path, "whl/cu126", "2.14.1+cu126", "py3-none-manylinux_2_28_x86_64")
    _serve(index_server, tmp_path / "decoy", "simple", "2.14.1", "py3-none-manylinux_2_28_x86_64")
    text = render.render(_plan(index_server, "cu126"), "poetry-project")
    lock = _lock(poetry, tmp_path / "proj", text, index_server, _poetry_env(clean_env, tmp_path))
    assert _locked(lock, "torch") == {"2.14.1+cu126": (index_server.index_url("whl/cu126").rstrip("/"), "")}
