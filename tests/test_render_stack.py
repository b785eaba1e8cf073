"""Rendering the stack around torch (``Plan.stack``): every manager, every kind of source.

The facts the expectations rest on: PyTorch's index serves xformers next to torch
(download.pytorch.org/whl/cu126/xformers/); PyG serves its extensions on pages of links
named by torch and CUDA (data.pyg.org/whl/torch-2.7.0+cu126.html, file names such as
torch_scatter-2.1.2+pt27cu126-cp312-cp312-linux_x86_64.whl); flash-attn's prebuilt wheels
are release assets whose names carry torch, CUDA and the C++ ABI
(flash_attn-2.7.4.post1+cu12torch2.7cxx11abiTRUE-cp312-cp312-linux_x86_64.whl)."""

from __future__ import annotations

import shlex

import pytest

from torchup.record import replace

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from torchup import render
from torchup.plan import Plan, StackPin
from torchup.render import RenderError, install_argv, install_argvs, pip, requirements, uv

BASE = "https://download.pytorch.org/whl"
PYG = "https://data.pyg.org/whl/torch-2.7.0+cu126.html"
FLASH = (
    "https://github.com/Dao-AILab/flash-attention/releases/download/v2.7.4.post1/"
    "flash_attn-2.7.4.post1+cu12torch2.7cxx11abiTRUE-cp312-cp312-linux_x86_64.whl"
)
XFORMERS = StackPin(name="xformers", version="0.0.30", index_url=f"{BASE}/cu126", reason="pins torch==2.7.0")
SCATTER = StackPin(name="torch-scatter", version="2.1.2+pt27cu126", find_links=PYG)
FLASH_ATTN = StackPin(name="flash-attn", version="2.7.4.post1", url=FLASH)
BNB = StackPin(name="bitsandbytes", version="0.45.5")

CU126 = Plan(
    torch="2.7.0+cu126",
    torchvision="0.22.0+cu126",
    torchaudio=None,
    variant="cu126",
    cuda="12.6",
    index_url=f"{BASE}/cu126",
    os="linux",
    arch="x86_64",
    python="3.12",
)
PYPI = Plan(
    torch="2.7.0",
    torchvision="0.22.0",
    torchaudio=None,
    variant="pypi",
    cuda="12.6",
    os="linux",
    arch="x86_64",
    python="3.12",
)
TORCH_PINS = ["torch==2.7.0+cu126", "torchvision==0.22.0+cu126"]
FULL = replace(CU126, stack=(XFORMERS, SCATTER, FLASH_ATTN, BNB))
PY = "/v/bin/python"


def test_a_stack_on_torchs_own_index_is_one_command_with_that_index():
    plan = replace(CU126, stack=(XFORMERS,))
    assert install_argv(plan, "pip", python=PY) == [
        PY,
        "-m",
        "pip",
        "install",
        "--index-url",
        f"{BASE}/cu126",
        *TORCH_PINS,
        "xformers==0.0.30",
    ]
    assert install_argvs(plan, "uv", python=PY) == [
        ["uv", "pip", "install", "--python", PY, "--default-index", f"{BASE}/cu126", *TORCH_PINS, "xformers==0.0.30"],
    ]


def test_pip_installs_the_rest_of_the_stack_in_a_second_command_that_repeats_torchs_pins():
    assert install_argvs(FULL, "pip", python=PY) == [
        [PY, "-m", "pip", "install", "--index-url", f"{BASE}/cu126", *TORCH_PINS, "xformers==0.0.30"],
        [
            PY,
            "-m",
            "pip",
            "install",
            "--find-links",
            PYG,
            *TORCH_PINS,
            "torch-scatter==2.1.2+pt27cu126",
            f"flash-attn @ {FLASH}",
            "bitsandbytes==0.45.5",
        ],
    ]
    lines = pip.render(FULL, python=PY).splitlines()
    assert [shlex.split(line) for line in lines] == install_argvs(FULL, "pip", python=PY)


def test_uv_installs_the_same_steps_with_default_index():
    argvs = install_argvs(FULL, "uv", python=PY)
    assert argvs[0][:7] == ["uv", "pip", "install", "--python", PY, "--default-index", f"{BASE}/cu126"]
    assert argvs[1] == [
        "uv",
        "pip",
        "install",
        "--python",
        PY,
        "--find-links",
        PYG,
        *TORCH_PINS,
        "torch-scatter==2.1.2+pt27cu126",
        f"flash-attn @ {FLASH}",
        "bitsandbytes==0.45.5",
    ]
    assert [shlex.split(line) for line in uv.render(FULL, python=PY).splitlines()] == argvs


