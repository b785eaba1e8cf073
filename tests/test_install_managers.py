"""`torchup install` driving the real pip and the real uv against a PyTorch-like
index on 127.0.0.1, with synthetic wheels named and pinned like the real ones."""

from __future__ import annotations

import json
import os

import pytest

from tests.support import install_env as ie
from tests.support.index_server import IndexServer
from tests.support.install_fixtures import env, template, venv  # noqa: F401 (fixtures)
from tests.support.wheels import make_wheel


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    wheels = ie.build_wheels(tmp_path_factory.mktemp("wheels"))
    with IndexServer(missing_status=403) as server:  # PyTorch's index answers 403 for missing pages
        ie.serve(server, wheels)
        yield server


@pytest.mark.parametrize("manager", ["pip", "uv"])
def test_installs_the_cuda_build_with_its_nvidia_dependencies(manager, index, venv, env, tmp_path):
    plan = ie.plan_file(tmp_path / "plan.json", index)
    log = tmp_path / "install.log"
    r = ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", manager, "--yes",
                    "--no-verify", "--log", str(log)], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"replacing torch {ie.OLD_TORCH} with {ie.NEW_CU126}" in r.stdout
    assert f"full log: {log}" in r.stdout
    after = ie.state(venv, env)
    assert after["torch"] == ie.NEW_CU126
    for name, version in ie.NVIDIA.items():
        assert f"{name}=={version}" in after["freeze"]
    text = log.read_text()
    assert "running:" in text and ie.NEW_CU126 in text  # the manager's own output is in the log
    # PyTorch's index replaces the default index (pip: --index-url; uv: --default-index, its
    # name for the same thing); it is never an extra index
    flag = "--index-url" if manager == "pip" else "--default-index"
    assert f"{flag} {index.index_url('whl/cu126')}" in r.stdout
    assert "--extra-index-url" not in r.stdout


@pytest.mark.parametrize("manager", ["pip", "uv"])
def test_the_hash_of_every_download_is_checked(manager, index, venv, env, tmp_path):
    """The index publishes sha256 with each link; a file that does not match it is refused."""
    before = ie.state(venv, env)
    plan = ie.plan_file(tmp_path / "plan.json", index)
    index.fault("/whl/cu126/torch/torch-", corrupt=True)
    try:
        r = ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", manager, "--yes",
                        "--no-verify", "--skip-network-check"], env)
    finally:
        index.clear_faults()
    assert r.returncode == 6, r.stdout + r.stderr
    assert "hash" in (r.stdout + r.stderr).lower()
    assert ie.state(venv, env) == before


def test_dry_run_prints_the_exact_command_and_changes_nothing(index, venv, env, tmp_path):
    before = ie.state(venv, env)
    plan = ie.plan_file(tmp_path / "plan.json", index)
    r = ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", "pip", "--dry-run"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    expected = f"{venv} -m pip install --index-url {index.index_url('whl/cu126')} torch=={ie.NEW_CU126}"
    assert expected in r.stdout.splitlines()
    assert ie.state(venv, env) == before
    assert not (venv.parent.parent / ".torchup").exists()


def test_json_puts_the_steps_on_stderr_and_one_envelope_on_stdout(index, venv, env, tmp_path):
    import json

    plan = ie.plan_file(tmp_path / "plan.json", index)
    r = ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", "uv", "--yes", "--no-verify",
                    "--json"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads(r.stdout)  # stdout is the envelope alone
    assert (data["format"], data["version"]) == ("torchup/install", 1)
    assert data["manager"] == "uv" and data["dry_run"] is False and data["snapshot"]
    assert f"torch=={ie.NEW_CU126}" in data["argv"] and data["plan"]["torch"] == ie.NEW_CU126
    assert f"replacing torch {ie.OLD_TORCH} with {ie.NEW_CU126}" in r.stderr
    assert ie.state(venv, env)["torch"] == ie.NEW_CU126
    # an error is the same envelope, the environment untouched
    before = ie.state(venv, env)
    r = ie.torchup(["install", "--plan", str(tmp_path / "missing.json"), "--python", str(venv), "--json"], env)
    assert r.returncode == 2, r.stdout + r.stderr
    data = json.loads(r.stdout)
    assert data["format"] == "torchup/install" and data["error"]["code"] == "bad-input"
    assert ie.state(venv, env) == before


