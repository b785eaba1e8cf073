"""explain says how sure each finding is and why (issue 12): wrong and confident is
worse than no match, so a generic message is a generic finding, and evidence against
a cause, or another family's own message, lowers the level."""

from __future__ import annotations

import json

import pytest

from tests.conftest import FIXTURES
from torchup.doctor.explain import Facts, explain
from torchup.doctor.problems import PROBLEMS
from torchup.findings import Finding

DRIVER = "UserWarning: CUDA initialization: The NVIDIA driver on your system is too old (found version 11040).\n"
ISA = ":0:rocdevice.cpp :3596: 998574369737 us:  Callback: Queue 0x7daa52e00000 aborting with error : " \
      "HSA_STATUS_ERROR_INVALID_ISA: The instruction set architecture is invalid. code: 0x100f\n"


def _all_cases():
    out = []
    for path in sorted((FIXTURES / "explain").glob("*-cases*.json")):
        out += json.loads(path.read_text(encoding="utf-8"))
    return out


def test_a_message_only_one_cause_produces_is_high_and_says_so():
    top = explain(DRIVER)[0]
    assert (top.id, top.confidence) == ("driver-too-old", "high")
    assert top.basis == ("'NVIDIA driver on your system is too old (found version 11040)'"
                         " is a message only this cause produces")


@pytest.mark.parametrize("text, generic", [
    ("ModuleNotFoundError: No module named 'torch'\n", "torch-not-in-this-python"),
    (">>> torch.cuda.is_available()\nFalse\n", "cuda-unavailable-generic"),
    ("ERROR: No matching distribution found for torch\n", "no-wheel-for-python"),
])
def test_a_generic_signal_alone_is_a_low_generic_finding_listing_the_causes_that_fit(text, generic):
    findings = explain(text)
    assert [f.id for f in findings] == [generic]
    assert findings[0].confidence == "low"
    assert "generic message" in findings[0].basis
    for cid in PROBLEMS[generic].candidates:
        assert f"[{cid}]" in findings[0].cause


def test_a_generic_message_with_its_own_corroboration_is_medium():
    text = ("ModuleNotFoundError: No module named 'torch'\n"
            "Requirement already satisfied: torch in /anaconda/envs/azureml_py38/lib/python3.8/site-packages"
            " (1.12.0)\n")
    top = explain(text)[0]
    assert (top.id, top.confidence) == ("torch-not-in-this-python", "medium")


def test_evidence_against_a_cause_makes_it_low_and_is_named():
    # 'not compiled with CUDA' is the CPU-build message, but on macOS there is no CUDA build to install
    top = explain("AssertionError: Torch not compiled with CUDA enabled\nOS: macOS 14.2 (arm64)\n")[0]
    assert (top.id, top.confidence) == ("cpu-build-installed", "low")
    assert "'OS: macOS', which argues against it" in top.basis
    assert explain("AssertionError: Torch not compiled with CUDA enabled\n")[0].confidence == "high"


def test_two_families_own_messages_in_one_log_make_neither_high():
    findings = {f.id: f for f in explain(DRIVER + ISA)}
    assert findings["driver-too-old"].confidence == "medium"
    assert findings["rocm-kernel-wrong-isa"].confidence == "medium"
    assert "[rocm-kernel-wrong-isa]" in findings["driver-too-old"].basis
    # alone, each is high
    assert explain(ISA)[0].confidence == "high"


def test_facts_that_rule_out_the_rival_restore_the_level():
    # a Windows-only long-path message next to a Linux glibc message: the target decides
    long_path = ("ERROR: Could not install packages due to an OSError: [WinError 206] The filename or extension is too"
                 " long: 'C:\\\\venvs\\\\x'\n")
    glibc = "/lib64/libc.so.6: version `GLIBC_2.28' not found (required by torch/lib/libtorch_cpu.so)\n"
    both = {f.id: f for f in explain(long_path + glibc)}
    assert both["windows-long-paths"].confidence == "medium"
    on_windows = explain(long_path + glibc, facts=Facts(os="windows"))
    assert (on_windows[0].id, on_windows[0].confidence) == ("windows-long-paths", "high")
    assert "glibc-too-old" not in [f.id for f in on_windows]


def test_every_recorded_case_is_rated_and_the_top_finding_is_not_low_when_its_own_message_is_there():
    levels = {"high": 0, "medium": 0, "low": 0}
    for case in _all_cases():
        for f in explain(case["error_text"]):
            assert f.confidence in levels and f.basis, (case["id"], f.id)
        levels[explain(case["error_text"])[0].confidence] += 1
    # most real cases carry a message of their own; a catalog that rated them all low would say nothing
    assert levels["high"] > max(levels["medium"], levels["low"]) and levels["low"] > 0, levels


def test_doctor_findings_keep_their_json_shape():
    f = Finding(id="driver-too-old", family="driver", title="t", cause="c")
    assert list(f.to_json()) == ["id", "family", "title", "cause", "fix", "evidence"]
    rated = Finding(id="driver-too-old", family="driver", title="t", cause="c", confidence="low", basis="b")
    assert rated.to_json()["confidence"] == "low" and rated.to_json()["basis"] == "b"
    with pytest.raises(ValueError):
        Finding(id="x", family="driver", title="t", cause="c", confidence="sure")