def test_one_command_argv_refuses_a_stack_that_needs_several():
    with pytest.raises(RenderError, match="needs 2 pip commands"):
        install_argv(FULL, "pip", python=PY)
    with pytest.raises(RenderError, match="needs 2 uv commands"):
        install_argv(FULL, "uv", python=PY)


def test_a_package_on_another_index_gets_its_own_command_with_torchs_pins():
    other = StackPin(name="xformers", version="0.0.30", index_url=f"{BASE}/cu128")
    argvs = install_argvs(replace(CU126, stack=(other,)), "pip", python=PY)
    assert argvs[1] == [PY, "-m", "pip", "install", "--index-url", f"{BASE}/cu128", *TORCH_PINS, "xformers==0.0.30"]


def test_torch_from_the_default_index_takes_links_and_urls_in_the_same_command():
    plan = replace(PYPI, stack=(SCATTER, FLASH_ATTN, BNB))
    assert install_argvs(plan, "pip", python=PY) == [
        [
            PY,
            "-m",
            "pip",
            "install",
            "--find-links",
            PYG,
            "torch==2.7.0",
            "torchvision==0.22.0",
            "torch-scatter==2.1.2+pt27cu126",
            f"flash-attn @ {FLASH}",
            "bitsandbytes==0.45.5",
        ],
    ]


def test_requirements_file_carries_find_links_and_a_direct_url():
    text = requirements.render(replace(PYPI, stack=(SCATTER, FLASH_ATTN)))
    body = [line for line in text.splitlines() if not line.startswith("#")]
    assert body == [
        f"--find-links {PYG}",
        "torch==2.7.0",
        "torchvision==0.22.0",
        "torch-scatter==2.1.2+pt27cu126",
        f"flash-attn @ {FLASH}",
    ]


def test_requirements_file_keeps_a_stack_on_torchs_index_under_index_url():
    text = requirements.render(replace(CU126, stack=(XFORMERS,)))
    assert [line for line in text.splitlines() if not line.startswith("#")] == [
        f"--index-url {BASE}/cu126",
        *TORCH_PINS,
        "xformers==0.0.30",
    ]


def test_requirements_file_refuses_a_stack_that_needs_two_indexes():
    with pytest.raises(RenderError, match="one index for all its lines, and this stack needs 2") as err:
        requirements.render(FULL)
    assert "--manager pip" in err.value.hint


def test_uv_project_routes_each_package_to_its_source():
    doc = tomllib.loads(render.render(FULL, "uv-project"))
    assert doc["project"]["dependencies"] == [
        *TORCH_PINS,
        "xformers==0.0.30",
        "torch-scatter==2.1.2+pt27cu126",
        f"flash-attn @ {FLASH}",
        "bitsandbytes==0.45.5",
    ]
    uv_ = doc["tool"]["uv"]
    assert uv_["index"] == [
        {"name": "pytorch-cu126", "url": f"{BASE}/cu126", "explicit": True},
        {"name": "torch-scatter-links", "url": PYG, "format": "flat", "explicit": True},
    ]
    assert uv_["sources"] == {
        "torch": [{"index": "pytorch-cu126"}],
        "torchvision": [{"index": "pytorch-cu126"}],
        "xformers": [{"index": "pytorch-cu126"}],
        "torch-scatter": [{"index": "torch-scatter-links"}],
    }


def test_uv_project_for_two_machines_marks_each_stack():
    mac = Plan(
        torch="2.7.0",
        torchvision="0.22.0",
        torchaudio=None,
        variant="pypi",
        os="macos",
        arch="aarch64",
        python="3.12",
        stack=(BNB,),
    )
    doc = tomllib.loads(render.render_many([replace(CU126, stack=(XFORMERS, SCATTER)), mac], "uv-project"))
    linux = "sys_platform == 'linux' and platform_machine == 'x86_64'"
    assert f"torch-scatter==2.1.2+pt27cu126 ; {linux}" in doc["project"]["dependencies"]
    assert (
        "bitsandbytes==0.45.5 ; sys_platform == 'darwin' and platform_machine == 'arm64'"
        in doc["project"]["dependencies"]
    )
    assert doc["tool"]["uv"]["sources"]["torch-scatter"] == [{"index": "torch-scatter-links", "marker": linux}]