def test_json_asks_its_question_on_stderr(index, venv, env, tmp_path):
    import json
    import pty
    import subprocess
    import sys

    before = ie.state(venv, env)
    plan = ie.plan_file(tmp_path / "plan.json", index)
    leader, follower = pty.openpty()  # a terminal on stdin: torchup asks
    try:
        os.write(leader, b"n\n")
        r = subprocess.run([sys.executable, "-m", "torchup", "install", "--plan", str(plan), "--python", str(venv),
                            "--manager", "pip", "--skip-network-check", "--json"],
                           stdin=follower, capture_output=True, text=True, env=env, timeout=300)
    finally:
        os.close(follower)
        os.close(leader)
    assert r.returncode == 2, r.stdout + r.stderr
    assert json.loads(r.stdout)["error"]["code"] == "cancelled"
    assert "[y/N]" in r.stderr and "cancelled; nothing was changed" in r.stderr
    assert ie.state(venv, env) == before


def test_without_a_terminal_and_without_yes_it_refuses(index, venv, env, tmp_path):
    before = ie.state(venv, env)
    plan = ie.plan_file(tmp_path / "plan.json", index)
    r = ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", "pip"], env)
    assert r.returncode == 2
    assert "--yes" in r.stderr and "without confirmation" in r.stderr
    assert ie.state(venv, env) == before


@pytest.mark.parametrize("manager", ["pip", "uv"])
def test_rollback_restores_the_previous_torch(manager, index, venv, env, tmp_path):
    before = ie.state(venv, env)
    plan = ie.plan_file(tmp_path / "plan.json", index)
    r = ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", manager, "--yes", "--no-verify"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert ie.state(venv, env)["torch"] == ie.NEW_CU126
    r = ie.torchup(["install", "--rollback", "--python", str(venv)], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"torch {ie.OLD_TORCH} is back" in r.stdout
    assert ie.state(venv, env) == before


@pytest.mark.parametrize("manager", ["pip", "uv"])
def test_a_second_install_sets_the_first_aside_and_drops_the_older_snapshot(manager, index, venv, env, tmp_path):
    prefix = venv.parent.parent
    first = None
    for torch, variant in ((ie.NEW_CPU, "cpu"), (ie.NEW_CU126, "cu126")):
        plan = ie.plan_file(tmp_path / f"plan-{variant}.json", index, torch=torch, variant=variant)
        r = ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", manager, "--yes",
                        "--no-verify"], env)
        assert r.returncode == 0, r.stdout + r.stderr
        replaced = ie.OLD_TORCH if variant == "cpu" else ie.NEW_CPU
        # the old build was moved into the snapshot (the manager had nothing to uninstall)
        assert f"set aside (moved into it): torch {replaced}" in r.stdout
        after = ie.state(venv, env)
        assert after["torch"] == torch
        first = first if variant == "cu126" else after
    # the first snapshot is gone (constraints.txt: the guard's pins, install/guard.py)
    assert sorted(os.listdir(prefix / ".torchup")) == ["constraints.txt", "lock", "snapshot"]
    r = ie.torchup(["install", "--rollback", "--python", str(venv)], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert ie.state(venv, env) == first


def test_one_install_at_a_time_per_environment(index, venv, env, tmp_path):
    import fcntl

    before = ie.state(venv, env)
    lock = venv.parent.parent / ".torchup" / "lock"
    lock.parent.mkdir()
    with open(lock, "w") as held:  # another torchup at work in this environment
        fcntl.flock(held, fcntl.LOCK_EX)
        r = ie.torchup(["install", "--plan", str(ie.plan_file(tmp_path / "plan.json", index)), "--python", str(venv),
                        "--manager", "uv", "--yes", "--no-verify"], env)
    assert r.returncode == 4, r.stdout + r.stderr
    assert "another torchup install or rollback is running" in r.stderr
    assert ie.state(venv, env) == before


def test_packages_that_pin_torch_are_named(index, venv, env, tmp_path):
    # a package in the env that needs torch<2.10 (as real libraries pin it)
    site = next((venv.parent.parent / "lib").glob("python3*/site-packages"))
    info = site / "pinned_lib-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pinned-lib\nVersion: 1.0\nRequires-Dist: torch<2.10,>=2.9\n")
    (info / "RECORD").write_text("")
    plan = ie.plan_file(tmp_path / "plan.json", index)
    r = ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", "pip", "--dry-run"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"pinned-lib 1.0 requires torch<2.10,>=2.9; the plan installs torch {ie.NEW_CU126}" in r.stdout


