"""Co-resolution table: recorded machines (tests/fixtures/machines, replayed through the real
probe, the target Python pinned to 3.12 / glibc 2.35 as in test_resolve_replay) with packages,
and the stack each must get.

Every expectation is derived from the recorded facts, named in the case:
- PyPI metadata read by scripts/stack_metadata.py into src/torchup/catalog/data/stack.json
  (e.g. "xformers 0.0.33: Requires-Dist torch==2.9.0");
- the facts recorded there from the packages' own sources, each naming repository and commit
  (docs/stack.md, "Where each fact comes from"):
  FA = Dao-AILab/flash-attention .github/workflows/publish.yml at tags v2.8.3.post1 (a8aa52b1) and
  v2.8.3 (060c9188): torch 2.4.0-2.8.0, CUDA 12.9.1, Python 3.9-3.13 (not 3.13 with torch 2.4),
  both C++ ABIs; at v2.7.4.post1 (5231d95f): torch 2.2.2-2.6.0, CUDA 12.4.1; at v2.7.0.post2-v2.7.3:
  torch 2.1-2.5 with CUDA 11.8.0 and 12.x;
  SCATTER = rusty1s/pytorch_scatter .github/workflows/building.yml at efbe465d (torch 2.8.0: cpu,
  cu126, cu128, cu129) and 38289bfa (torch 2.7.0: cpu, cu118, cu126, cu128);
  XF = facebookresearch/xformers .github/workflows/wheels.yml at each release tag: the build its
  PyPI wheel is for (upload_pip) and the variants it uploads to PyTorch's index (upload_pt);
  CODEC = meta-pytorch/torchcodec@78ed5ad8 README.md's compatibility table (0.0.3 to 0.16);
- the torch catalog: which builds run on the machine (driver 550 runs CUDA 12.x by minor-version
  compatibility, not 13; driver 470 only CUDA 11; PyPI's Linux default is cu128 for 2.8-2.10 and
  cu130 from 2.11).
The variant is the machine's own choice for the expected torch (what `plan --torch ==X` gives).
"""

from __future__ import annotations

import re

import pytest
from packaging.requirements import Requirement

from tests.test_probe_replay import replay
from torchup.catalog.load import load_catalog
from torchup.catalog.stack import load_stack, stack_from_dict
from torchup.plan import Plan, Refusal, Request
from torchup.record import replace
from torchup.resolve import resolve
from torchup.stack import Point, Target, _wheel_fits, co_resolve, cxx11_abi

CATALOG = load_catalog(use_cache=False)
STACK = load_stack({"TORCHUP_CACHE_DIR": "/nonexistent"})