def test_poetry_commands_add_each_source_then_its_packages():
    lines = [shlex.split(line) for line in render.render(FULL, "poetry").splitlines()]
    assert lines == [
        ["poetry", "source", "add", "--priority=explicit", "pytorch-cu126", f"{BASE}/cu126"],
        ["poetry", "add", "--source", "pytorch-cu126", *TORCH_PINS, "xformers==0.0.30"],
        ["poetry", "add", FLASH, "bitsandbytes==0.45.5"],
        ["poetry", "source", "add", "--priority=explicit", "torch-scatter-links", PYG],
        ["poetry", "add", "--source", "torch-scatter-links", "torch-scatter==2.1.2+pt27cu126"],
    ]


def test_poetry_project_declares_the_links_page_as_an_explicit_source():
    doc = tomllib.loads(render.render(FULL, "poetry-project"))
    assert f"flash-attn @ {FLASH}" in doc["project"]["dependencies"]
    assert doc["tool"]["poetry"]["dependencies"]["torch-scatter"] == {"source": "torch-scatter-links"}
    assert doc["tool"]["poetry"]["dependencies"]["xformers"] == {"source": "pytorch-cu126"}
    assert {"name": "torch-scatter-links", "url": PYG, "priority": "explicit"} in doc["tool"]["poetry"]["source"]
    assert "bitsandbytes" not in doc["tool"]["poetry"]["dependencies"]  # PyPI: no source


def test_pixi_takes_torch_as_a_wheel_with_its_stack():
    doc = tomllib.loads(render.render(FULL, "pixi"))
    deps = doc["pypi-dependencies"]
    assert deps["torch"] == {"version": "==2.7.0+cu126", "index": f"{BASE}/cu126"}
    assert deps["xformers"] == {"version": "==0.0.30", "index": f"{BASE}/cu126"}
    assert deps["torch-scatter"] == {"version": "==2.1.2+pt27cu126"}
    assert deps["flash-attn"] == {"url": FLASH}
    assert deps["bitsandbytes"] == {"version": "==0.45.5"}
    assert doc["pypi-options"] == {"find-links": [{"url": PYG}]}
    assert "pytorch-gpu" not in doc.get("dependencies", {})  # not conda-forge's build
    assert render.notes(FULL, "pixi") == []  # conda-forge's caveats are not about this route


@pytest.mark.parametrize("tool", ["conda", "mamba", "micromamba"])
def test_conda_refuses_a_stack_and_says_what_to_use(tool):
    with pytest.raises(RenderError, match="conda cannot install this stack: xformers, torch-scatter") as err:
        render.render(FULL, tool)
    assert "pixi" in err.value.hint and "pip" in err.value.hint
    assert render.render_commands(FULL)["conda"] is None


@pytest.mark.parametrize("fmt", render.FORMATS)
@pytest.mark.parametrize(
    "plan",
    [FULL, replace(PYPI, stack=(XFORMERS, SCATTER, FLASH_ATTN, BNB))],
    ids=["torch-on-its-index", "torch-from-the-default-index"],
)
def test_no_format_puts_an_extra_index_or_a_loose_pin_in_a_stack(plan, fmt):
    try:
        text = render.render(plan, fmt)
    except RenderError:
        assert fmt in ("conda", "mamba", "micromamba", "requirements")
        return
    assert "extra-index" not in text and "extra_index" not in text
    for pin in plan.stack:
        assert (pin.url or pin.version) in text  # exact: the version or the one wheel
    assert ">=" not in text.replace('requires-python = ">=', "")


def test_render_all_says_why_a_format_cannot_carry_the_stack():
    out = render.render_all(FULL, python=PY)
    assert out["requirements"]["text"] is None and "one index for all its lines" in out["requirements"]["error"]
    assert out["conda"]["text"] is None and "conda cannot install this stack" in out["conda"]["error"]
    assert out["pip"]["text"].count("\n") == 1  # two commands


def test_torchs_index_with_or_without_a_trailing_slash_is_one_index():
    plan = replace(CU126, stack=(replace(XFORMERS, index_url=f"{BASE}/cu126/"),))
    assert len(install_argvs(plan, "pip", python=PY)) == 1
    doc = tomllib.loads(render.render(plan, "uv-project"))
    assert doc["tool"]["uv"]["sources"]["xformers"] == [{"index": "pytorch-cu126"}]
    assert "xformers-index" not in render.render(plan, "poetry")
    doc = tomllib.loads(render.render(plan, "poetry-project"))
    assert doc["tool"]["poetry"]["source"] == [{"name": "pytorch-cu126", "url": f"{BASE}/cu126", "priority": "explicit"}]