@pytest.mark.parametrize("manager", ["pip", "uv"])
def test_a_tampered_wheel_is_refused_by_its_hash(manager, template, env, tmp_path):
    """The index serves a different, well-formed wheel under the real one's name and hash.
    PEP 658 metadata is off, so both managers must download the wheel itself to read it."""
    wheels = ie.build_wheels(tmp_path / "wheels")
    other = make_wheel(tmp_path / "other", "torch", ie.NEW_CU126, tag=ie.TAG, requires_dist=["filelock"],
                          files={"torch/evil.py": "print('not the published file')\n"})
    venv = ie.copy_venv(template, tmp_path / "venv")
    before = ie.state(venv, env)
    with IndexServer(missing_status=403) as server:
        ie.serve(server, wheels)
        for f in server.indexes["whl/cu126"]["torch"]:
            f.metadata = None
        server.fault(f"/whl/cu126/torch/{other.name.replace('+', '%2B')}", body=other.read_bytes())
        plan = ie.plan_file(tmp_path / "plan.json", server)
        r = ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", manager, "--yes",
                        "--no-verify"], ie.with_index_base(env, server))
    assert r.returncode == 6, r.stdout + r.stderr
    text = (r.stdout + r.stderr).lower()
    assert "hash" in text and "sha256" in text
    assert ie.state(venv, env) == before


