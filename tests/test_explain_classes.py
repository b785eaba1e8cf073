"""explain on the classes it used to miss (issue 12), from the real logs in
tests/fixtures/explain/collected-cases-8.json (each with its public source).

test_explain.py checks every case's family; these check the mechanism each rule
rests on: what must be there, and what rules the cause out.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import FIXTURES
from torchup.doctor.explain import Facts, explain

CASES = {c["id"]: c for c in json.loads((FIXTURES / "explain" / "collected-cases-8.json").read_text(encoding="utf-8"))}


def _text(case_id: str) -> str:
    return CASES[case_id]["error_text"]


def _ids(text: str, **kw) -> list[str]:
    return [f.id for f in explain(text, **kw)]


# --- a later install replaced the CUDA torch ---------------------------------------


def test_a_cuda_torch_uninstalled_then_cpu_only_is_the_replacement():
    findings = explain(_text("comfy-manager-replaced-cu121-torch"))
    assert findings[0].id == "cuda-torch-replaced-by-later-install"
    assert "the CUDA build torch-2.4.0+cu121 was uninstalled" in findings[0].evidence
    assert "cpu-build-installed" not in [f.id for f in findings]  # the specific reading replaces the generic one


def test_a_swap_between_two_cuda_builds_is_not_called_a_replacement_by_a_cpu_build():
    # ali-vilab/FlashFace#4: torch 2.2.2+cu118 replaced by 2.1.0+cu121 on purpose; nothing failed
    text = (
        "Installing collected packages: torch\n  Attempting uninstall: torch\n"
        "    Found existing installation: torch 2.2.2+cu118\n    Uninstalling torch-2.2.2+cu118:\n"
        "      Successfully uninstalled torch-2.2.2+cu118\nSuccessfully installed torch-2.1.0+cu121\n"
    )
    assert "cuda-torch-replaced-by-later-install" not in _ids(text)


def test_the_replacement_is_named_from_the_install_log_alone():
    # the pip lines of the same mechanism, without the later runtime error
    text = (
        "  Attempting uninstall: torch\n    Found existing installation: torch 2.4.0+cu121\n"
        "    Uninstalling torch-2.4.0+cu121:\n      Successfully uninstalled torch-2.4.0+cu121\n"
        "Successfully installed numpy-1.26.4 torch-2.4.1 transparent-background-1.3.3\n"
    )
    findings = explain(text)
    assert findings[0].id == "cuda-torch-replaced-by-later-install"
    assert "replaced by torch-2.4.1, a build without a CUDA tag" in findings[0].evidence


# --- Windows long paths -----------------------------------------------------------------


@pytest.mark.parametrize("case_id", ["win-store-python-caffe2-long-path", "win-store-python-caffe2-long-path-oserror",
                                     "win-conda-env-torch-licenses-winerror-206"])
def test_a_long_path_failure_without_pips_hint_is_a_long_path_finding(case_id):
    assert _ids(_text(case_id))[0] == "windows-long-paths"


def test_a_short_missing_file_is_not_a_long_path_problem():
    text = ("ERROR: Could not install packages due to an OSError: [Errno 2] No such file or directory:"
            " 'C:\\\\tmp\\\\x.whl'\n")
    assert "windows-long-paths" not in _ids(text)


def test_a_long_path_on_a_linux_target_is_ruled_out():
    assert "windows-long-paths" not in _ids(_text("win-store-python-caffe2-long-path"), facts=Facts(os="linux"))


# --- ROCm kernels for another ISA --------------------------------------------------------


def test_invalid_isa_under_an_override_names_the_override():
    findings = explain(_text("rocm-7600xt-override-invalid-isa"))
    assert findings[0].id == "rocm-kernel-wrong-isa"
    assert any("HSA_OVERRIDE_GFX_VERSION=11.0.0" in line for line in findings[0].evidence)


def test_no_binary_for_gpu_stays_the_missing_target_problem():
    assert _ids(_text("rocm-navi10-no-binary-for-gpu"))[0] == "rocm-gfx-unsupported"


# --- Intel XPU runtime ---------------------------------------------------------------------


def test_a_oneapi_runtime_ahead_of_torchs_is_not_called_a_missing_driver():
    ids = _ids(_text("xpu-oneapi-ur-loader-version"))
    assert ids[0] == "xpu-oneapi-runtime-shadows-torch"
    assert "xpu-driver-missing" not in ids


@pytest.mark.parametrize("case_id", ["xpu-ai-playground-device-count-zero", "xpu-level-zero-device-lost",
                                     "xpu-ur-adapter-level-zero-undefined-symbol", "xpu-b580-no-devices"])
def test_xpu_runtime_and_driver_messages(case_id):
    assert _ids(_text(case_id))[0] == "xpu-driver-missing"


# --- conda's CPU mutex -----------------------------------------------------------------------


@pytest.mark.parametrize("case_id", ["conda-pytorch-mutex-cpu-plan", "conda-env-yml-pytorch-mutex-cpu"])
def test_the_cpu_mutex_is_the_cpuonly_problem(case_id):
    assert _ids(_text(case_id))[0] == "conda-cpuonly-pinned"


def test_the_cuda_mutex_is_not():
    text = "pytorch                   2.5.1           py3.12_cuda12.4_cudnn9.1.0_0    pytorch\n" \
           "pytorch-mutex             1.0                        cuda    pytorch\n"
    assert "conda-cpuonly-pinned" not in _ids(text)


# --- resolvers: uv and pixi --------------------------------------------------------------------


def test_pixi_without_the_pytorch_index_names_the_local_version():
    findings = explain(_text("pixi-pypi-cu121-no-index"))
    assert findings[0].id == "pypi-resolver-without-pytorch-index"
    assert "torch==2.5.1+cu121 is a local version, found only on the PyTorch index" in findings[0].evidence


def test_a_failing_uv_split_stays_the_split_problem():
    ids = _ids(_text("uv-vllm-split-darwin-cpu-local-version"))
    assert ids[0] == "uv-lock-platform-split"
    assert "pypi-resolver-without-pytorch-index" not in ids


def test_a_verbose_uv_log_with_the_reason_far_from_its_end():
    # uv -v prints thousands of DEBUG lines; the reason is in the middle, a summary at the end
    debug = ("DEBUG Searching for a compatible version of sympy (>=1.13.1, <1.13.1+)\n"
             "DEBUG Selecting: sympy==1.13.1 [preference] (sympy-1.13.1-py3-none-any.whl)\n") * 4000
    text = debug + _text("uv-split-win-cu128-no-wheels") + "\n" + debug + "DEBUG Released lock at `/tmp/uv.lock`\n"
    assert len(text) > 600_000
    assert _ids(text)[0] == "uv-lock-platform-split"


def test_uvs_platform_tag_hint_names_the_platform_that_has_no_wheel():
    # uv says which tag it looked for: an Intel Mac's, so the generic 'no wheel' finding is not needed
    findings = explain(_text("uv-pip-macos-x86-no-platform-tag"))
    assert findings[0].id == "no-wheel-macos-x86"
    assert "no-wheel-macos-x86" not in _ids(_text("uv-pip-macos-x86-no-platform-tag"), facts=Facts(os="linux"))


# --- environment mixing: the package list says torch is there -----------------------------------


def test_torch_listed_as_installed_but_not_importable_sharpens_the_generic_finding():
    top = explain(_text("conda-list-has-torch-pip-other-python"))[0]
    assert top.id == "torch-not-in-this-python"
    assert "pytorch-cpu 0.4.1 is listed as installed, yet this Python cannot import it" in top.evidence
    assert top.confidence == "medium"
    # the list row alone is no problem at all
    assert _ids("Package    Version\n---------- -------\ntorch      2.9.1+cu130\n") == []


def test_a_real_verbose_uv_log_garbled_by_cmd_exe():
    # cmd.exe printed uv's colour escapes as '←[34m'; the reason sits after the DEBUG lines
    findings = explain(_text("uv-sync-verbose-cu124-lock-linux-aarch64-only"))
    assert findings[0].id == "uv-lock-pytorch-index-no-wheel-here"
    assert findings[0].confidence == "high"


def test_uv_sync_without_the_pytorch_index_is_the_missing_index():
    assert _ids(_text("uv-sync-pip-section-index-ignored"))[0] == "pypi-resolver-without-pytorch-index"


def test_pixi_on_a_jetson_cannot_take_conda_forges_sbsa_cuda_build():
    text = _text("pixi-jetson-pytorch-gpu-needs-sbsa")
    assert _ids(text)[0] == "conda-forge-aarch64-cuda-is-sbsa"
    # known to be an x86_64 target: not this cause, and the solver failure stays generic
    assert _ids(text, facts=Facts(os="linux", arch="x86_64"))[0] == "conda-unsatisfiable"
