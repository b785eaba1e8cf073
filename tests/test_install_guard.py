"""The guard and `torchup add`, with the real pip and uv against a PyTorch-like index on
127.0.0.1: after `torchup install`, a package whose metadata pins another torch (as xformers
does) must not replace the installed stack unless the user says so."""

from __future__ import annotations

import configparser
import json
import subprocess
from pathlib import Path

import pytest

from tests.support import install_env as ie
from tests.support.index_server import IndexServer
from tests.support.install_fixtures import template, venv  # noqa: F401 (fixtures)
from tests.support.wheels import make_wheel
from torchup.install.guard import (conf_constraints, constraints_text, parse_constraints, with_constraint,
                                   without_constraint)
from torchup.install.add import Change, changes, parse_uv_dry_run, stack_changes, unguarded_env

# pins the old torch exactly, the way xformers pins the torch it was built against
XFOO = ("xfoo", "1.0", f"torch=={ie.OLD_TORCH}")
GUARD = Path(".torchup") / "constraints.txt"


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    d = tmp_path_factory.mktemp("wheels")
    wheels = ie.build_wheels(d)
    wheels["whl/cpu"].append(make_wheel(d / "extra", XFOO[0], XFOO[1], requires_dist=[XFOO[2]]))
    wheels["whl/cpu"].append(make_wheel(d / "extra", "yfine", "1.0", requires_dist=["torch>=2"]))
    with IndexServer(missing_status=403) as server:
        ie.serve(server, wheels)
        yield server


@pytest.fixture
def env(clean_env, tmp_path, index):
    """The tools' environment with pip's config files read (the site pip.conf is the guard):
    PIP_CONFIG_FILE names an empty file instead of os.devnull, which turns all of them off.
    The module's index stands for PyTorch's, so its plan files are torchup's own choice."""
    out = ie.with_index_base(ie.tool_env(clean_env, tmp_path), index)
    empty = tmp_path / "empty-pip.conf"
    empty.write_text("")
    out["PIP_CONFIG_FILE"] = str(empty)
    return out


def _install(index, venv, env, tmp_path, manager="pip", *extra):
    plan = ie.plan_file(tmp_path / "plan.json", index, torch=ie.NEW_CPU, variant="cpu")
    r = ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", manager, "--yes",
                    "--no-verify", *extra], env)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def _pip(venv, env, *args):
    return subprocess.run([str(venv), "-m", "pip", *args], capture_output=True, text=True, env=env, timeout=300)


def _prefix(venv: Path) -> Path:
    return venv.parent.parent


def test_after_install_pip_refuses_a_package_that_needs_another_torch(index, venv, env, tmp_path):
    r = _install(index, venv, env, tmp_path)
    prefix = _prefix(venv)
    assert "guard:" in r.stdout
    assert parse_constraints((prefix / GUARD).read_text()) == {"torch": ie.NEW_CPU}
    assert conf_constraints((prefix / "pip.conf").read_text()) == [str(prefix / GUARD)]
    before = ie.state(venv, env)
    plain = _pip(venv, env, "install", "--index-url", index.index_url("whl/cpu"), XFOO[0])
    assert plain.returncode != 0, plain.stdout + plain.stderr
    assert "ResolutionImpossible" in plain.stderr or "conflict" in (plain.stdout + plain.stderr).lower()
    assert ie.state(venv, env) == before
    # around the guard (PIP_CONFIG_FILE=os.devnull reads no config) pip replaces torch, and doctor says so
    off = dict(env, PIP_CONFIG_FILE="/dev/null")
    around = _pip(venv, off, "install", "--index-url", index.index_url("whl/cpu"), XFOO[0])
    assert around.returncode == 0 and ie.state(venv, env)["torch"] == ie.OLD_TORCH, around.stdout + around.stderr
    r = ie.torchup(["doctor", "--python", str(venv), "--no-plan", "--json"], env)
    found = {f["id"]: f for f in json.loads(r.stdout)["findings"]}
    assert found["torch-replaced-by-install"]["evidence"] == [
        f"torch {ie.OLD_TORCH} is installed; torchup installed and pinned torch {ie.NEW_CPU}"]
    assert f'-m pip install "torch=={ie.NEW_CPU}"' in found["torch-replaced-by-install"]["fix"][0]


