"""A failed install names its likely cause with what torchup knows of the target (issue 11):
real pip against a local index whose only torch is for another Python."""

from __future__ import annotations

import pytest

from tests.support import install_env as ie
from tests.support.index_server import IndexServer
from tests.support.install_fixtures import env, template, venv  # noqa: F401 (fixtures)
from tests.support.wheels import make_wheel


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    directory = tmp_path_factory.mktemp("wheels")
    wheels = ie.build_wheels(directory)
    # the cu126 index's torch is for CPython 3.9 only: pip sees no version for the 3.11 target
    other = make_wheel(directory / "cp39", "torch", ie.NEW_CU126, tag="cp39-cp39-manylinux_2_28_x86_64",
                       requires_python=">=3.9")
    wheels["whl/cu126"] = [other if p.name.startswith("torch-") else p for p in wheels["whl/cu126"]]
    with IndexServer() as server:
        ie.serve(server, wheels)
        yield server


def test_no_matching_wheel_is_the_generic_cause_not_a_32_bit_guess(index, venv, env, tmp_path):
    plan = ie.plan_file(tmp_path / "plan.json", index)
    args = ["install", "--plan", str(plan), "--python", str(venv), "--manager", "pip", "--yes", "--no-verify"]
    # the preflight finds this miss itself, before pip downloads anything (exit 5)
    r = ie.torchup(args, env)
    assert r.returncode == 5 and "is there only for: cp39-cp39-manylinux_2_28_x86_64" in r.stderr, r.stderr
    # without it, pip's own failure is what gets explained
    r = ie.torchup([*args, "--skip-network-check"], env)
    out = r.stdout + r.stderr
    assert r.returncode == 6, out
    assert "No matching distribution found for torch==" in out  # pip's generic message, and nothing more
    (cause,) = [line for line in out.splitlines() if "likely cause:" in line]
    # before issue 11 this line read "This Python is 32-bit: torch has no 32-bit wheels [no-wheel-32bit-python]"
    assert "No torch wheel for this Python, platform or index [no-wheel-for-python]" in cause