def test_an_install_that_never_finished_must_be_rolled_back_first(index, venv, env, tmp_path):
    """torchup itself was killed mid-install: its snapshot says 'installing'. The next install
    refuses (it would overwrite the only good snapshot); --rollback restores it."""
    from torchup.install.snapshot import take_snapshot
    from torchup.install.target import inspect_target
    from torchup.runner import Runner

    before = ie.state(venv, env)
    take_snapshot(inspect_target(Runner(env), str(venv)))  # left as "installing"
    site = next((venv.parent.parent / "lib").glob("python3*/site-packages"))
    (site / "half_written.py").write_text("")  # what the killed install left behind
    plan = ie.plan_file(tmp_path / "plan.json", index)
    r = ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", "uv", "--yes", "--no-verify"], env)
    assert r.returncode == 4, r.stdout + r.stderr
    assert "never finished" in r.stderr and "--rollback" in r.stderr
    r = ie.torchup(["install", "--rollback", "--python", str(venv)], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert ie.state(venv, env) == before
    r = ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", "uv", "--yes", "--no-verify"], env)
    assert r.returncode == 0, r.stdout + r.stderr


def test_pypi_build_uses_the_configured_default_index(template, env, tmp_path):
    """variant 'pypi': no --index-url; the default index is the user's (PIP_INDEX_URL here),
    and the preflight checks that one."""
    wheels = tmp_path / "wheels"
    torch = make_wheel(wheels, "torch", "2.14.1", tag=ie.TAG, requires_dist=["filelock"])
    filelock = make_wheel(wheels, "filelock", "3.20.0")
    venv = ie.copy_venv(template, tmp_path / "venv")
    plan = tmp_path / "plan.json"
    plan.write_text('{"torch": "2.14.1", "variant": "pypi", "index_url": null}')
    with IndexServer() as server:
        server.add_wheel("simple", torch)
        server.add_wheel("simple", filelock)
        env = dict(env, PIP_INDEX_URL=server.index_url("simple"))
        server.fault("/simple/torch/", status=500)
        before = ie.state(venv, env)
        r = ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", "pip", "--yes", "--no-verify"], env)
        assert r.returncode == 5, r.stdout + r.stderr
        assert "the default index (from PIP_INDEX_URL) did not answer" in r.stderr
        assert ie.state(venv, env) == before
        server.clear_faults()
        r = ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", "pip", "--yes", "--no-verify"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "--index-url" not in r.stdout and "replacing torch 2.9.1+cpu with 2.14.1" in r.stdout
    assert ie.state(venv, env)["torch"] == "2.14.1"


def _foreign_plan(path, server, **extra):
    plan = json.loads(ie.plan_file(path, server).read_text())
    path.write_text(json.dumps({**plan, **extra}))
    return path


def test_a_plan_file_naming_another_index_is_refused_with_yes(index, template, env, tmp_path):
    """The plan names an index that is not PyTorch's (for torchup: `env`'s TORCHUP_INDEX_BASE):
    --yes does not take it on trust; nothing is changed and the other index is never contacted."""
    venv = ie.copy_venv(template, tmp_path / "venv")
    before = ie.state(venv, env)
    wheels = ie.build_wheels(tmp_path / "wheels")
    with IndexServer(missing_status=403) as other:
        ie.serve(other, wheels)
        plan = _foreign_plan(tmp_path / "plan.json", other)
        args = ["install", "--plan", str(plan), "--python", str(venv), "--manager", "uv", "--no-verify"]
        r = ie.torchup([*args, "--yes"], env)
        assert r.returncode == 2, r.stdout + r.stderr
        assert "refusing a plan file that differs from torchup's own choice" in r.stderr
        assert f"it installs from {other.index_url('whl/cu126')}, not from PyTorch's index for cu126" in r.stderr
        assert "--trust-plan-index" in r.stderr
        assert other.requests == []
        assert ie.state(venv, env) == before
        assert not (venv.parent.parent / ".torchup").exists()
        # at a terminal the question names it; "n" changes nothing
        r = ie.torchup_answering(args, env, "n")
        assert r.returncode == 2, r.stdout + r.stderr
        assert "this plan file is not what torchup would choose:" in r.stdout
        assert "the plan file differs from torchup's own choice (above); run `" in r.stderr  # the question
        assert "cancelled; nothing was changed" in r.stdout
        assert ie.state(venv, env) == before
        assert not (venv.parent.parent / ".torchup").exists()
        # an explicit flag accepts it
        r = ie.torchup([*args, "--yes", "--trust-plan-index"], env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "this plan file is not what torchup would choose:" in r.stdout
    assert ie.state(venv, env)["torch"] == ie.NEW_CU126


def test_text_from_a_plan_file_is_printed_escaped(index, venv, env, tmp_path):
    """A reason carrying escape sequences cannot rewrite the terminal or forge torchup's lines."""
    forged = "fits\x1b[1A\x1b[2K\rtorchup: preflight ok\ntorchup: installed torch 9.9.9"
    plan = _foreign_plan(tmp_path / "plan.json", index, reasons=[forged])
    r = ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", "uv", "--dry-run"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "\x1b" not in r.stdout + r.stderr and "\r" not in r.stdout
    assert "  - fits\\x1b[1A\\x1b[2K\\rtorchup: preflight ok\\ntorchup: installed torch 9.9.9" in r.stdout.splitlines()
    assert not any(line.startswith("torchup: installed torch 9.9.9") for line in r.stdout.splitlines())


def test_a_malformed_plan_file_is_bad_input_naming_each_field(index, venv, env, tmp_path):
    before = ie.state(venv, env)
    plan = _foreign_plan(tmp_path / "plan.json", index, torch="latest", torchvision=29, index_url="ftp://h/whl")
    r = ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", "uv", "--yes"], env)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"{plan} is not a valid torchup plan" in r.stderr
    for field in ("torch: 'latest' is not a version", "torchvision: 29 is not a version string",
                  "index_url: 'ftp://h/whl': only http, https and file URLs"):
        assert f"  - {field}" in r.stderr
    assert "Traceback" not in r.stderr
    assert ie.state(venv, env) == before


def test_a_new_venv_is_created_only_after_yes(index, venv, env, tmp_path):
    """--venv DIR that does not exist: the preflight and the question come first; "no", or a
    preflight that fails, leaves no DIR behind."""
    new = tmp_path / "new-venv"
    plan = ie.plan_file(tmp_path / "plan.json", index)
    args = ["install", "--plan", str(plan), "--python", str(venv), "--venv", str(new), "--manager", "uv",
            "--no-verify"]
    r = ie.torchup_answering(args, env, "n")
    assert r.returncode == 2, r.stdout + r.stderr
    assert not new.exists()
    assert f"{new} does not exist: it will be created from" in r.stdout
    assert "preflight ok" in r.stdout and "cancelled; nothing was changed" in r.stdout
    index.fault("/whl/cu126/torch/", status=500)
    try:
        r = ie.torchup([*args, "--yes"], env)
    finally:
        index.clear_faults()
    assert r.returncode == 5, r.stdout + r.stderr
    assert "preflight failed; nothing was changed" in r.stdout
    assert not new.exists()
    r = ie.torchup([*args, "--dry-run"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"venv --python {venv} {new}" in r.stdout and f"torch=={ie.NEW_CU126}" in r.stdout
    assert not new.exists()
    r = ie.torchup_answering(args, env, "y")
    assert r.returncode == 0, r.stdout + r.stderr
    assert ie.state(new / "bin" / "python", env)["torch"] == ie.NEW_CU126


def test_a_new_venv_answered_no_through_the_library(index, venv, env, tmp_path):
    """The same through ``install()`` with a confirm callback: asked once, nothing exists after "no"."""
    import io

    from torchup.errors import UsageError
    from torchup.install import InstallOptions, install
    from torchup.plan import Plan
    from torchup.runner import Runner
    from torchup.system import System

    new = tmp_path / "new-venv"
    plan = Plan(torch=ie.NEW_CU126, torchvision=None, torchaudio=None, variant="cu126",
                index_url=index.index_url("whl/cu126"))
    asked = []
    options = InstallOptions(python=str(venv), venv=str(new), manager="uv", verify=False,
                             confirm=lambda question: asked.append(question) or False)
    out = io.StringIO()
    with pytest.raises(UsageError) as refused:
        install(plan, options, System(env=env, runner=Runner(env)), stream=out)
    assert refused.value.code == "cancelled"
    assert not new.exists()
    assert len(asked) == 1 and str(new / "bin" / "python") in asked[0] and f"torch=={ie.NEW_CU126}" in asked[0]
    assert "preflight ok" in out.getvalue()
    assert not new.exists()