def test_add_shows_the_torch_change_refuses_then_installs_with_allow_and_rollback_restores(index, venv, env,
                                                                                            tmp_path):
    _install(index, venv, env, tmp_path)
    prefix = _prefix(venv)
    guard_after_install = (prefix / GUARD).read_text()
    conf_after_install = (prefix / "pip.conf").read_text()
    before = ie.state(venv, env)
    args = ["add", XFOO[0], "--python", str(venv), "--manager", "pip", "--index-url", index.index_url("whl/cpu"),
            "--yes", "--no-verify"]
    r = ie.torchup(args, env)
    assert r.returncode == 4, r.stdout + r.stderr
    assert f"would replace torch {ie.NEW_CPU} with {ie.OLD_TORCH}" in r.stdout
    assert "--allow-torch-change" in r.stderr and "refused; nothing was changed" in r.stdout
    assert ie.state(venv, env) == before
    assert (prefix / GUARD).read_text() == guard_after_install
    r = ie.torchup([*args, "--json"], env)  # the same refusal as the one JSON envelope
    assert r.returncode == 4, r.stdout + r.stderr
    data = json.loads(r.stdout)
    assert data["format"] == "torchup/add" and data["error"]["code"] == "torch-change"
    assert f"would replace torch {ie.NEW_CPU} with {ie.OLD_TORCH}" in r.stderr

    r = ie.torchup([*args, "--allow-torch-change"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    after = ie.state(venv, env)
    assert after["torch"] == ie.OLD_TORCH and f"{XFOO[0]}==1.0" in after["freeze"]
    assert parse_constraints((prefix / GUARD).read_text()) == {"torch": ie.OLD_TORCH}  # the new stack is guarded
    assert (prefix / "pip.conf").read_text() == conf_after_install

    r = ie.torchup(["install", "--rollback", "--python", str(venv)], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert ie.state(venv, env) == before
    assert (prefix / GUARD).read_text() == guard_after_install
    assert (prefix / "pip.conf").read_text() == conf_after_install
    assert not list(prefix.glob("pip.conf.before-rollback*"))


def test_a_failed_add_puts_back_the_environment_and_the_pins_it_relaxed(index, venv, env, tmp_path):
    _install(index, venv, env, tmp_path)
    prefix = _prefix(venv)
    pins = (prefix / GUARD).read_text()
    before = ie.state(venv, env)
    wheel = f"/whl/cpu/torch/torch-{ie.OLD_TORCH.replace('+', '%2B')}-{ie.TAG}.whl"
    index.fault(wheel, corrupt=True)  # the download fails its hash...
    index.fault(wheel + ".metadata")  # ...not the metadata the dry run resolves with
    try:
        # uv: its dry run reads the metadata alone (pip 23.2's downloads the wheels)
        r = ie.torchup(["add", XFOO[0], "--python", str(venv), "--manager", "uv", "--index-url",
                        index.index_url("whl/cpu"), "--yes", "--no-verify", "--allow-torch-change"], env)
    finally:
        index.clear_faults()
    assert r.returncode == 6, r.stdout + r.stderr
    assert "the install failed; the environment was restored" in r.stderr
    assert ie.state(venv, env) == before
    assert (prefix / GUARD).read_text() == pins


def test_add_with_uv_refuses_and_a_harmless_package_installs_under_the_guard(index, venv, env, tmp_path):
    r = _install(index, venv, env, tmp_path, "uv")
    prefix = _prefix(venv)
    assert f"--constraint {prefix / GUARD}" in r.stdout  # uv reads no pip.conf: the step line says what to pass
    before = ie.state(venv, env)
    args = ["add", "--python", str(venv), "--manager", "uv", "--index-url", index.index_url("whl/cpu"), "--yes",
            "--no-verify"]
    r = ie.torchup([*args, XFOO[0]], env)
    assert r.returncode == 4, r.stdout + r.stderr
    assert f"would replace torch {ie.NEW_CPU} with {ie.OLD_TORCH}" in r.stdout
    assert ie.state(venv, env) == before
    r = ie.torchup([*args, "filelock"], env)  # already there: nothing to do
    assert r.returncode == 0 and "nothing to change" in r.stdout, r.stdout + r.stderr
    r = ie.torchup([*args, "yfine", "--dry-run"], env)  # any torch 2 will do
    assert r.returncode == 0, r.stdout + r.stderr
    assert "would install yfine 1.0" in r.stdout and "dry run: would run" in r.stdout
    assert ie.state(venv, env) == before
    r = ie.torchup([*args, "yfine", "--json"], env)  # installed, under the guard uv is given
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads(r.stdout)
    assert data["format"] == "torchup/add" and data["torch_changes"] == [] and data["snapshot"]
    assert data["changes"] == [{"name": "yfine", "before": None, "after": "1.0"}]
    assert data["argv"][-3:] == ["--constraint", str(prefix / GUARD), "yfine"]
    assert "added yfine 1.0" in r.stderr
    after = ie.state(venv, env)
    assert after["torch"] == ie.NEW_CPU and "yfine==1.0" in after["freeze"]


def test_the_users_pip_conf_is_kept_and_a_rollback_of_the_install_restores_it(index, venv, env, tmp_path):
    prefix = _prefix(venv)
    mine = "# my settings\n[global]\ntimeout = 60\n\n[install]\nno-compile = true\n"
    (prefix / "pip.conf").write_text(mine)
    _install(index, venv, env, tmp_path)
    text = (prefix / "pip.conf").read_text()
    assert "# my settings" in text and "torchup" in text
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    assert parser.get("global", "timeout") == "60" and parser.get("install", "no-compile") == "true"
    assert parser.get("global", "constraint") == str(prefix / GUARD)
    r = ie.torchup(["install", "--rollback", "--python", str(venv)], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (prefix / "pip.conf").read_text() == mine
    assert not (prefix / GUARD).exists()


def _install_plan(index, venv, env, tmp_path, torch, variant, *extra):
    plan = ie.plan_file(tmp_path / f"plan-{variant}.json", index, torch=torch, variant=variant)
    r = ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", "pip", "--yes", "--no-verify",
                    *extra], env)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def test_torchups_own_install_is_not_blocked_and_no_guard_removes_it(index, venv, env, tmp_path):
    prefix = _prefix(venv)
    _install(index, venv, env, tmp_path)
    assert parse_constraints((prefix / GUARD).read_text()) == {"torch": ie.NEW_CPU}
    _install_plan(index, venv, env, tmp_path, ie.NEW_CU126, "cu126")  # another torch, through the guard
    assert ie.state(venv, env)["torch"] == ie.NEW_CU126
    assert parse_constraints((prefix / GUARD).read_text()) == {"torch": ie.NEW_CU126}
    r = _install_plan(index, venv, env, tmp_path, ie.NEW_CPU, "cpu", "--no-guard")
    assert "guard: off" in r.stdout
    assert not (prefix / GUARD).exists() and not (prefix / "pip.conf").exists()


def test_guard_command_shows_lifts_and_sets_the_pins(index, venv, env, tmp_path):
    prefix = _prefix(venv)
    _install(index, venv, env, tmp_path)
    r = ie.torchup(["guard", "--python", str(venv), "--json"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads(r.stdout)
    assert data["on"] is True and data["pins"] == {"torch": ie.NEW_CPU} and data["changed"] == []
    r = ie.torchup(["guard", "--off", "--python", str(venv)], env)
    assert r.returncode == 0 and "guard: off" in r.stdout, r.stdout + r.stderr
    assert not (prefix / "pip.conf").exists() and not (prefix / GUARD).exists()
    dry = _pip(venv, env, "install", "--dry-run", "--index-url", index.index_url("whl/cpu"), XFOO[0])
    assert dry.returncode == 0 and f"torch-{ie.OLD_TORCH}" in dry.stdout, dry.stdout + dry.stderr  # pip is free
    r = ie.torchup(["guard", "--python", str(venv)], env)
    assert r.returncode == 0 and "off:" in r.stdout, r.stdout + r.stderr
    r = ie.torchup(["guard", "--on", "--python", str(venv)], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert parse_constraints((prefix / GUARD).read_text()) == {"torch": ie.NEW_CPU}
    plain = _pip(venv, env, "install", "--index-url", index.index_url("whl/cpu"), XFOO[0])
    assert plain.returncode != 0 and ie.state(venv, env)["torch"] == ie.NEW_CPU, plain.stdout + plain.stderr


# --- pure -----------------------------------------------------------------------
CONFS = [
    "",
    "[global]\ntimeout = 60\n",
    "# top\n[install]\nno-compile = true\n",
    "[global]\nconstraint = /etc/mine.txt\n# after\n[install]\nuser = false\n",
    "[global]\nconstraint =\n    /a.txt\n    /b.txt\nindex-url = http://127.0.0.1/simple\n",
    "[global]\ntimeout = 60",  # no final newline
    "[install]\nconstraint = /mine.txt\n",  # pip install takes [install]'s value instead of [global]'s
]


@pytest.mark.parametrize("text", CONFS)
def test_with_constraint_adds_the_path_keeps_every_key_and_without_undoes_it(text):
    path = "/env/.torchup/constraints.txt"
    new = with_constraint(text, path)
    before = configparser.RawConfigParser()
    before.read_string(text)
    after = configparser.RawConfigParser()
    after.read_string(new)
    assert conf_constraints(new) == conf_constraints(text) + [path]
    if before.has_option("install", "constraint"):
        assert after.get("install", "constraint").split() == before.get("install", "constraint").split() + [path]
    else:
        assert not after.has_option("install", "constraint")
    for section in before.sections():
        for key, value in before.items(section):
            if key != "constraint":
                assert after.get(section, key) == value
    assert with_constraint(new, path) == new  # once only
    back = without_constraint(new, path)
    assert conf_constraints(back) == conf_constraints(text)
    # the text as it was; a [global] header torchup added may stay, empty
    assert back.rstrip("\n").removesuffix("[global]").rstrip("\n") == text.rstrip("\n")


def test_without_constraint_keeps_a_users_key_of_the_same_line():
    assert without_constraint("[global]\nconstraint = /mine.txt /env/c.txt\n", "/env/c.txt") == \
        "[global]\nconstraint = /mine.txt\n"


def test_constraints_text_pins_exactly_with_local_labels():
    text = constraints_text({"torch": "2.14.1+cu126", "torchvision": "0.29.1+cu126"}, "/env/pip.conf")
    assert parse_constraints(text) == {"torch": "2.14.1+cu126", "torchvision": "0.29.1+cu126"}
    assert "torch==2.14.1+cu126\ntorchvision==0.29.1+cu126\n" in text


def test_changes_and_the_torch_stack():
    installed = {"torch": "2.14.1+cpu", "filelock": "3.20.0", "numpy": "2.0.0"}
    found = changes(installed, {"xfoo": "1.0", "torch": "2.9.1+cpu", "filelock": "3.20.0"})
    assert [str(c) for c in found] == ["replace torch 2.14.1+cpu with 2.9.1+cpu", "install xfoo 1.0"]
    assert stack_changes(found) == [Change(name="torch", before="2.14.1+cpu", after="2.9.1+cpu")]
    assert stack_changes(changes({}, {"torch": "2.9.1+cpu"})) == []  # a first torch is no change of a stack
    assert [str(c) for c in changes(installed, {}, {"numpy": "2.0.0"})] == ["remove numpy 2.0.0"]


def test_parse_uv_dry_run():
    text = ("Using Python 3.11.7 environment at: /tmp/v\nResolved 3 packages in 267ms\nWould download 2 packages\n"
            "Would uninstall 1 package\nWould install 2 packages\n - torch==2.14.1+cpu\n + torch==2.9.1+cpu\n"
            " + xfoo==1.0\n")
    assert parse_uv_dry_run(text) == ({"torch": "2.9.1+cpu", "xfoo": "1.0"}, {"torch": "2.14.1+cpu"})


def test_unguarded_env_lifts_only_the_guard():
    guard = "/env/.torchup/constraints.txt"
    assert unguarded_env({}, guard, [guard])["PIP_CONSTRAINT"] == "/dev/null"
    assert unguarded_env({}, guard, ["/mine.txt", guard])["PIP_CONSTRAINT"] == "/mine.txt"
    assert "PIP_CONSTRAINT" not in unguarded_env({}, guard, ["/mine.txt"])
    assert unguarded_env({"PIP_CONSTRAINT": "/x"}, guard, [guard])["PIP_CONSTRAINT"] == "/x"
    assert "UV_CONSTRAINT" not in unguarded_env({"UV_CONSTRAINT": guard}, guard, [])
