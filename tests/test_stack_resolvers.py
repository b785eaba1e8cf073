"""The rendered stack, run by the real pip and the real uv against indexes on 127.0.0.1 whose wheels
have the real shape of these packages: xformers pins ``torch==X`` exactly (its METADATA on
PyTorch's index), PyG's extensions come from a flat page of links with ``+pt27cu126`` in their
versions (data.pyg.org/whl/torch-2.7.0+cu126.html), flash-attn from a release asset whose name
carries CUDA, torch and the C++ ABI (flash_attn-2.7.4.post1+cu12torch2.7cxx11abiTRUE-...whl).
Newer decoys sit on every source (a torch 2.8.0 on the default index, an xformers that pins it,
an unlabelled torch-scatter 2.1.3, a flash-attn 2.8.0): the resolvers must take exactly the
pinned files, and keep the installed torch."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.support.index_server import IndexServer
from tests.support.install_env import tool_env
from tests.support.wheels import make_wheel
from torchup.plan import Plan, StackPin
from torchup.record import replace
from torchup.render import install_argvs

PY = f"cp{sys.version_info[0]}{sys.version_info[1]}"
TAG = f"{PY}-{PY}-linux_{platform.machine()}"
ABI3 = f"cp39-abi3-linux_{platform.machine()}"
ASSET = "Dao-AILab/flash-attention/releases/download/v2.7.4.post1"
FLASH_FILE = f"flash_attn-2.7.4.post1+cu12torch2.7cxx11abiTRUE-{TAG}.whl"

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the wheels are tagged for Linux")


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    d = tmp_path_factory.mktemp("stack-wheels")
    with IndexServer(missing_status=404) as server:
        cu126 = [
            make_wheel(d / "cu126", "torch", "2.7.0+cu126", tag=TAG, requires_dist=["filelock"]),
            make_wheel(d / "cu126", "torch", "2.8.0+cu126", tag=TAG, requires_dist=["filelock"]),
            make_wheel(d / "cu126", "torchvision", "0.22.0+cu126", tag=TAG, requires_dist=["torch==2.7.0"]),
            make_wheel(d / "cu126", "xformers", "0.0.30", tag=ABI3, requires_dist=["numpy", "torch==2.7.0"]),
            make_wheel(d / "cu126", "xformers", "0.0.31", tag=ABI3, requires_dist=["numpy", "torch==2.8.0"]),
            make_wheel(d / "cu126", "numpy", "2.2.0", tag=TAG),
            make_wheel(d / "cu126", "filelock", "3.20.0"),
        ]
        default = [
            make_wheel(d / "default", "torch", "2.8.0", tag=TAG, requires_dist=["filelock"]),
            make_wheel(d / "default", "xformers", "0.0.31", tag=ABI3, requires_dist=["numpy", "torch==2.8.0"]),
            make_wheel(d / "default", "torch-scatter", "2.1.3", tag=TAG),
            make_wheel(d / "default", "flash-attn", "2.8.0", tag=TAG, requires_dist=["torch", "einops"]),
            make_wheel(d / "default", "bitsandbytes", "0.45.5", tag=f"py3-none-linux_{platform.machine()}",
                       requires_dist=["torch<3,>=2.0", "numpy>=1.17"]),
            make_wheel(d / "default", "einops", "0.8.1"),
            make_wheel(d / "default", "numpy", "2.2.0", tag=TAG),
            make_wheel(d / "default", "filelock", "3.20.0"),
        ]
        for wheel in cu126:
            server.add_wheel("whl/cu126", wheel)
        for wheel in default:
            server.add_wheel("simple", wheel)
        server.add_links_page("whl/torch-2.7.0+cu126.html", [
            make_wheel(d / "pyg", "torch-scatter", "2.1.2+pt27cu126", tag=TAG),
            make_wheel(d / "pyg", "torch-sparse", "0.6.18+pt27cu126", tag=TAG, requires_dist=["scipy"]),
        ])
        server.add_file(f"{ASSET}/{FLASH_FILE}", make_wheel(d / "asset", "flash-attn", "2.7.4.post1+cu12torch2.7cxx11abiTRUE",
                                                            tag=TAG, requires_dist=["torch", "einops"]))
        yield server


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = tmp_path_factory.mktemp("stack-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=300)
    return path


@pytest.fixture
def venv(template, tmp_path) -> str:
    shutil.copytree(template, tmp_path / "venv", symlinks=True)
    return str(tmp_path / "venv" / "bin" / "python")


@pytest.fixture
def env(clean_env, tmp_path, index):
    """The loopback ``simple`` index is the default one (the user's configuration: PIP_INDEX_URL, UV_DEFAULT_INDEX)."""
    out = tool_env(clean_env, tmp_path)
    out["PIP_INDEX_URL"] = out["UV_DEFAULT_INDEX"] = index.index_url("simple")
    return out


def _plan(index: IndexServer, *stack: StackPin) -> Plan:
    return Plan(torch="2.7.0+cu126", torchvision="0.22.0+cu126", torchaudio=None, variant="cu126", cuda="12.6",
                index_url=index.index_url("whl/cu126"), os="linux", arch=platform.machine(), python="3.12",
                stack=stack)


def _full_stack(index: IndexServer) -> tuple[StackPin, ...]:
    return (
        StackPin(name="xformers", version="0.0.30", index_url=index.index_url("whl/cu126")),
        StackPin(name="torch-scatter", version="2.1.2+pt27cu126", find_links=f"{index.url}/whl/torch-2.7.0+cu126.html"),
        StackPin(name="flash-attn", version="2.7.4.post1", url=f"{index.url}/{ASSET}/{FLASH_FILE}"),
        StackPin(name="bitsandbytes", version="0.45.5"),
    )


def _run(argv: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, stdin=subprocess.DEVNULL)


def _pip_report(argv: list[str], env: dict, tmp_path: Path) -> dict[str, tuple[str, str]]:
    """``name -> (version, URL of the file)`` that ``pip install --dry-run --report`` would install."""
    report = tmp_path / f"report-{len(list(tmp_path.glob('report-*')))}.json"
    r = _run([*argv[:4], "--dry-run", "--quiet", "--report", str(report), *argv[4:]], env)
    assert r.returncode == 0, r.stdout + r.stderr
    items = json.loads(report.read_text())["install"]
    return {i["metadata"]["name"]: (i["metadata"]["version"], unquote(i["download_info"]["url"])) for i in items}


def test_pip_takes_exactly_the_pinned_files_and_keeps_torch(index, venv, env, tmp_path):
    plan = _plan(index, *_full_stack(index))
    first, second = install_argvs(plan, "pip", python=venv)
    cu126 = index.index_url("whl/cu126")
    got = _pip_report(first, env, tmp_path)
    assert {k: v[0] for k, v in got.items()} == {
        "torch": "2.7.0+cu126", "torchvision": "0.22.0+cu126", "xformers": "0.0.30", "numpy": "2.2.0",
        "filelock": "3.20.0",
    }
    assert all(url.startswith(cu126) for _, url in got.values())  # torch's family from its index only
    r = _run(first, env)
    assert r.returncode == 0, r.stdout + r.stderr
    got = _pip_report(second, env, tmp_path)
    assert got == {
        "torch-scatter": ("2.1.2+pt27cu126",
                          f"{index.url}/whl/torch-2.7.0+cu126/torch_scatter-2.1.2+pt27cu126-{TAG}.whl"),
        "flash-attn": ("2.7.4.post1+cu12torch2.7cxx11abiTRUE", f"{index.url}/{ASSET}/{FLASH_FILE}"),
        "bitsandbytes": ("0.45.5", f"{index.index_url('simple')}bitsandbytes/bitsandbytes-0.45.5-py3-none-linux_{platform.machine()}.whl"),
        "einops": ("0.8.1", f"{index.index_url('simple')}einops/einops-0.8.1-py3-none-any.whl"),
    }  # torch stays: the installed 2.7.0+cu126 satisfies the pins the step repeats


def test_uv_takes_exactly_the_pinned_files_and_keeps_torch(index, venv, env):
    plan = _plan(index, *_full_stack(index))
    steps = install_argvs(plan, "uv", python=venv)
    assert len(steps) == 2
    dry = _run([*steps[0][:3], "--dry-run", *steps[0][3:]], env)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    would = sorted(line.strip() for line in (dry.stdout + dry.stderr).splitlines() if line.strip().startswith("+ "))
    assert would == ["+ filelock==3.20.0", "+ numpy==2.2.0", "+ torch==2.7.0+cu126", "+ torchvision==0.22.0+cu126",
                     "+ xformers==0.0.30"]
    before = len(index.calls)
    for argv in steps:
        r = _run(argv, env)
        assert r.returncode == 0, r.stdout + r.stderr
    fetched = {unquote(path) for _, path in index.calls[before:]}
    assert f"/whl/torch-2.7.0+cu126/torch_scatter-2.1.2+pt27cu126-{TAG}.whl" in fetched
    assert f"/{ASSET}/{FLASH_FILE}" in fetched
    assert [p for p in fetched if "torch-2.8.0" in p or "2.1.3" in p] == []
    freeze = _run(["uv", "pip", "freeze", "--python", venv], env).stdout.splitlines()
    assert "torch==2.7.0+cu126" in freeze and "xformers==0.0.30" in freeze
    assert "torch-scatter==2.1.2+pt27cu126" in freeze and "bitsandbytes==0.45.5" in freeze
    assert any(line.startswith(f"flash-attn @ {index.url}/{ASSET}/{FLASH_FILE}") for line in freeze)


@pytest.mark.parametrize("manager", ["pip", "uv"])
def test_a_stack_package_that_pins_another_torch_fails_its_step_and_leaves_torch(manager, index, venv, env):
    """xformers 0.0.31 on the default index pins torch==2.8.0, which that index has: the second step
    repeats torch's pins, so the resolver refuses instead of replacing the installed torch."""
    plan = _plan(index, StackPin(name="xformers", version="0.0.31"))
    first, second = install_argvs(plan, manager, python=venv)
    assert _run(first, env).returncode == 0
    r = _run(second, env)
    assert r.returncode != 0
    assert "torch" in (r.stdout + r.stderr)
    freeze = _run(["uv", "pip", "freeze", "--python", venv], env).stdout.splitlines()
    assert "torch==2.7.0+cu126" in freeze and not any(line.startswith("xformers") for line in freeze)


def test_without_torchs_pins_the_same_step_would_replace_torch(index, venv, env, tmp_path):
    """The control for the test above: the pins in the second step are what keeps torch."""
    plan = _plan(index, StackPin(name="xformers", version="0.0.31"))
    first, second = install_argvs(plan, "pip", python=venv)
    assert _run(first, env).returncode == 0
    bare = [w for w in second if not w.startswith(("torch==", "torchvision=="))]
    got = _pip_report(bare, env, tmp_path)
    assert got["torch"][0] == "2.8.0"


def test_uv_locks_the_rendered_project_with_each_package_from_its_source(index, env, tmp_path):
    """The uv project: torch and xformers from the explicit PyTorch-like index, torch-scatter from
    the page of links as a flat index, flash-attn by its URL, bitsandbytes from the default index."""
    from torchup import render

    plan = replace(_plan(index, *_full_stack(index)), python=f"{sys.version_info[0]}.{sys.version_info[1]}")
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(render.render(plan, "uv-project"))
    r = subprocess.run(["uv", "lock", "--python", sys.executable], cwd=project, capture_output=True, text=True,
                       env=dict(env, UV_PYTHON_DOWNLOADS="never"), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    lock = unquote((project / "uv.lock").read_text())
    cu126 = index.index_url("whl/cu126")
    assert f'name = "torch"\nversion = "2.7.0+cu126"\nsource = {{ registry = "{cu126}" }}' in lock
    assert f'name = "xformers"\nversion = "0.0.30"\nsource = {{ registry = "{cu126}" }}' in lock
    links = f"{index.url}/whl/torch-2.7.0+cu126.html"
    assert f'name = "torch-scatter"\nversion = "2.1.2+pt27cu126"\nsource = {{ registry = "{links}" }}' in lock
    assert f"{index.url}/whl/torch-2.7.0+cu126/torch_scatter-2.1.2+pt27cu126-{TAG}.whl" in lock
    # uv writes the local label in lower case (PEP 440 normalisation)
    assert f'name = "flash-attn"\nversion = "2.7.4.post1+cu12torch2.7cxx11abitrue"\nsource = {{ url = "{index.url}/{ASSET}/{FLASH_FILE}" }}' in lock
    assert f'name = "bitsandbytes"\nversion = "0.45.5"\nsource = {{ registry = "{index.index_url("simple")}" }}' in lock
    assert "torch-2.8.0" not in lock and "2.1.3" not in lock and "0.0.31" not in lock


def test_pip_installs_a_one_step_requirements_file_with_its_links_and_url(index, venv, env, tmp_path):
    """Torch from the default index (PyPI's build): the whole stack is one file, pip reads its
    --find-links line and the direct URL, and takes exactly the pinned files."""
    from torchup import render

    for wheel in ("torch-2.7.0", "torchvision-0.22.0"):
        name, version = wheel.split("-")
        index.add_wheel("simple", make_wheel(tmp_path / "pypi", name, version, tag=TAG,
                                             requires_dist=["torch==2.7.0"] if name == "torchvision" else []))
    plan = replace(_plan(index, *_full_stack(index)[1:]), torch="2.7.0", torchvision="0.22.0", variant="pypi",
                   index_url=None)
    req = tmp_path / "requirements.txt"
    req.write_text(render.render(plan, "requirements"))
    got = _pip_report([venv, "-m", "pip", "install", "-r", str(req)], env, tmp_path)
    assert got["torch-scatter"] == ("2.1.2+pt27cu126",
                                    f"{index.url}/whl/torch-2.7.0+cu126/torch_scatter-2.1.2+pt27cu126-{TAG}.whl")
    assert got["flash-attn"] == ("2.7.4.post1+cu12torch2.7cxx11abiTRUE", f"{index.url}/{ASSET}/{FLASH_FILE}")
    assert got["torch"][0] == "2.7.0" and got["bitsandbytes"][0] == "0.45.5"
