"""explain reads the facts a log states about its machine (doctor/log_facts.py): a CUDA build of
torch and an NVIDIA driver shown side by side say whether the driver can run the build, whatever
words the failure used (the kornia#4247 log in collected-cases-9.json says only
"cuda_available=False").  The driver floors are NVIDIA's (catalog/hardware.py)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import FIXTURES
from torchup.doctor.explain import explain
from torchup.doctor.log_facts import build_cuda, driver_below_build, driver_facts

CASES = {c["id"]: c for c in json.loads((FIXTURES / "explain" / "collected-cases-9.json").read_text(encoding="utf-8"))}
KORNIA = CASES["kornia-pixi-task-cu130-on-driver-550"]["error_text"]

# the layout of `python -m torch.utils.collect_env` (and vLLM's padded copy of it)
COLLECT_ENV = """PyTorch version: 2.7.0+cu128
CUDA used to build PyTorch: 12.8
Is CUDA available: False
Nvidia driver version: 470.82.01
"""
VLLM_COLLECT_ENV = """PyTorch version              : 2.9.0+cu130
CUDA used to build PyTorch   : 13.0
Is CUDA available            : False
Nvidia driver version        : 570.133.20
"""


def test_the_build_and_the_driver_are_read_where_the_log_states_them():
    assert build_cuda(KORNIA) == ("13.0", "torch 2.14.0+cu130")
    assert driver_facts(KORNIA) == ("550.163.01", "12.4")
    assert build_cuda(COLLECT_ENV) == ("12.8", "CUDA used to build PyTorch: 12.8")
    assert driver_facts(VLLM_COLLECT_ENV) == ("570.133.20", None)
    assert build_cuda("torch 2.7.0+cpu\nDriver Version: 550.54.14") is None


def test_a_cu130_build_beside_a_cuda_12_driver_is_driver_too_old():
    top = explain(KORNIA)[0]
    assert top.id == "driver-too-old" and top.confidence == "high"
    assert any("needs an NVIDIA driver >= 580" in line and "550.163.01" in line for line in top.evidence)


def test_collect_env_reports_are_read_too():
    assert explain(COLLECT_ENV)[0].id == "driver-too-old"  # a CUDA 12.8 build needs >= 525.60.13
    assert explain(VLLM_COLLECT_ENV)[0].id == "driver-too-old"  # 13.0 needs the R580 branch


def test_minor_version_compatibility_and_a_working_gpu_say_nothing():
    # a cu128 build on a CUDA 12.4 driver runs (same major, driver above the 12.x floor)
    assert driver_below_build("torch==2.7.1+cu128\nDriver Version: 550.54.14   CUDA Version: 12.4") is None
    assert driver_below_build("torch 2.14.0+cu126\nNVIDIA driver 560.35.03") is None
    # the numbers would refuse, but the log shows CUDA working: then the driver did run it
    assert driver_below_build(KORNIA.replace("cuda_available=False", "cuda_available=True")) is None
    assert "driver-too-old" not in [
        f.id for f in explain(KORNIA.replace("cuda_available=False", "cuda_available=True"))
    ]


def test_the_windows_floor_is_used_for_a_windows_log():
    # CUDA 12.x on Windows needs >= 528.33; 527.xx runs it on neither table
    text = "C:\\\\Users\\\\me> python -c ...\ntorch 2.4.0+cu121\nNvidia driver version: 527.41"
    assert "528.33" in (driver_below_build(text) or "")
    assert driver_below_build(text.replace("527.41", "531.14")) is None


def test_a_torch_build_is_read_only_where_torch_starts_a_word():
    """The patterns start with the literal ``torch`` and check the word boundary behind it (fast
    on big logs); "pytorch-..." or "mytorch.version.cuda" must stay unread, as with ``\\btorch``."""
    assert build_cuda("torch==2.7.1+cu128") == ("12.8", "torch 2.7.1+cu128")
    assert build_cuda("pytorch-2.7.1+cu128") is None
    assert build_cuda("torch.version.cuda: 12.8") == ("12.8", "torch.version.cuda 12.8")
    assert build_cuda("mytorch.version.cuda: 12.8") is None


def _modules_after_explaining(text: str) -> set[str]:
    """The modules a fresh interpreter has loaded after explaining ``text`` (issue 15: the
    driver tables cost ~13 ms of a short message's 60 ms)."""
    script = "import sys; from torchup.doctor.explain import explain; explain(sys.stdin.read()); print(*sys.modules)"
    run = subprocess.run([sys.executable, "-c", script], input=text, capture_output=True, text=True, check=True)
    return set(run.stdout.split())


def test_the_driver_tables_are_loaded_only_for_a_log_that_states_a_build_and_a_driver():
    too_old = "UserWarning: CUDA initialization: The NVIDIA driver on your system is too old (found version 11040).\n"
    assert "torchup.catalog.rules" not in _modules_after_explaining(too_old)
    assert "torchup.catalog.rules" not in _modules_after_explaining("torch==2.7.1+cu128\n" + too_old)
    assert "torchup.catalog.rules" in _modules_after_explaining(COLLECT_ENV)
