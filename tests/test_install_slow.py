"""The real thing: torch 2.13.0's CPU wheel from this machine's wheel store, served by
the local index as PyTorch's /whl/cpu/, installed by `torchup install` (the whole
plan pipeline: probe, catalog, resolve) into a fresh venv, then imported and verified."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import install_env as ie
from tests.support.index_server import IndexServer

REAL_WHEEL = Path("/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_index(tmp_path_factory):
    if not REAL_WHEEL.exists():
        pytest.skip(f"{REAL_WHEEL} is not on this machine")
    if sys.version_info[:2] != (3, 11):
        pytest.skip("the stored wheel is for CPython 3.11")
    deps = tmp_path_factory.mktemp("deps")
    # torch's dependencies (filelock, typing-extensions, setuptools, sympy, mpmath, networkx,
    # jinja2, MarkupSafe, fsspec) from the registries pip is configured with on this host
    r = subprocess.run([sys.executable, "-m", "pip", "download", "--only-binary", ":all:", "--dest", str(deps),
                        str(REAL_WHEEL)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    server = IndexServer(missing_status=403).start()
    for wheel in sorted(deps.glob("*.whl")):
        if wheel.name.startswith("torch-"):
            continue
        server.add_wheel("whl/cpu", wheel)
    server.add_wheel("whl/cpu", REAL_WHEEL)
    yield server
    server.stop()


@pytest.mark.parametrize("manager", ["pip", "uv"])
def test_real_cpu_torch_installs_imports_and_verifies(manager, real_index, clean_env, tmp_path):
    env = ie.tool_env(clean_env, tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env, timeout=300)
    python = venv / "bin" / "python"
    r = ie.torchup(["install", "--cpu", "--torch", "==2.13.0", "--no-torchvision", "--no-torchaudio",
                    "--index-base", real_index.url + "/whl", "--python", str(python), "--manager", manager, "--yes"],
                   env, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert "installed torch 2.13.0+cpu" in r.stdout
    assert "verify ok" in r.stdout, r.stdout[-3000:]
    out = subprocess.run([str(python), "-c", "import torch; print(torch.__version__, (torch.ones(3) * 2).sum().item())"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.stdout.split() == ["2.13.0+cpu", "6.0"], out.stderr
    # and the snapshot taken before lets the user go back to the torch-less venv
    r = ie.torchup(["install", "--rollback", "--python", str(python)], env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    out = subprocess.run([str(python), "-c", "import torch"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode != 0 and "No module named 'torch'" in out.stderr
