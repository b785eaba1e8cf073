"""Rendering: every format for a set of plans, compared with golden text that was
read line by line against the managers' documented syntax (tests/golden/).

Set TORCHUP_UPDATE_GOLDEN=1 to rewrite the files after an intended change, then
review the diff: the golden files are the specification, not a snapshot."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from torchup import render
from torchup.plan import Plan, StackPin
from torchup.render import RenderError, install_argv

GOLDEN = Path(__file__).resolve().parent / "golden"
BASE = "https://download.pytorch.org/whl"

PLANS = {
    "linux-cu126": Plan(
        torch="2.14.1+cu126", torchvision="0.29.1+cu126", torchaudio=None, variant="cu126",
        cuda="12.6", index_url=f"{BASE}/cu126", os="linux", arch="x86_64", python="3.12",
    ),
    "linux-pypi-cu130": Plan(
        torch="2.14.1", torchvision="0.29.1", torchaudio=None, variant="pypi",
        cuda="13.0", index_url=None, os="linux", arch="x86_64", python="3.12",
    ),
    "linux-cpu": Plan(
        torch="2.14.1+cpu", torchvision="0.29.1+cpu", torchaudio=None, variant="cpu",
        index_url=f"{BASE}/cpu", os="linux", arch="x86_64", python="3.11",
    ),
    "macos-arm64": Plan(
        torch="2.14.1", torchvision="0.29.1", torchaudio=None, variant="pypi",
        os="macos", arch="aarch64", python="3.13",
    ),
    "windows-cu130-audio": Plan(
        torch="2.11.0+cu130", torchvision="0.26.0+cu130", torchaudio="2.11.0+cu130", variant="cu130",
        cuda="13.0", index_url=f"{BASE}/cu130", os="windows", arch="x86_64", python="3.12",
    ),
    "linux-rocm": Plan(
        torch="2.14.1+rocm7.2", torchvision="0.29.1+rocm7.2", torchaudio=None, variant="rocm7.2",
        rocm="7.2", index_url=f"{BASE}/rocm7.2", os="linux", arch="x86_64", python="3.12",
    ),
    "linux-xpu": Plan(
        torch="2.14.1+xpu", torchvision="0.29.1+xpu", torchaudio=None, variant="xpu",
        index_url=f"{BASE}/xpu", os="linux", arch="x86_64", python="3.12",
    ),
    "linux-cu118-kepler": Plan(
        torch="2.5.1+cu118", torchvision="0.20.1+cu118", torchaudio="2.5.1+cu118", variant="cu118",
        cuda="11.8", index_url=f"{BASE}/cu118", os="linux", arch="x86_64", python="3.10",
    ),
    "linux-freethreaded-cpu": Plan(
        torch="2.14.1+cpu", torchvision=None, torchaudio=None, variant="cpu",
        index_url=f"{BASE}/cpu", os="linux", arch="aarch64", python="3.14t",
    ),
    # the stack around torch: xformers on PyTorch's index, PyG's page of links, a flash-attn release asset, PyPI
    "linux-cu126-stack": Plan(
        torch="2.7.0+cu126", torchvision="0.22.0+cu126", torchaudio=None, variant="cu126",
        cuda="12.6", index_url=f"{BASE}/cu126", os="linux", arch="x86_64", python="3.12",
        stack=(
            StackPin(name="xformers", version="0.0.30", index_url=f"{BASE}/cu126"),
            StackPin(name="torch-scatter", version="2.1.2+pt27cu126",
                     find_links="https://data.pyg.org/whl/torch-2.7.0+cu126.html"),
            StackPin(name="flash-attn", version="2.7.4.post1",
                     url="https://github.com/Dao-AILab/flash-attention/releases/download/v2.7.4.post1/"
                         "flash_attn-2.7.4.post1+cu12torch2.7cxx11abiTRUE-cp312-cp312-linux_x86_64.whl"),
            StackPin(name="bitsandbytes", version="0.45.5"),
        ),
    ),
    "linux-pypi-stack": Plan(
        torch="2.7.0", torchvision="0.22.0", torchaudio=None, variant="pypi",
        cuda="12.6", index_url=None, os="linux", arch="x86_64", python="3.12",
        stack=(
            StackPin(name="torch-scatter", version="2.1.2+pt27cu126",
                     find_links="https://data.pyg.org/whl/torch-2.7.0+cu126.html"),
            StackPin(name="bitsandbytes", version="0.45.5"),
        ),
    ),
}

PYTHON = {"windows": r"C:\Users\ana\proj\.venv\Scripts\python.exe"}


def _all_formats(plan: Plan) -> str:
    python = PYTHON.get(plan.os or "", "/home/ana/proj/.venv/bin/python")
    out = []
    for fmt in render.FORMATS:
        try:
            text = render.render(plan, fmt, python=python)
        except RenderError as err:
            text = f"(cannot render: {err.message}; {err.hint})"
        out.append(f"=== {fmt} ===\n{text.rstrip()}\n")
        for note in render.notes(plan, fmt):
            out.append(f"note: {note}\n")
    return "".join(out)


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("TORCHUP_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}; TORCHUP_UPDATE_GOLDEN=1 writes it"
    assert text == path.read_text()


@pytest.mark.parametrize("name", sorted(PLANS))
def test_every_format_matches_its_golden_text(name):
    _check_golden(f"render__{name}", _all_formats(PLANS[name]))


def test_uv_project_for_several_machines_uses_platform_markers():
    plans = [PLANS["linux-cu126"], PLANS["macos-arm64"], PLANS["windows-cu130-audio"]]
    _check_golden("render__uv-project__three-machines", render.render_many(plans, "uv-project"))


def test_poetry_project_for_several_machines_uses_markers_and_explicit_sources():
    plans = [PLANS["linux-cu126"], PLANS["macos-arm64"], PLANS["windows-cu130-audio"]]
    _check_golden("render__poetry-project__three-machines", render.render_many(plans, "poetry-project"))


def test_poetry_project_refuses_machines_only_extras_could_separate():
    gpu = PLANS["linux-pypi-cu130"]
    cpu = Plan(torch="2.14.1+cpu", torchvision="0.29.1+cpu", torchaudio=None, variant="cpu",
               index_url=f"{BASE}/cpu", os="linux", arch="x86_64", python="3.12")
    with pytest.raises(RenderError, match="markers cannot tell them apart") as err:
        render.render_many([gpu, cpu], "poetry-project")
    assert "uv-project" in err.value.hint


def test_uv_project_tells_same_platform_machines_apart_by_python():
    py310 = Plan(torch="2.14.1+cu126", torchvision="0.29.1+cu126", torchaudio=None, variant="cu126",
                 cuda="12.6", index_url=f"{BASE}/cu126", os="linux", arch="x86_64", python="3.10")
    py313 = Plan(torch="2.15.0+cu130", torchvision=None, torchaudio=None, variant="cu130",
                 cuda="13.0", index_url=f"{BASE}/cu130", os="linux", arch="x86_64", python="3.13")
    text = render.render_many([py310, py313], "uv-project")
    assert "\"torch==2.14.1+cu126 ; sys_platform == 'linux' and platform_machine == 'x86_64' and python_version == '3.10'\"" in text
    import tomllib

    sources = tomllib.loads(text)["tool"]["uv"]["sources"]["torch"]
    assert {"index": "pytorch-cu130",
            "marker": "sys_platform == 'linux' and platform_machine == 'x86_64' and python_version == '3.13'"} in sources


def test_uv_project_gives_same_platform_machines_one_extra_per_build():
    gpu = PLANS["linux-pypi-cu130"]
    cpu = Plan(torch="2.14.1+cpu", torchvision="0.29.1+cpu", torchaudio=None, variant="cpu",
               index_url=f"{BASE}/cpu", os="linux", arch="x86_64", python="3.12")
    _check_golden("render__uv-project__gpu-and-cpu-nodes-and-a-mac",
                  render.render_many([gpu, cpu, PLANS["macos-arm64"]], "uv-project"))


def test_uv_project_refuses_what_neither_markers_nor_extras_separate():
    a = PLANS["linux-cpu"]
    b = Plan(torch="2.13.0+cpu", torchvision=None, torchaudio=None, variant="cpu",
             index_url=f"{BASE}/cpu", os="linux", arch="x86_64", python="3.11")
    with pytest.raises(RenderError, match="markers cannot tell them apart"):
        render.render_many([a, b], "uv-project")


def test_install_argv_pip_is_exact_and_uses_index_url():
    argv = install_argv(PLANS["linux-cu126"], "pip", python="/p/bin/python")
    assert argv == [
        "/p/bin/python", "-m", "pip", "install",
        "--index-url", f"{BASE}/cu126",
        "torch==2.14.1+cu126", "torchvision==0.29.1+cu126",
    ]


def test_install_argv_uv_names_the_target_python():
    argv = install_argv(PLANS["windows-cu130-audio"], "uv", python=r"C:\py\python.exe")
    assert argv == [
        "uv", "pip", "install", "--python", r"C:\py\python.exe",
        "--default-index", f"{BASE}/cu130",
        "torch==2.11.0+cu130", "torchvision==0.26.0+cu130", "torchaudio==2.11.0+cu130",
    ]


def test_install_argv_for_pypi_default_build_adds_no_index():
    argv = install_argv(PLANS["linux-pypi-cu130"], "pip", python="python3")
    assert argv == ["python3", "-m", "pip", "install", "torch==2.14.1", "torchvision==0.29.1"]


@pytest.mark.parametrize("name", sorted(PLANS))
@pytest.mark.parametrize("fmt", render.FORMATS)
def test_no_format_ever_uses_an_extra_index(name, fmt):
    try:
        text = render.render(PLANS[name], fmt)
    except RenderError:
        return
    assert "extra-index-url" not in text and "extra_index_url" not in text
    assert "-c pytorch" not in text and "conda.anaconda.org/pytorch" not in text


def test_install_argv_refuses_other_managers():
    with pytest.raises(RenderError, match="this renders pip.s and uv.s"):
        install_argv(PLANS["linux-cpu"], "conda", python="python")


def test_render_commands_fill_the_contract_keys_and_null_what_cannot_be_done():
    commands = render.render_commands(PLANS["linux-rocm"])
    assert set(commands) == {"pip", "uv", "conda", "pixi", "poetry"}
    assert commands["conda"] is None
    assert "[pypi-dependencies.torch]" in commands["pixi"]  # pixi takes the ROCm wheel from PyTorch's index
    assert commands["pip"].endswith("torch==2.14.1+rocm7.2 torchvision==0.29.1+rocm7.2")


def test_unknown_format_is_a_user_error():
    with pytest.raises(RenderError, match="unknown format"):
        render.render(PLANS["linux-cpu"], "pipenv")


@pytest.mark.parametrize("os_, arch, variant, cuda, expected", [
    # conda-forge's CUDA variants (feedstock .ci_support): Linux 12.9 / 13.0, Windows 12.8 / 13.0
    ("linux", "x86_64", "cu126", "12.6", "cuda-version=12.9"),
    ("linux", "aarch64", "cu130", "13.0", "cuda-version=13.0"),
    ("windows", "x86_64", "cu126", "12.6", "cuda-version=12.8"),
    ("windows", "x86_64", "cu132", "13.2", "cuda-version=13.0"),
])
def test_conda_forge_cuda_version_per_os(os_, arch, variant, cuda, expected):
    plan = Plan(torch=f"2.14.1+{variant}", torchvision=None, torchaudio=None, variant=variant, cuda=cuda,
                index_url=f"{BASE}/{variant}", os=os_, arch=arch, python="3.12")
    text = render.render(plan, "conda")
    assert text.split() == ["conda", "install", "--override-channels", "-c", "conda-forge", "pytorch-gpu==2.14.1", expected]
    assert render.render(plan, "micromamba").split()[0] == "micromamba"


@pytest.mark.parametrize("name", sorted(PLANS))
@pytest.mark.parametrize("python", ["python", r"C:\Users\ana\proj\.venv\Scripts\python.exe", "/opt/my env/bin/python"])
def test_the_commands_read_from_every_rendering_are_the_commands_rendered_alone(name, python):
    """plan --json renders every format once and reads Plan.commands from it (commands_from)."""
    plan = PLANS[name]
    assert render.commands_from(render.render_all(plan, python=python)) == render.render_commands(plan, python=python)
