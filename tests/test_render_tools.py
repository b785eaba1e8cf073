"""The rendered text works with the real tools: uv locks the project fragment
and installs with the argv, pip installs the requirements file, all against a
package index on 127.0.0.1 that stands in for PyTorch's."""

from __future__ import annotations

import shutil
from torchup.record import replace
import subprocess
import sys
from pathlib import Path

import pytest

from torchup import render
from torchup.plan import Plan
from tests.support.wheels import make_wheel

UV = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
pytestmark = pytest.mark.skipif(UV is None, reason="uv is a test dependency; install .[test]")


def _plan(server, variant, *, version="2.14.1", os="linux", arch="x86_64", vision=True) -> Plan:
    label = "" if variant == "pypi" else f"+{variant}"
    return Plan(
        torch=f"{version}{label}",
        torchvision=f"0.29.1{label}" if vision else None,
        torchaudio=None,
        variant=variant,
        index_url=None if variant == "pypi" else server.index_url(f"whl/{variant}").rstrip("/"),
        os=os, arch=arch, python="3.11",
    )


def _serve(server, tmp_path, index, version, tag):
    server.add_wheel(index, make_wheel(tmp_path / index, "torch", version, tag=tag))
    server.add_wheel(index, make_wheel(tmp_path / index, "torchvision", version.replace("2.14.1", "0.29.1"),
                                       tag=tag, requires_dist=[f"torch=={version}"]))


def _uv_env(clean_env, server):
    env = dict(clean_env)
    env["UV_DEFAULT_INDEX"] = server.index_url("simple")
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env["UV_PYTHON"] = sys.executable
    return env


