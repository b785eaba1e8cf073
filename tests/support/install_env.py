"""Test helpers for `torchup install`: a PyTorch-like local index with synthetic
wheels, throw-away venvs with an old torch in them, and the before/after state
the fault tests compare."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.index_server import IndexServer
from tests.support.wheels import make_wheel

REPO = Path(__file__).resolve().parents[2]
TAG = "cp311-cp311-manylinux_2_28_x86_64"
OLD_TORCH = "2.9.1+cpu"
NEW_CPU = "2.14.1+cpu"
NEW_CU126 = "2.14.1+cu126"
# realistic stand-ins: the names and exact pins of torch 2.x+cu126's NVIDIA dependencies
NVIDIA = {"nvidia-cublas-cu12": "12.6.4.1", "nvidia-cuda-runtime-cu12": "12.6.77", "nvidia-cudnn-cu12": "9.10.2.21"}


def build_wheels(directory: Path, *, pad: int = 0, nvidia_pad: int = 0, torch_files: int = 0) -> dict[str, list[Path]]:
    """The wheels of each index: ``{"whl/cpu": [...], "whl/cu126": [...]}``.

    ``torch_files`` adds that many small modules to every torch wheel (the real torch
    2.13.0 CPU wheel holds 12,248 files), ``pad`` incompressible bytes to the new ones."""
    many = {f"torch/_gen/d{i // 500}/m{i}.py": f"X = {i}\n" * 20 for i in range(torch_files)}
    marker = "; platform_system == 'Linux' and platform_machine == 'x86_64'"
    nvidia = [make_wheel(directory / "cu126", n, v, tag="py3-none-manylinux_2_28_x86_64", padding=nvidia_pad)
              for n, v in NVIDIA.items()]
    filelock = make_wheel(directory / "common", "filelock", "3.20.0")
    cu126 = make_wheel(
        directory / "cu126", "torch", NEW_CU126, tag=TAG, requires_python=">=3.10", padding=pad,
        requires_dist=["filelock", *[f"{n}=={v}{marker}" for n, v in NVIDIA.items()]], files=many,
    )
    old = make_wheel(directory / "cpu", "torch", OLD_TORCH, tag=TAG, requires_python=">=3.10", requires_dist=["filelock"],
                     files=many)
    new_cpu = make_wheel(directory / "cpu", "torch", NEW_CPU, tag=TAG, requires_python=">=3.10", padding=pad,
                         requires_dist=["filelock"], files=many)
    return {"whl/cpu": [old, new_cpu, filelock], "whl/cu126": [cu126, *nvidia, filelock]}


def serve(server: IndexServer, wheels: dict[str, list[Path]]) -> IndexServer:
    for index, paths in wheels.items():
        for p in paths:
            server.add_wheel(index, p)
    return server


def plan_file(path: Path, server: IndexServer, *, torch: str = NEW_CU126, variant: str = "cu126") -> Path:
    plan = {"torch": torch, "torchvision": None, "torchaudio": None, "variant": variant,
            "cuda": "12.6" if variant == "cu126" else None, "index_url": server.index_url(f"whl/{variant}")}
    path.write_text(json.dumps(plan))
    return path


def make_template_venv(directory: Path, server: IndexServer, env: dict) -> Path:
    """A venv with pip and the old torch (2.9.1+cpu) installed from the local index."""
    subprocess.run([sys.executable, "-m", "venv", str(directory)], check=True, env=env, timeout=300)
    py = directory / "bin" / "python"
    r = subprocess.run([str(py), "-m", "pip", "install", "--no-cache-dir", "--index-url", server.index_url("whl/cpu"),
                        f"torch=={OLD_TORCH}"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return directory


def copy_venv(template: Path, dest: Path) -> Path:
    """venvs find their prefix from bin/python's location, so a copy is a working venv."""
    shutil.copytree(template, dest, symlinks=True)
    return dest / "bin" / "python"


def tool_env(clean_env: dict, tmp_path: Path) -> dict:
    """clean_env with uv on PATH and torchup's logs under tmp_path."""
    env = dict(clean_env)
    bindir = tmp_path / "tools"
    bindir.mkdir(exist_ok=True)
    uv = REPO / ".venv" / "bin" / "uv"
    if not (bindir / "uv").exists():
        os.symlink(uv, bindir / "uv")
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg-cache")
    env.pop("VIRTUAL_ENV", None)
    return env


def with_index_base(env: dict, server: IndexServer) -> dict:
    """``env`` in which ``server`` stands for PyTorch's index (``TORCHUP_INDEX_BASE``): a plan
    file naming it is what torchup itself would choose, not a foreign one."""
    return dict(env, TORCHUP_INDEX_BASE=f"{server.url}/whl")


def torchup(args: list[str], env: dict, *, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torchup", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def torchup_answering(args: list[str], env: dict, answer: str, *, timeout: float = 300) -> subprocess.CompletedProcess:
    """torchup with a terminal on stdin (a pseudo-terminal), ``answer`` typed ahead for its question."""
    import pty

    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "torchup", *args], stdin=slave, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
        os.close(slave)
        slave = -1
        os.write(master, (answer + "\n").encode())
        out, err = proc.communicate(timeout=timeout)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def state(python: Path, env: dict) -> dict:
    """What must not change after a failed install: pip freeze, the file list of
    site-packages (bytecode caches aside) and the torch that imports."""
    freeze = subprocess.run([str(python), "-m", "pip", "freeze", "--all"], capture_output=True, text=True, env=env,
                            timeout=120)
    imported = subprocess.run([str(python), "-c", "import torch; print(torch.__version__)"], capture_output=True,
                              text=True, env=env, timeout=120)
    site = next((python.parent.parent / "lib").glob("python3*/site-packages"))
    files = sorted(str(p.relative_to(site)) for p in site.rglob("*") if "__pycache__" not in p.parts)
    return {"freeze": freeze.stdout, "torch": imported.stdout.strip() or imported.stderr.strip()[-200:],
            "files": files}
