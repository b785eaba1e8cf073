"""`torchup install` of a plan with a stack around torch, by the real pip and uv against the
loopback index: torch from its PyTorch-like index, then the stack package from the default index
(the user's configured one) with torch's pins repeated; the guard pins the stack; a failure in
the stack's step restores everything the torch step did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import install_env as ie
from tests.support.index_server import IndexServer
from tests.support.install_fixtures import env, template, venv  # noqa: F401 (fixtures)
from tests.support.wheels import make_wheel
from torchup.install.guard import parse_constraints

GUARD = Path(".torchup") / "constraints.txt"
FLASH = f"flash_attn-2.7.4.post1+cu12torch2.14cxx11abiTRUE-{ie.TAG}.whl"


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    d = tmp_path_factory.mktemp("wheels")
    wheels = ie.build_wheels(d)
    with IndexServer(missing_status=403) as server:
        ie.serve(server, wheels)
        # the default index: an xformers-like package pinning torch exactly, and one pinning a torch
        # that is not the plan's (as xformers 0.0.N pins the torch it was built against)
        server.add_wheel("simple", make_wheel(d / "simple", "xformers", "0.0.99", tag=ie.TAG,
                                              requires_dist=["torch==2.14.1", "filelock"]))
        server.add_wheel("simple", make_wheel(d / "simple", "xformers", "0.0.98", tag=ie.TAG,
                                              requires_dist=["torch==2.15.0"]))
        server.add_wheel("simple", make_wheel(d / "simple", "xformers", "0.0.97", tag=ie.TAG,
                                              requires_dist=["torch==2.14.1", "filelock"]))
        server.add_wheel("simple", make_wheel(d / "simple", "filelock", "3.20.0"))
        # a PyG-like page of links and a flash-attn-like release asset
        server.add_links_page("pyg/torch-2.14.1+cpu.html", [
            make_wheel(d / "pyg", "torch-scatter", "2.1.2+pt214cpu", tag=ie.TAG, requires_dist=["filelock"])])
        server.add_file(f"releases/{FLASH}", make_wheel(d / "asset", "flash-attn", "2.7.4.post1+cu12torch2.14cxx11abiTRUE",
                                                        tag=ie.TAG, requires_dist=["torch"]))
        # as on PyPI, a torch without the local label: the stack's step must keep the installed +cu126
        server.add_wheel("simple", make_wheel(d / "simple", "torch", "2.14.1", tag=ie.TAG, requires_dist=["filelock"]))
        yield server


@pytest.fixture
def default_env(env, index):  # noqa: F811 (the fixture imported above)
    return dict(env, PIP_INDEX_URL=index.index_url("simple"), UV_DEFAULT_INDEX=index.index_url("simple"))


def _plan(path: Path, index: IndexServer, xformers: str) -> Path:
    plan = json.loads(ie.plan_file(path, index).read_text())
    plan["stack"] = [{"name": "xformers", "version": xformers, "index_url": None, "find_links": None, "url": None,
                      "reason": "asked for"}]
    path.write_text(json.dumps(plan))
    return path


@pytest.mark.parametrize("manager", ["pip", "uv"])
def test_installs_torch_then_its_stack_and_pins_both(manager, index, venv, default_env, tmp_path):
    plan = _plan(tmp_path / "plan.json", index, "0.0.99")
    r = ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", manager, "--yes",
                    "--no-verify", "--json"], default_env)
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads(r.stdout)
    flag = "--index-url" if manager == "pip" else "--default-index"
    assert data["argv"][-3:] == [flag, index.index_url("whl/cu126"), f"torch=={ie.NEW_CU126}"]
    assert [a[-2:] for a in data["more_argvs"]] == [[f"torch=={ie.NEW_CU126}", "xformers==0.0.99"]]
    # the default index: no index option at all, never an extra one
    assert not {"--index-url", "--default-index", "--extra-index-url", "--index"} & set(data["more_argvs"][0])
    assert "with its stack: xformers 0.0.99 (2 commands" in r.stderr
    after = ie.state(venv, default_env)
    assert after["torch"] == ie.NEW_CU126 and "xformers==0.0.99" in after["freeze"]
    pins = parse_constraints((venv.parent.parent / GUARD).read_text())
    assert pins == {"torch": ie.NEW_CU126, "xformers": "0.0.99"}


def test_torch_from_the_default_index_installs_links_and_url_packages_in_one_command(index, venv, default_env,
                                                                                    tmp_path):
    """PyPI's build: torch, a page-of-links package and a release-asset wheel in one pip command;
    the preflight checks each at its own source, not on the default index (which has neither)."""
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({
        "torch": "2.14.1", "torchvision": None, "torchaudio": None, "variant": "pypi", "index_url": None,
        "stack": [
            {"name": "torch-scatter", "version": "2.1.2+pt214cpu", "find_links": f"{index.url}/pyg/torch-2.14.1+cpu.html"},
            {"name": "flash-attn", "version": "2.7.4.post1", "url": f"{index.url}/releases/{FLASH}"},
        ],
    }))
    r = ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", "pip", "--yes",
                    "--trust-plan-index", "--no-verify", "--json"], default_env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["more_argvs"] == []
    assert "a source torchup does not vouch for" in r.stderr  # shown, and installed on the explicit trust
    freeze = ie.state(venv, default_env)["freeze"]
    assert "torch==2.14.1" in freeze and "torch-scatter==2.1.2+pt214cpu" in freeze
    assert f"flash-attn @ {index.url}/releases/{FLASH}" in freeze  # pip records the direct URL
    pins = parse_constraints((venv.parent.parent / GUARD).read_text())
    assert pins == {"torch": "2.14.1", "torch-scatter": "2.1.2+pt214cpu",
                    "flash-attn": "2.7.4.post1+cu12torch2.14cxx11abiTRUE"}


def test_a_missing_wheel_url_or_links_package_is_refused_by_the_preflight(index, venv, default_env, tmp_path):
    before = ie.state(venv, default_env)
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({
        "torch": "2.14.1", "torchvision": None, "torchaudio": None, "variant": "pypi", "index_url": None,
        "stack": [
            {"name": "torch-scatter", "version": "2.1.2+pt99cpu", "find_links": f"{index.url}/pyg/torch-2.14.1+cpu.html"},
            {"name": "flash-attn", "version": "2.7.4.post1", "url": f"{index.url}/releases/gone-{FLASH}"},
        ],
    }))
    r = ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", "pip", "--yes",
                    "--trust-plan-index", "--no-verify"], default_env)
    assert r.returncode == 5, r.stdout + r.stderr
    assert "torch-scatter==2.1.2+pt99cpu" in r.stderr and "flash-attn" in r.stderr
    assert "running:" not in r.stdout and ie.state(venv, default_env) == before


def test_add_treats_a_guarded_stack_package_as_part_of_the_stack(index, venv, default_env, tmp_path):
    """After an install with xformers in its stack, `torchup add xformers==0.0.97` is a change to the
    stack: refused without --allow-torch-change; with it, installed and pinned in the guard."""
    plan = _plan(tmp_path / "plan.json", index, "0.0.99")
    r = ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", "pip", "--yes",
                    "--no-verify"], default_env)
    assert r.returncode == 0, r.stdout + r.stderr
    args = ["add", "xformers==0.0.97", "--python", str(venv), "--manager", "pip", "--yes", "--no-verify"]
    r = ie.torchup(args, default_env)
    assert r.returncode == 4, r.stdout + r.stderr
    assert "would replace xformers 0.0.99 with 0.0.97" in r.stdout and "refused; nothing was changed" in r.stdout
    r = ie.torchup([*args, "--allow-torch-change"], default_env)
    assert r.returncode == 0, r.stdout + r.stderr
    pins = parse_constraints((venv.parent.parent / GUARD).read_text())
    assert pins == {"torch": ie.NEW_CU126, "xformers": "0.0.97"}


@pytest.mark.parametrize("manager", ["pip", "uv"])
def test_a_stack_step_that_fails_restores_what_the_torch_step_did(manager, index, venv, default_env, tmp_path):
    """xformers 0.0.98 pins torch==2.15.0: its step fails after torch 2.14.1 went in; the snapshot
    puts the old torch back, nothing is left changed."""
    before = ie.state(venv, default_env)
    plan = _plan(tmp_path / "plan.json", index, "0.0.98")
    r = ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", manager, "--yes",
                    "--no-verify", "--skip-network-check"], default_env)
    assert r.returncode == 6, r.stdout + r.stderr
    assert r.stdout.count("torchup: running:") == 2  # the torch step ran, then the stack's
    assert ie.state(venv, default_env) == before


def test_a_stack_package_the_default_index_lacks_is_refused_before_anything_runs(index, venv, default_env,
                                                                                  tmp_path):
    before = ie.state(venv, default_env)
    plan = _plan(tmp_path / "plan.json", index, "0.0.42")
    r = ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", "pip", "--yes",
                    "--no-verify"], default_env)
    assert r.returncode == 5, r.stdout + r.stderr
    assert "xformers==0.0.42" in r.stderr and "preflight failed; nothing was changed" in r.stdout
    assert "running:" not in r.stdout
    assert ie.state(venv, default_env) == before


def test_conda_refuses_a_plan_with_a_stack(index, venv, default_env, tmp_path):
    plan = _plan(tmp_path / "plan.json", index, "0.0.99")
    r = ie.torchup(["install", "--plan", str(plan), "--python", str(venv), "--manager", "conda", "--dry-run"],
                   default_env)
    assert r.returncode in (2, 4), r.stdout + r.stderr
    assert "Traceback" not in r.stderr


# --- a plan file's stack, read as untrusted input -------------------------------------------------


def _raw(stack) -> dict:
    return {"torch": "2.14.1+cu126", "torchvision": None, "torchaudio": None, "variant": "cu126",
            "index_url": "https://download.pytorch.org/whl/cu126", "stack": stack}


def test_a_plan_files_stack_is_read_with_its_sources():
    from torchup.install.planfile import plan_from_json

    plan = plan_from_json(_raw([
        {"name": "xformers", "version": "0.0.30", "index_url": "https://download.pytorch.org/whl/cu126",
         "find_links": None, "url": None, "reason": "pins torch==2.7.0"},
        {"name": "torch-scatter", "version": "2.1.2+pt27cu126", "find_links": "https://data.pyg.org/whl/x.html"},
    ]))
    assert [(p.name, p.version, p.index_url, p.find_links, p.url) for p in plan.stack] == [
        ("xformers", "0.0.30", "https://download.pytorch.org/whl/cu126", None, None),
        ("torch-scatter", "2.1.2+pt27cu126", None, "https://data.pyg.org/whl/x.html", None),
    ]


def test_a_bad_stack_in_a_plan_file_names_every_bad_field():
    from torchup.errors import InputError
    from torchup.install.planfile import plan_from_json

    with pytest.raises(InputError) as err:
        plan_from_json(_raw([
            {"name": "x; rm -rf /", "version": "1.0"},
            {"name": "ok", "version": "1.0 ; os_name == 'nt'"},
            {"name": "ok", "version": "1.0", "url": "https://a.example/x.whl", "find_links": "https://b.example/"},
            {"name": "ok", "version": "1.0", "url": "https://a.example/x y.whl"},
            "xformers",
        ]))
    assert err.value.exit_code == 2
    details = "\n".join(err.value.details)
    for field in ("stack[0].name", "stack[1].version", "stack[2]: find_links and url", "stack[3].url", "stack[4]"):
        assert field in details, details


def test_a_stack_source_other_than_pytorchs_index_is_a_difference_to_confirm():
    from torchup.catalog.load import load_catalog
    from torchup.install.planfile import differences, plan_from_json

    plan = plan_from_json(_raw([
        {"name": "xformers", "version": "0.0.30", "index_url": "https://download.pytorch.org/whl/cu126"},
        {"name": "flash-attn", "version": "2.7.4.post1", "url": "https://evil.example/flash_attn-2.7.4.post1.whl"},
    ]))
    found = differences(plan, load_catalog({}), "https://download.pytorch.org/whl")
    assert [d for d in found if "flash-attn" in d] == [
        "it installs flash-attn 2.7.4.post1 from https://evil.example/flash_attn-2.7.4.post1.whl, "
        "a source torchup does not vouch for"]
    assert not [d for d in found if "xformers" in d]