# (fixture, --with specs, expected torch or a refusal code, expected pins {name: version}, source)
CASES = [
    ("rtx4090-driver550", ["xformers==0.0.33"], "2.9.0", {"xformers": "0.0.33"},
     "xformers 0.0.33: torch==2.9.0; 2.9.0's PyPI build is cu128, run by driver 550's minor-version compat; "
     "XF@aa7bc366: its cu128 build is on PyTorch's index"),
    ("rtx4090-driver550", ["xformers"], "2.14.1", {"xformers": "0.0.35"},
     "xformers 0.0.35 (newest): torch>=2.10; the best build here is 2.14.1 cu126"),
    ("rtx4090-driver550", ["vllm"], "2.10.0", {"vllm": "0.19.1"},
     "vllm 0.20-0.34 pin torch 2.11-2.14, whose PyPI builds are CUDA 13 (driver >= 580); 0.19.1 pins 2.10.0 (cu128)"),
    ("rtx4090-driver550", ["flash-attn"], "2.8.0", {"flash-attn": "2.8.3.post1"},
     "FA@a8aa52b1 (v2.8.3.post1, the newest tag read): cu12 for torch 2.4-2.8; no workflow builds 2.9+"),
    ("rtx4090-driver550", ["torch-scatter"], "2.8.0", {"torch-scatter": "2.1.2+pt28cu128"},
     "SCATTER@efbe465d: torch 2.8.0 cu128; 2.8.0's best build here is PyPI's cu128"),
    ("rtx4090-driver550", ["bitsandbytes"], "2.14.1", {"bitsandbytes": "0.50.2"},
     "bitsandbytes 0.50.2: torch<3,>=2.4, py3-none-manylinux_2_24_x86_64"),
    ("rtx4090-driver550", ["torchcodec"], "2.14.1", {"torchcodec": "0.16.0"},
     "CODEC: 0.16 -> torch >=2.11; 0.17 (on PyPI) is not in the table read"),
    ("h100-mig", ["vllm"], "2.14.0", {"vllm": "0.34.0"},
     "vllm 0.34.0: torch==2.14.0; its PyPI build is cu130, which driver 590 runs"),
    ("h100-mig", ["xformers==0.0.33"], "2.9.0", {"xformers": "0.0.33"}, "xformers 0.0.33: torch==2.9.0"),
    ("h100-mig", ["xformers==0.0.28.post3"], "2.5.1", {"xformers": "0.0.28.post3"},
     "xformers 0.0.28.post3: torch==2.5.1, cp312 manylinux_2_28_x86_64 wheel"),
    ("h100-mig", ["flash-attn"], "2.8.0", {"flash-attn": "2.8.3.post1"}, "FA@a8aa52b1: its matrix stops at torch 2.8"),
    ("h100-mig", ["flash-attn<2.8"], "2.6.0", {"flash-attn": "2.7.4.post1"},
     "FA@5231d95f (v2.7.4.post1): cu12 for torch 2.2-2.6"),
    ("h100-mig", ["flash-attn==2.8.3"], "2.8.0", {"flash-attn": "2.8.3"}, "FA@060c9188 (v2.8.3): torch 2.8.0"),
    ("h100-mig", ["torch-scatter"], "2.8.0", {"torch-scatter": "2.1.2+pt28cu128"},
     "SCATTER@efbe465d: torch 2.8.0 cpu, cu126, cu128, cu129; 2.8.0's best build on driver 590 is PyPI's cu128"),
    ("h100-mig", ["flash-attn", "torch-scatter"], "2.8.0",
     {"flash-attn": "2.8.3.post1", "torch-scatter": "2.1.2+pt28cu128"}, "both stop at torch 2.8 (FA, SCATTER)"),
    ("h100-mig", ["bitsandbytes"], "2.15.0", {"bitsandbytes": "0.50.2"}, "bitsandbytes 0.50.2: torch<3,>=2.4"),
    ("h100-mig", ["torchao"], "2.15.0", {"torchao": "0.18.0"}, "torchao 0.18.0: no torch requirement, cp310-abi3"),
    ("h100-mig", ["flashinfer-python"], "2.15.0", {"flashinfer-python": "0.7.4"},
     "flashinfer-python 0.7.4: Requires-Dist torch (no version), py3-none-any"),
    ("h100-mig", ["deepspeed"], "2.15.0", {"deepspeed": "0.19.8"}, "deepspeed 0.19.8: an sdist only, no torch pin read"),
    ("h100-mig", ["torchcodec"], "2.15.0", {"torchcodec": "0.16.0"}, "CODEC: 0.16 -> torch >=2.11"),
    ("h100-mig", ["torchcodec<0.10"], "2.9.1", {"torchcodec": "0.9.1"}, "CODEC: 0.9 -> torch 2.9"),
    ("h100-mig", ["torchcodec<0.12"], "2.11.0", {"torchcodec": "0.11.1"}, "CODEC: 0.11 -> torch 2.11"),
    ("h100-mig", ["torchcodec<0.11"], "2.10.0", {"torchcodec": "0.10.0"}, "CODEC: 0.10 -> torch 2.10"),
    ("h100-mig", ["vllm", "xformers"], "2.14.0", {"vllm": "0.34.0", "xformers": "0.0.35"},
     "vllm 0.34.0 pins 2.14.0; xformers 0.0.35 takes torch>=2.10"),
    ("h100-mig", ["vllm", "flash-attn"], "2.8.0", {"vllm": "0.11.0", "flash-attn": "2.8.3.post1"},
     "FA stops at torch 2.8; vllm 0.10.2-0.11.0 pin torch==2.8.0"),
    ("h100-mig", ["vllm", "bitsandbytes", "torchao"], "2.14.0",
     {"vllm": "0.34.0", "bitsandbytes": "0.50.2", "torchao": "0.18.0"}, "the ranges admit vllm's pin"),
    ("h100-mig", ["xformers==0.0.33", "flash-attn"], "no-stack", {},
     "xformers 0.0.33 needs torch 2.9.0; flash-attn has no torch 2.9 asset"),
    ("h100-mig", ["xformers==9.9"], "no-release", {}, "the recorded xformers releases are 0.0.16 to 0.0.35"),
    ("no-gpu", ["torch-scatter"], "2.8.0", {"torch-scatter": "2.1.2+pt28cpu"}, "SCATTER@efbe465d: torch 2.8.0 cpu"),
    ("no-gpu", ["bitsandbytes"], "2.15.0", {"bitsandbytes": "0.50.2"}, "bitsandbytes 0.50.2: torch<3,>=2.4"),
    ("no-gpu", ["torchcodec"], "2.15.0", {"torchcodec": "0.16.0"}, "CODEC: 0.16 -> torch >=2.11"),
    ("no-gpu", ["xformers"], "no-stack", {},
     "XF: its PyPI wheels and PyTorch-index uploads are CUDA and ROCm builds; this machine gets the CPU builds"),
    ("no-gpu", ["flash-attn"], "no-stack", {}, "FA: CUDA 11 and 12 builds only"),
    ("amd-mi300x", ["torch-scatter"], "no-stack", {},
     "PyG's recorded pages are cpu and CUDA; the CPU build would leave the MI300X unused"),
    ("amd-mi300x", ["bitsandbytes"], "2.15.0", {"bitsandbytes": "0.50.2"}, "a range: any torch 2.4 to 3"),
    ("a10g-driver470-k8s", ["xformers"], "2.7.1", {"xformers": "0.0.31.post1"},
     "driver 470: CUDA 11 builds, cu118 ends at 2.7.1; xformers 0.0.31.post1 pins torch==2.7.1; "
     "XF@8354497d uploads its cu118 build to PyTorch's index"),
    ("a10g-driver470-k8s", ["xformers==0.0.33"], "no-stack", {},
     "XF@aa7bc366: 0.0.33 is built for cu126, cu128, cu130 (index) and cu130 (PyPI); driver 470 runs CUDA 11 only"),
    ("a10g-driver470-k8s", ["torch-scatter"], "2.7.1", {"torch-scatter": "2.1.2+pt27cu118"},
     "SCATTER@38289bfa: torch 2.7.0 cu118"),
    ("a10g-driver470-k8s", ["flash-attn"], "2.5.1", {"flash-attn": "2.7.3"},
     "driver 470 runs CUDA 11; FA@89c5a7dd (v2.7.3, the newest tag building CUDA 11.8.0): cu11 assets for torch "
     "2.1-2.5; cu118 torch 2.5.1 is the newest build here it fits"),
    ("rtx5070-cuda-na", ["flash-attn"], "2.8.0", {"flash-attn": "2.8.3.post1"},
     "sm_120 needs cu128/cu129; FA@a8aa52b1's cu12 asset for torch 2.8"),
    ("rtx5070-cuda-na", ["vllm"], "2.10.0", {"vllm": "0.19.1"},
     "driver 575 < 580: vllm 0.20+ pin torches whose PyPI build is CUDA 13; 0.19.1 pins 2.10.0 (cu128)"),
    ("intel-arc-a750", ["torchao"], "2.15.0", {"torchao": "0.18.0"}, "torchao 0.18.0: no torch requirement"),
    ("intel-arc-a750", ["xformers"], "no-stack", {},
     "XF: its builds are CUDA and ROCm variants, not xpu"),
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
    assert any(r.startswith("flash-attn 2.8.3.post1 has a wheel built for torch 2.8 with CUDA 12 (Dao-AILab/")
               for r in plan.reasons)


def test_the_refusal_lists_the_options_with_their_cost(tmp_path_factory):
    machine = machine_for("amd-mi300x", tmp_path_factory)
    refusal = resolve(machine, Request(with_packages=("torch-scatter",)), CATALOG, stack=STACK)
    assert isinstance(refusal, Refusal)
    said = "\n".join(refusal.reasons)
    assert "option: torch 2.8.0 (cpu) fits them all, but it leaves the GPU unused" in said
    assert "option: build torch-scatter from source" in said and "C++17 compiler" in said
    assert "option: leave a package out of --with" in said
    assert refusal.considered  # the builds, for --explain


# --- the pure parts, over plain data ----------------------------------------------------------

LINUX = Target(os="linux", arch="x86_64", python="3.12", glibc=(2, 35))


@pytest.mark.parametrize("tag, target, fits", [
    ("cp39-abi3-manylinux_2_28_x86_64", LINUX, True),
    ("cp313-abi3-manylinux_2_28_x86_64", LINUX, False),  # abi3 from 3.13 on
    ("cp39-abi3-manylinux_2_28_x86_64", replace(LINUX, free_threaded=True), False),  # no abi3 when free-threaded
    ("cp312-cp312t-manylinux_2_28_x86_64", replace(LINUX, free_threaded=True), True),
    ("cp312-cp312-manylinux_2_28_x86_64", replace(LINUX, free_threaded=True), False),
    ("cp312-cp312-manylinux_2_28_x86_64", replace(LINUX, glibc=(2, 27)), False),  # glibc floor
    ("cp312-cp312-musllinux_1_2_x86_64", LINUX, False),
    ("cp312-cp312-musllinux_1_2_x86_64", replace(LINUX, musl=True), True),
    ("cp312-cp312-manylinux_2_28_aarch64", LINUX, False),
    ("py3-none-any", LINUX, True),
    ("py39-none-manylinux_2_28_x86_64", LINUX, True),
    ("cp312-cp312-macosx_14_0_arm64", Target(os="macos", arch="aarch64", python="3.12", macos=(13, 6)), False),
    ("cp312-cp312-macosx_14_0_arm64", Target(os="macos", arch="aarch64", python="3.12", macos=(15, 1)), True),
    ("cp312-cp312-win_amd64", Target(os="windows", arch="x86_64", python="3.12"), True),
])
def test_wheel_tags_against_the_machine(tag, target, fits):
    assert _wheel_fits(tag, target) is fits


def _stack(**packages):
    base = {"hosts": ["pypi"], "encoding": "-", "sources": {"binding": "test data"}}
    return stack_from_dict({"format": 1, "packages": {n: {**base, **p} for n, p in packages.items()}})


def test_markers_of_the_torch_requirement_are_evaluated_for_the_machine():
    stack = _stack(pkg={"binding": "exact-pin", "releases": [
        {"version": "1.0", "requires_torch": ['torch==2.5.1; platform_machine == "x86_64"',
                                              'torch==2.4.0; platform_machine == "aarch64"'],
         "wheels": ["py3-none-any"]}]})
    points = [Point(torch="2.5.1", variant="cu124", cuda="12.4", pypi_default=True, gpus=1),
              Point(torch="2.4.0", variant="cu124", cuda="12.4", pypi_default=True, gpus=1)]
    x86 = co_resolve(points, [Requirement("pkg")], stack, LINUX)
    arm = co_resolve(points, [Requirement("pkg")], stack, replace(LINUX, arch="aarch64"))
    assert (x86.index, arm.index) == (0, 1)
    assert arm.reasons[-1] == "pkg 1.0 pins torch==2.4.0: torch 2.4.0 instead of 2.5.1"


def test_an_exact_pin_on_a_cuda_variant_comes_from_pytorchs_index_only_where_published():
    release = {"version": "1.0", "requires_torch": ["torch==2.9.0"], "wheels": ["py3-none-any"]}
    on_index = _stack(pkg={"binding": "exact-pin", "hosts": ["pypi", "pytorch-index"], "releases": [release]})
    pypi_only = _stack(pkg={"binding": "exact-pin", "releases": [release]})
    point = Point(torch="2.9.0", variant="cu126", cuda="12.6", index_url="https://mirror.example/whl/cu126", gpus=1)
    choice = co_resolve([point], [Requirement("pkg")], on_index, LINUX)
    assert choice.pins[0].index_url == "https://mirror.example/whl/cu126"
    refusal = co_resolve([point], [Requirement("pkg")], pypi_only, LINUX)
    assert refusal.code == "no-stack"
    assert "pkg 1.0's wheel is built for torch 2.9.0's default build on PyPI, not for the cu126 build" in refusal.reasons[0]


@pytest.mark.parametrize("torch, variant, abi", [
    ("2.5.1", "cu124", "cxx11abiFALSE"),
    ("2.6.0", "cu124", "cxx11abiFALSE"),
    ("2.6.0", "cu126", "cxx11abiTRUE"),  # PyTorch 2.6's CUDA 12.6 builds use the C++11 ABI (PR #142064)
    ("2.7.1", "cu118", "cxx11abiTRUE"),  # every Linux build from 2.7 on (PR #143423)
    ("2.8.0", "cu128", "cxx11abiTRUE"),
])
def test_flash_attn_takes_the_cxx11_abi_torch_was_built_with(torch, variant, abi):
    cuda = f"{variant[2:-1]}.{variant[-1]}"
    point = Point(torch=torch, variant=variant, cuda=cuda, gpus=1)
    if cuda.startswith("11"):  # flash-attn's assets are CUDA 12 builds: the rule alone
        assert cxx11_abi(torch, variant) is (abi == "cxx11abiTRUE")
        return
    (pin,) = co_resolve([point], [Requirement("flash-attn")], STACK, LINUX).pins
    assert f"torch{torch[:3]}{abi}-cp312-cp312-linux_x86_64.whl" in pin.url


def test_flash_attn_has_no_python_3_13_wheel_for_torch_2_4():
    """FA@060c9188 / a8aa52b1: the matrix excludes torch 2.4.0 with Python 3.13."""
    point = Point(torch="2.4.1", variant="cu124", cuda="12.4", gpus=1)
    py313 = co_resolve([point], [Requirement("flash-attn")], STACK, replace(LINUX, python="3.13"))
    assert py313.code == "no-stack"
    py312 = co_resolve([point], [Requirement("flash-attn")], STACK, LINUX)
    assert [p.version for p in py312.pins] == ["2.8.3.post1"]
    assert py312.unconfirmed == ()


def test_xformers_comes_from_where_its_workflow_uploaded_it(tmp_path_factory):
    """XF@aa7bc366 (v0.0.33): upload_pip takes the torch2.9.0+cu130 build, upload_pt sends cu126, cu128
    and cu130 to PyTorch's index; XF@5d4b92a5 (v0.0.32.post2): PyPI gets torch2.8.0+cu128."""
    machine = machine_for("rtx4090-driver550", tmp_path_factory)
    plan = resolve(machine, Request(with_packages=("xformers==0.0.33",)), CATALOG, stack=STACK)
    (pin,) = plan.stack
    # torch from PyPI (its 2.9.0 build there is cu128), xformers from PyTorch's cu128 index
    assert (plan.variant, pin.index_url) == ("pypi", "https://download.pytorch.org/whl/cu128")
    assert "its PyPI wheel is built for cu130, so its cu128 build comes from PyTorch's index" in pin.reason
    older = resolve(machine, Request(with_packages=("xformers==0.0.32.post2",)), CATALOG, stack=STACK)
    (pin,) = older.stack
    assert (older.base_version, pin.index_url) == ("2.8.0", None)
    assert "its PyPI wheel is built for the cu128 build" in pin.reason
    assert not any("no primary source confirmed" in w for w in plan.warnings + older.warnings)


def test_a_plan_on_unconfirmed_facts_says_so_once(tmp_path_factory):
    """rusty1s/pytorch_sparse's building workflow (up to 91feaa5e, its newest commit read) never builds
    torch 2.8: the torch 2.8 listing is kept, unconfirmed, and the plan warns about it once."""
    machine = machine_for("h100-mig", tmp_path_factory)
    plan = resolve(machine, Request(with_packages=("torch-sparse", "torch-cluster")), CATALOG, stack=STACK)
    assert plan.base_version == "2.8.0"
    said = [w for w in plan.warnings if "no primary source confirmed" in w]
    assert len(said) == 1
    assert "the packages chosen with torch rest on facts no primary source confirmed" in said[0]
    assert "torch-sparse 0.6.18's wheel for torch 2.8.0 with CUDA 12.8" in said[0]
    assert "torch-cluster 1.6.3's wheel" in said[0] and "rusty1s/pytorch_sparse up to" in said[0]
    sourced = resolve(machine, Request(with_packages=("torch-sparse<0.6.19", "torch-scatter"), torch="<2.8"),
                      CATALOG, stack=STACK)
    assert sourced.base_version == "2.7.1"
    assert not any("no primary source confirmed" in w for w in sourced.warnings)


def test_confirmed_is_what_the_data_says():
    listing = {"version": "1.0", "torch": "2.8", "cuda": "12", "pythons": ["cp312"], "platforms": ["linux_x86_64"],
               "abi": "cxx11abiTRUE", "source": "somewhere"}
    point = Point(torch="2.8.0", variant="cu128", cuda="12.8", gpus=1)
    for confirmed in (True, False, None):
        data = dict(listing) if confirmed is None else {**listing, "confirmed": confirmed}
        stack = _stack(pkg={"binding": "per-torch", "listings": [data], "url": "https://x/{version}/{filename}"})
        choice = co_resolve([point], [Requirement("pkg")], stack, LINUX)
        assert bool(choice.unconfirmed) is (confirmed is not True), confirmed
        if choice.unconfirmed:
            assert choice.unconfirmed == ("pkg 1.0's wheel for torch 2.8.0 with CUDA 12.8 [somewhere]",)


def test_torchcodec_releases_outside_the_table_are_never_chosen():
    """CODEC: the table starts at 0.0.3; 0.0.1 and 0.0.2 have no row, 0.17 is newer than the README read."""
    point = Point(torch="2.4.0", variant="cu124", cuda="12.4", pypi_default=True, gpus=1)
    refusal = co_resolve([point], [Requirement("torchcodec<0.0.3")], STACK, LINUX)
    assert refusal.code == "no-stack"
    assert "torchcodec 0.0.2 is not in its compatibility table as torchup recorded it" in refusal.reasons[0]
    choice = co_resolve([point], [Requirement("torchcodec")], STACK, LINUX)
    assert [p.version for p in choice.pins] == ["0.0.3"]


def test_unknown_names_and_impossible_specs_are_refused():
    point = Point(torch="2.9.0", variant="cu128", cuda="12.8", pypi_default=True, gpus=1)
    unknown = co_resolve([point], [Requirement("transformers")], STACK, LINUX)
    assert unknown.code == "unknown-package" and "xformers" in unknown.reasons[0]
    none = co_resolve([point], [Requirement("vllm>=99")], STACK, LINUX)
    assert none.code == "no-release"


def test_the_reason_names_what_kept_the_pinned_torch_out(tmp_path_factory):
    """vllm 0.34.0 pins torch 2.14.0, whose cu126 build runs on driver 550 but is not the build
    vllm's wheel is for (PyPI's, CUDA 13): that is the reason, not the pin."""
    plan = resolve(machine_for("rtx4090-driver550", tmp_path_factory), Request(with_packages=("vllm",)), CATALOG,
                   stack=STACK)
    assert ("vllm 0.34.0's wheel is built for torch 2.14.0's default build on PyPI, not for the cu126 build: "
            "torch 2.10.0 instead of 2.14.1") in plan.reasons


def test_with_and_torch_constraints_together(tmp_path_factory):
    machine = machine_for("h100-mig", tmp_path_factory)
    plan = resolve(machine, Request(torch="2.8", with_packages=("xformers",)), CATALOG, stack=STACK)
    assert (plan.base_version, [(p.name, p.version) for p in plan.stack]) == ("2.8.0", [("xformers", "0.0.32.post2")])
    refusal = resolve(machine, Request(torch="2.8", with_packages=("xformers==0.0.33",)), CATALOG, stack=STACK)
    assert refusal.code == "no-stack"
    assert "xformers==0.0.33: none of the builds considered has a prebuilt wheel of it" in "\n".join(refusal.reasons)
    assert refusal.reasons[-1] == "only the builds your constraints allow were considered"
