"""The snapshot and `torchup install --rollback` tell the truth, driven through the real pip
and uv against a PyTorch-like index on 127.0.0.1: a copy of an environment, a file one wheel
overwrites in another's package, a symlinked package directory, and the flags of --rollback."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.support import install_env as ie
from tests.support.index_server import IndexServer
from tests.support.install_fixtures import env, template, venv  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    wheels = ie.build_wheels(tmp_path_factory.mktemp("wheels"))
    with IndexServer(missing_status=403) as server:
        ie.serve(server, wheels)
        yield server


def _site(python):
    return next((python.parent.parent / "lib").glob("python3*/site-packages"))


def _install(venv, plan, env, manager="pip", *extra):
    return ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", manager, "--yes",
                       "--no-verify", *extra], env)


def test_a_copy_of_the_environment_does_not_roll_back_the_original(index, venv, env, tmp_path):
    r = _install(venv, ie.plan_file(tmp_path / "plan.json", index), env)
    assert r.returncode == 0, r.stdout + r.stderr
    original = venv.parent.parent
    installed = ie.state(venv, env)
    subprocess.run(["cp", "-a", str(original), str(tmp_path / "copy")], check=True)
    copy = tmp_path / "copy" / "bin" / "python"
    r = ie.torchup(["install", "--rollback", "--python", str(copy), "--yes"], env)
    assert r.returncode == 4, r.stdout + r.stderr
    assert f"taken in {original}" in r.stderr and "is a copy of that one" in r.stderr
    assert ie.state(venv, env) == installed  # the original is untouched
    assert ie.state(copy, env)["torch"] == ie.NEW_CU126  # and so is the copy
