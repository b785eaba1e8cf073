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


@pytest.mark.parametrize("manager", ["pip", "uv"])
def test_a_file_the_install_overwrote_in_another_package_is_named_not_called_restored(manager, template, env,
                                                                                      tmp_path):
    """The new torch wheel also ships six/__init__.py (same size as six's own).  six is outside
    the snapshot's scope, so it is only listed; pip deletes the file and writes it anew, and the
    filesystem often (not always: it depends on what else runs) hands the freed inode number to
    the new file.  tests/test_install_unit.py makes the same inode certain."""
    from tests.support.wheels import make_wheel

    wheels = ie.build_wheels(tmp_path / "wheels")
    theirs = "__version__ = '9.9'\n"
    overwriting = make_wheel(tmp_path / "over", "torch", ie.NEW_CPU, tag=ie.TAG, requires_dist=["filelock"],
                             files={"six/__init__.py": theirs})
    wheels["whl/cpu"] = [w for w in wheels["whl/cpu"] if f"-{ie.NEW_CPU}-" not in w.name] + [overwriting]
    six = make_wheel(tmp_path / "six", "six", "1.0")
    venv = ie.copy_venv(template, tmp_path / "venv")
    r = subprocess.run([str(venv), "-m", "pip", "install", "-q", "--no-index", str(six)], capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    own = (_site(venv) / "six" / "__init__.py").read_text()
    assert len(own) == len(theirs) and own != theirs
    with IndexServer(missing_status=403) as server:
        ie.serve(server, wheels)
        r = _install(venv, ie.plan_file(tmp_path / "plan.json", server, torch=ie.NEW_CPU, variant="cpu"),
                     ie.with_index_base(env, server), manager)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (_site(venv) / "six" / "__init__.py").read_text() == theirs
    r = ie.torchup(["install", "--rollback", "--python", str(venv), "--yes"], env)
    assert r.returncode == 4, r.stdout + r.stderr
    assert "could not put everything back" in r.stderr
    assert f"{_site(venv) / 'six' / '__init__.py'} was replaced since the snapshot" in r.stderr
    assert "rolled back:" not in r.stdout
    assert ie.state(venv, env)["torch"] == ie.OLD_TORCH  # all the rest is back


def _tree(root):
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("manager", ["pip", "uv"])
def test_a_package_directory_linked_out_of_the_environment_is_refused_before_anything_changes(manager, index, venv,
                                                                                              env, tmp_path):
    """site-packages/torch is a link to a directory outside the environment: pip would write
    the new torch there and uv delete the old one there, where no snapshot of the prefix reaches."""
    site = _site(venv)
    outside = tmp_path / "elsewhere" / "torch"
    outside.parent.mkdir()
    os.rename(site / "torch", outside)
    os.symlink(outside, site / "torch")
    before, kept = ie.state(venv, env), _tree(outside)
    plan = ie.plan_file(tmp_path / "plan.json", index)
    r = _install(venv, plan, env, manager, "--dry-run")
    assert r.returncode == 4, r.stdout + r.stderr
    r = _install(venv, plan, env, manager)
    assert r.returncode == 4, r.stdout + r.stderr
    assert f"{site / 'torch'} is a symbolic link to {outside}, outside the environment" in r.stderr
    assert "preflight failed; nothing was changed" in r.stdout and "--venv" in r.stderr
    assert ie.state(venv, env) == before and _tree(outside) == kept
    assert not (venv.parent.parent / ".torchup" / "snapshot").exists()


def test_rollback_honours_its_flags_and_asks_before_removing_what_came_after_the_install(index, venv, env, tmp_path):
    from tests.support.wheels import make_wheel

    prefix = venv.parent.parent
    before = ie.state(venv, env)
    r = _install(venv, ie.plan_file(tmp_path / "plan.json", index), env)
    assert r.returncode == 0, r.stdout + r.stderr
    installed = ie.state(venv, env)
    # flags --rollback does not honour are refused, by name, before anything changes
    for flags, named in ((["--manager", "uv"], "--manager"), (["--no-verify", "--torch", "2.9"], "--torch, --no-verify")):
        r = ie.torchup(["install", "--rollback", "--venv", str(prefix), *flags], env)
        assert r.returncode == 2, r.stdout + r.stderr
        assert f"--rollback does not take {named}" in r.stderr
    # the user adds a distribution and a file after the install
    extra = make_wheel(tmp_path / "extra", "later-pkg", "1.0")
    r = subprocess.run([str(venv), "-m", "pip", "install", "-q", "--no-index", str(extra)], capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    (_site(venv) / "mine.py").write_text("the user's\n")
    added = ie.state(venv, env)
    # --dry-run says what it would do and changes nothing
    r = ie.torchup(["install", "--rollback", "--dry-run", "--venv", str(prefix)], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "dry run: would roll back" in r.stdout and f"torch {ie.OLD_TORCH}" in r.stdout
    assert "would remove the distribution later_pkg 1.0" in r.stdout and f"{_site(venv) / 'mine.py'}" in r.stdout
    assert ie.state(venv, env) == added
    # no terminal and no --yes: it names them and refuses, exit 2, nothing changed
    r = ie.torchup(["install", "--rollback", "--venv", str(prefix)], env)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "added after the install without confirmation" in r.stderr and "later_pkg 1.0" in r.stdout
    assert ie.state(venv, env) == added
    # with a terminal, the question is asked: "no" changes nothing
    import io

    from torchup.errors import UsageError
    from torchup.install import RollbackOptions, rollback
    from torchup.system import system_from_env

    asked = []
    with pytest.raises(UsageError) as err:
        rollback(RollbackOptions(python=str(venv), confirm=lambda q: asked.append(q) or False), system_from_env(env),
                 io.StringIO())
    assert err.value.code == "cancelled" and asked == ["remove them and roll back?"]
    assert ie.state(venv, env) == added
    # --venv names the environment (the default interpreter is another one); --yes agrees
    r = ie.torchup(["install", "--rollback", "--venv", str(prefix), "--yes"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"rolling back {prefix}" in r.stdout and f"torch {ie.OLD_TORCH} is back" in r.stdout
    assert ie.state(venv, env) == before != installed
