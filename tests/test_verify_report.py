"""verify's pure side: event parsing, crash handling, arch support, build labels, bench peaks."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from torchup.verify import CHECK_SCRIPT, peaks
from torchup.verify.report import MARK, arch_support, build_label, build_report, parse_events


def ev(obj) -> str:
    return MARK + json.dumps(obj)


def result(step, status="pass", detail="", data=None, device=None):
    out = {"event": "result", "step": step, "status": status, "detail": detail, "seconds": 0.01, "data": data or {}}
    if device:
        out["device"] = device
    return out


HEALTHY = [
    {"event": "hello", "protocol": 1, "light": False, "bench": False},
    {"event": "start", "step": "python"},
    result("python", data={"version": "3.12.3", "platform": "linux", "machine": "x86_64", "bits": 64}),
    {"event": "start", "step": "import-torch"},
    result("import-torch", data={"version": "2.8.0+cu128", "cuda": "12.8", "hip": None, "import_s": 2.5}),
    result("build", data={"arch_flags": ["sm_70", "sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"], "threads": 8}),
    result("devices", data={"cuda_available": True, "devices": [
        {"device": "cpu", "type": "cpu"},
        {"device": "cuda:0", "type": "cuda", "name": "NVIDIA GeForce RTX 4090", "capability": "8.9", "memory_mib": 24217},
    ]}),
    result("matmul", device="cuda:0"),
    {"event": "done"},
]


def test_parse_events_skips_noise_and_finds_marks_mid_line():
    text = "\n".join([
        "some library banner",
        ev({"event": "hello", "protocol": 1}),
        "partial C output without newline" + ev({"event": "start", "step": "x"}),
        MARK + "{not json",
        MARK + json.dumps([1, 2]),
        ev({"no_event": 1}),
    ])
    events = parse_events(text)
    assert [e["event"] for e in events] == ["hello", "start"]


def test_healthy_run_is_ok_and_judges_the_gpu_arch():
    rep = build_report(HEALTHY, python_executable="/env/bin/python", returncode=0)
    assert rep.ok
    assert rep.build_label == "CUDA 12.8"
    gpu = rep.devices[1]
    assert gpu.arch_ok is True and "sm_86" in gpu.arch_note  # 8.9 runs 8.6 cubins
    data = rep.to_json()
    assert data["ok"] is True
    assert data["devices"][1]["capability"] == "8.9"


def test_segfault_during_a_step_is_a_failed_check_with_stderr():
    events = HEALTHY[:-3] + [{"event": "start", "step": "matmul", "device": "cuda:0"}]
    rep = build_report(events, python_executable="p", returncode=-11, stderr="Fatal Python error: Segmentation fault\n  File x")
    assert not rep.ok
    fail = rep.failures[-1]
    assert fail.step == "matmul" and fail.device == "cuda:0"
    assert "signal 11 (SIGSEGV)" in fail.detail
    assert "Segmentation fault" in fail.data["stderr_tail"]
    assert rep.crashed.startswith("the check process was killed by signal 11")


def test_timeout_and_start_failure_are_reported_not_raised():
    rep = build_report(HEALTHY[:3] + [{"event": "start", "step": "import-torch"}], python_executable="p",
                       returncode=None, timed_out=True, timeout=30)
    assert "time limit (30 s) during step import-torch" in rep.failures[-1].detail
    assert rep.torch is None and not rep.ok
    rep = build_report([], python_executable="/nope", returncode=None, start_error="not found")
    assert rep.failures[0].step == "check-process"
    assert "could not be started (not found)" in rep.failures[0].detail


def test_exit_without_done_is_a_failure():
    rep = build_report(HEALTHY[:-1], python_executable="p", returncode=1)
    assert not rep.ok and rep.crashed == "the check process exited with code 1"


@pytest.mark.parametrize(
    "cc, flags, ok, words",
    [
        ("8.6", ["sm_80", "sm_86"], True, "sm_86 kernels are in the build"),
        ("8.9", ["sm_80", "sm_86"], True, "sm_86"),  # same major, lower minor
        ("12.0", ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"], False, "sm_120 is not in the build"),
        ("12.0", ["sm_90", "compute_90"], True, "PTX compute_90"),
        ("6.1", ["sm_70", "sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"], False, "sm_61"),
        ("9.0", ["sm_80", "sm_90a"], False, "sm_90"),  # sm_90a is not plain sm_90
        ("10.3", ["sm_100", "sm_120"], True, "sm_100"),  # B300 runs sm_100 cubins
        ("8.0", ["sm_90", "compute_90"], False, "sm_80"),  # PTX only runs on newer GPUs
    ],
)
def test_arch_support_cuda(cc, flags, ok, words):
    verdict, why = arch_support(cc, None, flags)
    assert verdict is ok and words in why


def test_arch_support_unknown_and_rocm():
    assert arch_support("8.6", None, [])[0] is None  # a CPU build lists nothing: cannot tell
    assert arch_support(None, "gfx90a:sramecc+:xnack-", ["gfx900", "gfx90a", "gfx942"])[0] is True
    verdict, why = arch_support(None, "gfx1031", ["gfx900", "gfx90a", "gfx1030", "gfx1100"])
    assert verdict is False and "gfx1031 is not among" in why


@pytest.mark.parametrize(
    "facts, label",
    [
        ({"cuda": "12.6"}, "CUDA 12.6"),
        ({"cuda": None, "hip": "6.4.43482-0f2d60242"}, "ROCm 6.4"),
        ({"xpu_compiled": True}, "XPU"),
        ({"mps_built": True}, "MPS"),
        ({"version": "2.13.0+cpu"}, "CPU"),
        (None, None),
    ],
)
def test_build_label(facts, label):
    assert build_label(facts) == label


def test_peaks_match_whole_names_only():
    assert peaks.expected_matmul("cuda", "NVIDIA L4", "bfloat16").value == 121000.0
    assert peaks.expected_matmul("cuda", "NVIDIA L40S", "bfloat16").value == 362000.0
    assert peaks.expected_matmul("cuda", "NVIDIA H100 80GB HBM3", "float32").value == 67000.0
    assert peaks.expected_matmul("cuda", "NVIDIA H100 PCIe", "float32").value == 51000.0
    assert peaks.expected_matmul("cuda", "NVIDIA H200 NVL", "float32").value == 60000.0
    assert peaks.expected_matmul("cuda", "Tesla T4", "bfloat16") is None  # Turing has no bf16 tensor cores
    assert peaks.expected_matmul("cuda", "NVIDIA GeForce RTX 3060", "float32") is None
    assert peaks.expected_copy("cuda", "NVIDIA A100-SXM4-80GB").value == 32.0
    assert peaks.expected_matmul("mps", "Apple MPS", "float32") is None


def test_bench_results_are_compared_and_flagged():
    events = HEALTHY[:-1] + [
        result("bench-matmul-bfloat16", device="cuda:0", data={"gflops": 20000.0}),
        result("bench-matmul-float32", device="cuda:0", data={"gflops": 60000.0}),
        result("bench-copy-h2d", device="cuda:0", data={"gbps": 24.0}),
        result("bench-matmul-float32", device="cpu", data={"gflops": 3.0}),
        {"event": "done"},
    ]
    rep = build_report(events, python_executable="p", returncode=0)
    by = {(b.device, b.what, b.dtype): b for b in rep.bench}
    bf16 = by[("cuda:0", "matmul", "bfloat16")]
    assert bf16.expected == 165200.0 and bf16.low  # 12% of an RTX 4090's dense bf16 peak
    assert not by[("cuda:0", "matmul", "float32")].low
    assert by[("cuda:0", "h2d", None)].expected == 32.0 and not by[("cuda:0", "h2d", None)].low
    cpu = by[("cpu", "matmul", "float32")]
    assert cpu.expected == peaks.cpu_floor_gflops(8, None) and cpu.low
    assert rep.ok  # slow is a warning, not a failed check


def test_check_script_is_old_python_syntax_and_stdlib_only():
    source = Path(CHECK_SCRIPT).read_text()
    ast.parse(source, feature_version=(3, 6))
    tree = ast.parse(source)
    top = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            top |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            top.add(node.module.split(".")[0])
    import sys

    # torch is the subject; numpy is optional (an ImportError is a skipped check)
    assert top - set(sys.stdlib_module_names) == {"torch", "numpy"}
    assert "except ImportError:\n            step.skip(\"numpy is not installed\")" in source