def test_uv_locks_the_project_for_three_machines(index_server, tmp_path, clean_env):
    _serve(index_server, tmp_path, "whl/cu126", "2.14.1+cu126", "py3-none-manylinux_2_28_x86_64")
    _serve(index_server, tmp_path, "whl/cu130", "2.14.1+cu130", "py3-none-win_amd64")
    _serve(index_server, tmp_path, "simple", "2.14.1", "py3-none-macosx_14_0_arm64")
    plans = [
        _plan(index_server, "cu126"),
        _plan(index_server, "pypi", os="macos", arch="aarch64"),
        _plan(index_server, "cu130", os="windows"),
    ]
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(render.render_many(plans, "uv-project"))  # complete as rendered
    r = subprocess.run([UV, "lock"], cwd=project, env=_uv_env(clean_env, index_server),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lock = (project / "uv.lock").read_text()
    cu126 = index_server.index_url("whl/cu126")
    cu130 = index_server.index_url("whl/cu130")
    assert f'version = "2.14.1+cu126"\nsource = {{ registry = "{cu126.rstrip("/")}" }}' in lock
    assert f'version = "2.14.1+cu130"\nsource = {{ registry = "{cu130.rstrip("/")}" }}' in lock
    default = index_server.index_url("simple")
    assert f'version = "2.14.1"\nsource = {{ registry = "{default}" }}' in lock
    assert "torch-2.14.1-py3-none-macosx_14_0_arm64.whl" in lock
    # the lock is limited to the three platforms
    assert "supported-markers = [" in lock and "sys_platform == 'win32'" in lock


# uv's --python-platform targets for the three machines, the build torchup chose for each and its index
_PLATFORMS = [("x86_64-manylinux_2_28", "2.14.1+cu126", "whl/cu126"), ("aarch64-apple-darwin", "2.14.1", "simple"),
              ("x86_64-pc-windows-msvc", "2.14.1+cu130", "whl/cu130")]


def test_each_platform_of_the_uv_project_resolves_its_own_build(index_server, tmp_path, clean_env):
    _serve(index_server, tmp_path, "whl/cu126", "2.14.1+cu126", "py3-none-manylinux_2_28_x86_64")
    _serve(index_server, tmp_path, "whl/cu130", "2.14.1+cu130", "py3-none-win_amd64")
    _serve(index_server, tmp_path, "simple", "2.14.1", "py3-none-macosx_11_0_arm64")  # as torch's own
    # PyPI also has its own Linux and Windows wheels of the version: the sources must keep those machines off them
    server_files = tmp_path / "pypi-others"
    for tag in ("py3-none-manylinux_2_28_x86_64", "py3-none-win_amd64"):
        _serve(index_server, server_files / tag, "simple", "2.14.1", tag)
    plans = [_plan(index_server, "cu126"), _plan(index_server, "pypi", os="macos", arch="aarch64"),
             _plan(index_server, "cu130", os="windows")]
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(render.render_many(plans, "uv-project"))
    env = _uv_env(clean_env, index_server)
    r = subprocess.run([UV, "lock"], cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for platform, version, index in _PLATFORMS:
        r = subprocess.run([UV, "pip", "compile", "--no-header", "--emit-index-annotation", "--python-platform", platform,
                            "--python-version", "3.11", "pyproject.toml"],
                           cwd=project, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, (platform, r.stderr)
        lines = r.stdout.splitlines()
        for name, pin in (("torch", version), ("torchvision", version.replace("2.14.1", "0.29.1"))):
            at = lines.index(f"{name}=={pin}")
            source = next(line for line in lines[at:] if "# from " in line)
            assert source.strip() == f"# from {index_server.index_url(index).rstrip('/')}" or \
                source.strip() == f"# from {index_server.index_url(index)}", (platform, r.stdout)


def test_uv_locks_the_project_merged_into_an_existing_pyproject(index_server, tmp_path, clean_env):
    from torchup.render.merge import merge

    _serve(index_server, tmp_path, "whl/cu126", "2.14.1+cu126", "py3-none-manylinux_2_28_x86_64")
    _serve(index_server, tmp_path, "simple", "2.14.1", "py3-none-macosx_11_0_arm64")
    index_server.add_wheel("simple", make_wheel(tmp_path / "simple", "helper", "1.0"))
    user = ('# the user\'s project\n[project]\nname = "app"  # theirs\nversion = "3"\nrequires-python = ">=3.11"\n'
            'dependencies = [\n    "helper>=1",  # kept\n    "torch",\n]\n\n[tool.ruff]\nline-length = 90\n')
    plans = [_plan(index_server, "cu126"), _plan(index_server, "pypi", os="macos", arch="aarch64")]
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(merge(user, render.render_many(plans, "uv-project")))
    r = subprocess.run([UV, "lock"], cwd=project, env=_uv_env(clean_env, index_server),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lock = (project / "uv.lock").read_text()
    assert 'name = "helper"' in lock and 'version = "2.14.1+cu126"' in lock and 'name = "app"' in lock


def test_uv_pip_installs_with_the_install_argv(index_server, tmp_path, clean_env):
    _serve(index_server, tmp_path, "whl/cpu", "2.14.1+cpu", "py3-none-any")
    venv = tmp_path / "venv"
    subprocess.run([UV, "venv", "--python", sys.executable, str(venv)], env=_uv_env(clean_env, index_server),
                   check=True, capture_output=True, timeout=60)
    python = str(venv / "bin" / "python")
    argv = render.install_argv(_plan(index_server, "cpu"), "uv", python=python)
    argv[0] = UV
    r = subprocess.run(argv, env=_uv_env(clean_env, index_server), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = subprocess.run([python, "-c", "import torch, torchvision; print(torch.__version__, torchvision.__version__)"],
                         capture_output=True, text=True, timeout=30).stdout.split()
    assert out == ["2.14.1+cpu", "0.29.1+cpu"]


def test_pip_installs_the_requirements_file_from_the_variant_index_only(index_server, tmp_path, clean_env):
    _serve(index_server, tmp_path, "whl/cu126", "2.14.1+cu126", "py3-none-any")
    # a decoy on another index with the same version: never consulted
    _serve(index_server, tmp_path, "simple", "2.14.1+cu126", "py3-none-any")
    req = tmp_path / "requirements.txt"
    req.write_text(render.render(_plan(index_server, "cu126"), "requirements"))
    target = tmp_path / "target"
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-cache-dir", "--target", str(target), "-r", str(req)],
        env=clean_env, capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert (target / "torch" / "__init__.py").read_text() == "__version__ = '2.14.1+cu126'\n"
    paths = [p for p, _ in index_server.requests]
    assert any(p.startswith("/whl/cu126/torch") for p in paths)
    assert not any(p.startswith("/simple") for p in paths)


def test_uv_argv_keeps_pytorch_index_even_with_uv_default_index_in_the_environment(index_server, tmp_path, clean_env):
    # uv's older --index-url spelling loses to UV_DEFAULT_INDEX; the argv uses --default-index
    _serve(index_server, tmp_path, "whl/cpu", "2.14.1+cpu", "py3-none-any")
    env = _uv_env(clean_env, index_server)  # UV_DEFAULT_INDEX points at /simple, which has no torch
    venv = tmp_path / "venv"
    subprocess.run([UV, "venv", "--python", sys.executable, str(venv)], env=env, check=True, capture_output=True, timeout=60)
    argv = render.install_argv(_plan(index_server, "cpu"), "uv", python=str(venv / "bin" / "python"))
    argv[0] = UV
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert not any(p.startswith("/simple") for p, _ in index_server.requests)


def test_uv_locks_and_syncs_extras_for_a_gpu_node_and_a_cpu_node(index_server, tmp_path, clean_env):
    # two Linux x86_64 machines, same Python: PyPI's default (CUDA) build on one, the CPU build on the other
    _serve(index_server, tmp_path, "simple", "2.14.1", "py3-none-any")
    _serve(index_server, tmp_path, "whl/cpu", "2.14.1+cpu", "py3-none-any")
    gpu = replace(_plan(index_server, "pypi"), cuda="13.0")
    cpu = _plan(index_server, "cpu")
    fragment = render.render_many([gpu, cpu], "uv-project")
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(fragment)
    env = _uv_env(clean_env, index_server)
    r = subprocess.run([UV, "lock"], cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for extra, version in (("cpu", "2.14.1+cpu"), ("cu130", "2.14.1")):
        r = subprocess.run([UV, "sync", "--frozen", "--extra", extra], cwd=project, env=env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        python = project / ".venv" / "bin" / "python"
        out = subprocess.run([str(python), "-c", "import torch; print(torch.__version__)"],
                             capture_output=True, text=True, timeout=30).stdout.strip()
        assert out == version
    r = subprocess.run([UV, "sync", "--frozen", "--extra", "cpu", "--extra", "cu130"], cwd=project, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "conflict" in r.stderr.lower()


# an index whose URL needs escaping in TOML and quoting in a requirements file: a quote, an
# apostrophe, a backslash-free unicode path segment (the server unquotes what the tools send)
_ODD = "mirr'or\"ü"


def test_uv_locks_a_project_whose_index_url_needs_escaping(index_server, tmp_path, clean_env):
    _serve(index_server, tmp_path, f"{_ODD}/cu126", "2.14.1+cu126", "py3-none-manylinux_2_28_x86_64")
    plan = replace(_plan(index_server, "cu126"), index_url=f"{index_server.url}/{_ODD}/cu126")
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(render.render(plan, "uv-project"))
    r = subprocess.run([UV, "lock"], cwd=project, env=_uv_env(clean_env, index_server),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert 'version = "2.14.1+cu126"' in (project / "uv.lock").read_text()
    assert any(p.startswith("/mirr") and "/cu126/torch" in p for p, _ in index_server.requests)


def test_pip_reads_a_quoted_index_url_from_the_requirements_file(index_server, tmp_path, clean_env):
    _serve(index_server, tmp_path, f"{_ODD}/cu126", "2.14.1+cu126", "py3-none-any")
    plan = replace(_plan(index_server, "cu126"), index_url=f"{index_server.url}/{_ODD}/cu126")
    req = tmp_path / "requirements.txt"
    req.write_text(render.render(plan, "requirements"))
    assert "--index-url '" in req.read_text()  # quoted: pip splits option lines like a POSIX shell
    target = tmp_path / "target"
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-cache-dir", "--target", str(target), "-r", str(req)],
        env=clean_env, capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert (target / "torch" / "__init__.py").read_text() == "__version__ = '2.14.1+cu126'\n"
