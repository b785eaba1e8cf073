"""Co-resolution table: recorded machines (tests/fixtures/machines, replayed through the real
probe, the target Python pinned to 3.12 / glibc 2.35 as in test_resolve_replay) with packages,
and the stack each must get.

Every expectation is derived from the recorded facts, named in the case:
- PyPI metadata read by scripts/stack_metadata.py into src/torchup/catalog/data/stack.json
  (e.g. "xformers 0.0.33: Requires-Dist torch==2.9.0");
- the off-PyPI listings recorded there with their source (flash-attn's v2.8.3 assets stop at
  torch 2.8 with CUDA 12; PyG's torch-2.8.0 / 2.7.0 pages);
- the torch catalog: which builds run on the machine (driver 550 runs CUDA 12.x by minor-version
  compatibility, not 13; driver 470 only CUDA 11; PyPI's Linux default is cu128 for 2.8-2.10 and
  cu130 from 2.11).
The variant is the machine's own choice for the expected torch (what `plan --torch ==X` gives).
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from tests.test_probe_replay import replay
from torchup.catalog.load import load_catalog
from torchup.catalog.stack import load_stack
from torchup.plan import Plan, Refusal, Request
from torchup.resolve import resolve

CATALOG = load_catalog(use_cache=False)
STACK = load_stack({"TORCHUP_CACHE_DIR": "/nonexistent"})

# (fixture, --with specs, expected torch or a refusal code, expected pins {name: version}, source)
CASES = [
    ("rtx4090-driver550", ["xformers==0.0.33"], "2.9.0", {"xformers": "0.0.33"},
     "xformers 0.0.33: torch==2.9.0; 2.9.0's PyPI build is cu128, run by driver 550's minor-version compat"),
    ("rtx4090-driver550", ["xformers"], "2.14.1", {"xformers": "0.0.35"},
     "xformers 0.0.35 (newest): torch>=2.10; the best build here is 2.14.1 cu126"),
    ("rtx4090-driver550", ["vllm"], "2.10.0", {"vllm": "0.19.1"},
     "vllm 0.20-0.34 pin torch 2.11-2.14, whose PyPI builds are CUDA 13 (driver >= 580); 0.19.1 pins 2.10.0 (cu128)"),
    ("rtx4090-driver550", ["flash-attn"], "2.8.0", {"flash-attn": "2.8.3"},
     "flash-attn v2.8.3 assets: cu12 for torch 2.4-2.8; none for 2.9+"),
    ("rtx4090-driver550", ["torch-scatter"], "2.8.0", {"torch-scatter": "2.1.2+pt28cu128"},
     "pytorch_scatter README: torch-2.8.0+cu128 page; 2.8.0's best build here is PyPI's cu128"),
    ("rtx4090-driver550", ["bitsandbytes"], "2.14.1", {"bitsandbytes": "0.50.2"},
     "bitsandbytes 0.50.2: torch<3,>=2.4, py3-none-manylinux_2_24_x86_64"),
    ("rtx4090-driver550", ["torchcodec"], "2.14.1", {"torchcodec": "0.15.0"},
     "torchcodec 0.15: torch >= 2.11 (v0.15.0 release notes); 0.16/0.17 not in the recorded table"),
    ("h100-mig", ["vllm"], "2.14.0", {"vllm": "0.34.0"},
     "vllm 0.34.0: torch==2.14.0; its PyPI build is cu130, which driver 590 runs"),
    ("h100-mig", ["xformers==0.0.33"], "2.9.0", {"xformers": "0.0.33"}, "xformers 0.0.33: torch==2.9.0"),
    ("h100-mig", ["xformers==0.0.28.post3"], "2.5.1", {"xformers": "0.0.28.post3"},
     "xformers 0.0.28.post3: torch==2.5.1, cp312 manylinux_2_28_x86_64 wheel"),
    ("h100-mig", ["flash-attn"], "2.8.0", {"flash-attn": "2.8.3"}, "flash-attn v2.8.3 assets stop at torch 2.8"),
    ("h100-mig", ["flash-attn<2.8"], "2.6.0", {"flash-attn": "2.7.4.post1"},
     "flash-attn v2.7.4.post1 assets: cu12 for torch 2.2-2.6"),
    ("h100-mig", ["torch-scatter"], "2.8.0", {"torch-scatter": "2.1.2+pt28cu128"},
     "pytorch_scatter README: torch-2.8.0+{cpu,cu126,cu128,cu129}; 2.8.0's best build on driver 590 is PyPI's cu128"),
    ("h100-mig", ["flash-attn", "torch-scatter"], "2.8.0", {"flash-attn": "2.8.3", "torch-scatter": "2.1.2+pt28cu128"},
     "both stop at torch 2.8"),
    ("h100-mig", ["bitsandbytes"], "2.15.0", {"bitsandbytes": "0.50.2"}, "bitsandbytes 0.50.2: torch<3,>=2.4"),
    ("h100-mig", ["torchao"], "2.15.0", {"torchao": "0.18.0"}, "torchao 0.18.0: no torch requirement, cp310-abi3"),
    ("h100-mig", ["flashinfer-python"], "2.15.0", {"flashinfer-python": "0.7.4"},
     "flashinfer-python 0.7.4: Requires-Dist torch (no version), py3-none-any"),
    ("h100-mig", ["deepspeed"], "2.15.0", {"deepspeed": "0.19.8"}, "deepspeed 0.19.8: an sdist only, no torch pin read"),
    ("h100-mig", ["torchcodec"], "2.15.0", {"torchcodec": "0.15.0"}, "torchcodec 0.15: torch >= 2.11"),
    ("h100-mig", ["torchcodec<0.10"], "2.9.1", {"torchcodec": "0.9.1"},
     "torchcodec README table: 0.9 is for torch 2.9"),
    ("h100-mig", ["vllm", "xformers"], "2.14.0", {"vllm": "0.34.0", "xformers": "0.0.35"},
     "vllm 0.34.0 pins 2.14.0; xformers 0.0.35 takes torch>=2.10"),
    ("h100-mig", ["vllm", "flash-attn"], "2.8.0", {"vllm": "0.11.0", "flash-attn": "2.8.3"},
     "flash-attn stops at torch 2.8; vllm 0.10.2-0.11.0 pin torch==2.8.0"),
    ("h100-mig", ["vllm", "bitsandbytes", "torchao"], "2.14.0",
     {"vllm": "0.34.0", "bitsandbytes": "0.50.2", "torchao": "0.18.0"}, "the ranges admit vllm's pin"),
    ("h100-mig", ["xformers==0.0.33", "flash-attn"], "no-stack", {},
     "xformers 0.0.33 needs torch 2.9.0; flash-attn has no torch 2.9 asset"),
    ("h100-mig", ["xformers==9.9"], "no-release", {}, "the recorded xformers releases are 0.0.16 to 0.0.35"),
    ("no-gpu", ["torch-scatter"], "2.8.0", {"torch-scatter": "2.1.2+pt28cpu"}, "PyG torch-2.8.0+cpu page"),
    ("no-gpu", ["bitsandbytes"], "2.15.0", {"bitsandbytes": "0.50.2"}, "bitsandbytes 0.50.2: torch<3,>=2.4"),
    ("no-gpu", ["torchcodec"], "2.15.0", {"torchcodec": "0.15.0"}, "torchcodec 0.15: torch >= 2.11"),
    ("no-gpu", ["xformers"], "no-stack", {},
     "xformers' PyPI wheels are built for torch's CUDA build on PyPI; this machine gets the CPU builds"),
    ("no-gpu", ["flash-attn"], "no-stack", {}, "flash-attn's assets are CUDA 12 builds only"),
    ("amd-mi300x", ["torch-scatter"], "no-stack", {},
     "PyG's recorded pages are cpu and CUDA; the CPU build would leave the MI300X unused"),
    ("amd-mi300x", ["bitsandbytes"], "2.15.0", {"bitsandbytes": "0.50.2"}, "a range: any torch 2.4 to 3"),
    ("a10g-driver470-k8s", ["xformers"], "2.7.1", {"xformers": "0.0.31.post1"},
     "driver 470: CUDA 11 builds, cu118 ends at 2.7.1; xformers 0.0.31.post1 pins torch==2.7.1"),
    ("a10g-driver470-k8s", ["torch-scatter"], "2.7.1", {"torch-scatter": "2.1.2+pt27cu118"},
     "pytorch_scatter README: torch-2.7.0+cu118 page"),
    ("a10g-driver470-k8s", ["flash-attn"], "no-stack", {}, "flash-attn's assets need CUDA 12; driver 470 runs CUDA 11"),
    ("rtx5070-cuda-na", ["flash-attn"], "2.8.0", {"flash-attn": "2.8.3"},
     "sm_120 needs cu128/cu129; flash-attn's cu12 asset for torch 2.8"),
    ("rtx5070-cuda-na", ["vllm"], "2.10.0", {"vllm": "0.19.1"},
     "driver 575 < 580: vllm 0.20+ pin torches whose PyPI build is CUDA 13; 0.19.1 pins 2.10.0 (cu128)"),
    ("intel-arc-a750", ["torchao"], "2.15.0", {"torchao": "0.18.0"}, "torchao 0.18.0: no torch requirement"),
    ("intel-arc-a750", ["xformers"], "no-stack", {},
     "xformers has builds for PyPI's CUDA build and PyTorch's CUDA indexes, not for xpu"),
]

_MACHINES: dict = {}


def machine_for(fixture, tmp_path_factory):
    if fixture not in _MACHINES:
        m = replay(fixture, tmp_path_factory.mktemp(fixture), timeout=5)
        _MACHINES[fixture] = replace(m, python="3.12", libc="glibc 2.35", free_threaded=False)
    return _MACHINES[fixture]


def test_enough_cases():
    assert len(CASES) >= 30


@pytest.mark.parametrize("fixture, specs, torch, pins, source", CASES,
                         ids=[f"{c[0]}:{'+'.join(c[1])}" for c in CASES])
def test_stack(tmp_path_factory, fixture, specs, torch, pins, source):
    machine = machine_for(fixture, tmp_path_factory)
    result = resolve(machine, Request(with_packages=tuple(specs)), CATALOG, stack=STACK)
    if torch in ("no-stack", "no-release"):
        assert isinstance(result, Refusal), source
        assert result.code == torch, (result.code, result.reasons)
        assert result.reasons
        return
    assert isinstance(result, Plan), (source, result.reasons)
    assert result.base_version == torch, source
    assert {p.name: p.version for p in result.stack} == pins, source
    alone = resolve(machine, Request(torch=f"=={torch}"), CATALOG)
    assert (result.torch, result.variant) == (alone.torch, alone.variant)
    for pin in result.stack:
        assert pin.reason.startswith(pin.name), pin.reason
        assert sum(x is not None for x in (pin.index_url, pin.find_links, pin.url)) <= 1
        if "+pt" in pin.version:  # PyG: the page of this torch and variant
            variant = re.fullmatch(r"pt\d+?(cpu|cu\d+)", pin.version.split("+")[1]).group(1)
            minor = ".".join(torch.split(".")[:2])
            assert pin.find_links == f"https://data.pyg.org/whl/torch-{minor}.0+{variant}.html"


def test_an_older_torch_is_explained(tmp_path_factory):
    """What forced the older torch is said, with the torch it would have been."""
    plan = resolve(machine_for("h100-mig", tmp_path_factory), Request(with_packages=("flash-attn",)), CATALOG,
                   stack=STACK)
    assert ("flash-attn has no wheel for torch 2.15 with CUDA 13.0 for Python 3.12 on linux x86_64: "
            "torch 2.8.0 instead of 2.15.0") in plan.reasons
    assert any(r.startswith("flash-attn 2.8.3 has a wheel built for torch 2.8 with CUDA 12") for r in plan.reasons)


def test_the_refusal_lists_the_options_with_their_cost(tmp_path_factory):
    machine = machine_for("amd-mi300x", tmp_path_factory)
    refusal = resolve(machine, Request(with_packages=("torch-scatter",)), CATALOG, stack=STACK)
    assert isinstance(refusal, Refusal)
    said = "\n".join(refusal.reasons)
    assert "option: torch 2.8.0 (cpu) fits them all, but it leaves the GPU unused" in said
    assert "option: build torch-scatter from source" in said and "C++17 compiler" in said
    assert "option: leave a package out of --with" in said
    assert refusal.considered  # the builds, for --explain
