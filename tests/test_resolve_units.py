"""resolve's smaller promises: companions, warnings, index base, manager detection,
wheel architecture, the JSON contract of a refusal."""

from __future__ import annotations

import re
from torchup.record import replace
from datetime import date, timedelta

import pytest

from torchup.catalog.load import load_catalog
from torchup.commands.plan import detect_manager
from torchup.machine import Gpu, Machine
from torchup.plan import Plan, Refusal, Request
from torchup.resolve import machine_summary, parse_torch_spec, resolve, wheel_arch

CATALOG = load_catalog(use_cache=False)
TODAY = date.fromisoformat(CATALOG.data_date)
CPU_BOX = Machine(os="linux", arch="x86_64", python="3.12", python_bits=64, libc="glibc 2.35")
RTX4090 = replace(CPU_BOX, nvidia_driver="580.65.06",
                  gpus=(Gpu(vendor="nvidia", name="NVIDIA GeForce RTX 4090", compute_capability="8.9"),))


def plan_for(machine, request=Request(), today=TODAY) -> Plan:
    result = resolve(machine, request, CATALOG, today=today)
    assert isinstance(result, Plan), getattr(result, "reasons", result)
    return result


def test_companions_carry_the_build_label_and_an_unmatched_torchaudio_is_left_out():
    plan = plan_for(RTX4090)
    # torchvision 0.29.2 and torchaudio 2.11.1 came out with 2.15.0 (PyPI metadata: torch >= 2.14.0 / >= 2.11);
    # each is one py3 wheel per platform, so no +cu130 label: the bare pin matches whatever file the index has
    assert (plan.torchvision, plan.torchaudio) == ("0.29.2", "2.11.1")
    older = plan_for(RTX4090, Request(torch="2.14.1", variant="cu126"))
    assert (older.torch, older.torchvision) == ("2.14.1+cu126", "0.29.1+cu126")
    # no torchaudio was built for 2.14.1: the newest that admits it (2.11.1) is named, not installed
    assert older.torchaudio is None
    assert any("torchaudio" in w and "2.11.1" in w for w in older.warnings)


def test_companions_of_an_older_release_are_pinned_exactly():
    plan = plan_for(CPU_BOX, Request(torch="==2.5.1"))
    assert (plan.torch, plan.torchvision, plan.torchaudio) == ("2.5.1+cpu", "0.20.1+cpu", "2.5.1+cpu")


def test_pypi_plans_carry_no_local_label_and_no_index():
    mac = Machine(os="macos", arch="aarch64", python="3.12", python_bits=64, macos_version="15.1")
    plan = plan_for(mac)
    assert (plan.torch, plan.variant, plan.index_url, plan.torchvision) == ("2.15.0", "pypi", None, "0.29.2")


def test_companions_can_be_left_out_on_request():
    plan = plan_for(CPU_BOX, Request(with_torchvision=False, with_torchaudio=False))
    assert plan.torchvision is None and plan.torchaudio is None
    assert not any("torchaudio" in w for w in plan.warnings)


def test_index_base_is_used_for_the_index_url():
    plan = plan_for(CPU_BOX, Request(index_base="http://127.0.0.1:8080/whl"))
    assert plan.index_url == "http://127.0.0.1:8080/whl/cpu"


def test_stale_catalog_is_reported_with_the_refresh_command():
    old = plan_for(CPU_BOX, today=TODAY + timedelta(days=200))
    assert old.catalog_age_days == 200
    assert any("200 days old" in w and "torchup catalog refresh" in w for w in old.warnings)
    fresh = plan_for(CPU_BOX)
    assert not any("catalog refresh" in w for w in fresh.warnings)


def test_unconfirmed_facts_are_named_and_confirmed_builds_say_nothing():
    # 2.15.0's cu130 build rests on an RFC, not on a released matrix (compat-facts 1a: no 2.15 data)
    plan = plan_for(RTX4090)
    assert any("no primary source confirmed" in w and "2.15.0+cu130" in w for w in plan.warnings)
    # 2.5.1's CPU build on macOS arm64 is read from PyPI itself
    mac = Machine(os="macos", arch="aarch64", python="3.12", python_bits=64, macos_version="15.1")
    old = plan_for(mac, Request(torch="==2.5.1"))
    assert not any("no primary source confirmed" in w for w in old.warnings)


def test_the_unconfirmed_warning_names_sources_in_whole_words_and_only_facts_the_build_has():
    # a source is named by its whole description: nothing is cut, nothing ends with "…"
    plan = plan_for(RTX4090)
    said = next(w for w in plan.warnings if "no primary source confirmed" in w)
    assert "…" not in said and f"[{CATALOG.describe_source('PATTERN')}]" in said
    # PyPI's pins say which build PyPI serves: that is no longer put down as unconfirmed for the others
    assert "whether PyPI serves it" not in said
    # a Windows build has no glibc floor to be unsure of
    win = plan_for(Machine(os="windows", arch="x86_64", python="3.12", python_bits=64,
                           gpus=(Gpu(vendor="intel", name="Intel(R) Arc(TM) 140V GPU"),)))
    assert not any("glibc" in w for w in win.warnings)


def test_minor_version_compatibility_is_said_in_the_reasons():
    machine = replace(RTX4090, nvidia_driver="550.54.14")
    plan = plan_for(machine)
    assert plan.variant == "cu126"
    assert any("by minor-version compatibility" in r for r in plan.reasons)


def test_ptx_only_coverage_is_a_warning():
    # A hypothetical sm_130 GPU: no build has a 13.x cubin, so only a build carrying PTX (which the
    # driver JIT-compiles for a newer major) can serve it: the newest such Linux x86_64 build in the catalog.
    with_ptx = [b for b in CATALOG.builds(os="linux", arch="x86_64", python="cp312") if b.kind == "cuda" and b.ptx]
    newest = max(with_ptx, key=lambda b: tuple(int(x) for x in b.torch.split(".")))
    gpu = Gpu(vendor="nvidia", name="future GPU", compute_capability="13.0")
    plan = plan_for(replace(RTX4090, gpus=(gpu,), nvidia_driver="600.10"))
    assert plan.base_version == newest.torch
    chosen = CATALOG.builds(os="linux", arch="x86_64", torch=newest.torch,
                            variant=None if plan.variant == "pypi" else plan.variant)
    assert any(b.ptx for b in chosen if b.kind == "cuda")
    assert any("runs through PTX JIT" in w for w in plan.warnings)


def test_ptx_jit_needs_a_driver_of_full_support_not_minor_version_compatibility():
    # PTX made by CUDA 12.9 cannot be JIT-compiled by a 12.4 driver (NVIDIA's CUDA Compatibility
    # guide: minor-version compatibility runs compiled kernels only). Driver 550 runs cu126/cu129
    # by minor-version compatibility, so a GPU those builds serve only through PTX gets no GPU
    # build from them; the advice names the driver of full support. A sweep found the plan
    # recommending such a build while saying "JIT of newer PTX is not available" (2026-12-04).
    gpu = Gpu(vendor="nvidia", name="future GPU", compute_capability="13.0")
    plan = plan_for(replace(RTX4090, gpus=(gpu,), nvidia_driver="550.54.14"))
    chosen = CATALOG.builds(os="linux", arch="x86_64", torch=plan.base_version,
                            variant=None if plan.variant == "pypi" else plan.variant)
    chosen_cuda = [b for b in chosen if b.kind == "cuda"]
    if chosen_cuda:  # a GPU build only where the driver fully supports its CUDA (PTX of that CUDA or older)
        assert all(b.cuda and tuple(map(int, b.cuda.split("."))) <= (12, 4) for b in chosen_cuda)
    advice = [w for w in plan.warnings if "update the driver" in w]
    assert advice and "an NVIDIA driver >= 575.51.03 would run torch" in advice[0], plan.warnings
    # the same GPU on a driver of full support gets the PTX build, with the JIT warning
    full = plan_for(replace(RTX4090, gpus=(gpu,), nvidia_driver="580.65.06"))
    assert full.variant.startswith("cu") and any("runs through PTX JIT" in w for w in full.warnings)


def test_refusal_json_has_the_error_contract():
    musl = replace(CPU_BOX, libc="musl 1.2.4")
    result = resolve(musl, Request(), CATALOG, today=TODAY)
    assert isinstance(result, Refusal)
    err = result.to_json()["error"]
    assert err["code"] == "no-build" and err["message"] and err["reasons"]


@pytest.mark.parametrize("machine, arch", [
    (Machine(os="windows", arch="x86_64", python="3.12", python_bits=32), "x86"),
    (Machine(os="macos", arch="aarch64", python="3.12", rosetta=True), "x86_64"),
    (Machine(os="linux", arch="aarch64", python="3.12"), "aarch64"),
])
def test_wheel_arch(machine, arch):
    assert wheel_arch(machine) == arch


@pytest.mark.parametrize("env, managers, pip_ok, uv_ok, expected", [
    ("venv", ("pip",), True, False, "pip"),
    ("uv", ("uv",), None, True, "uv"),
    ("conda", ("conda", "pip"), True, False, "conda"),
    ("conda", ("mamba", "pip"), True, False, "mamba"),
    ("conda", ("micromamba", "pip"), True, False, "micromamba"),
    ("conda", ("conda", "mamba"), True, False, "conda"),
    ("pixi", ("pixi",), True, False, "pixi"),
    ("venv", ("uv",), False, True, "uv"),
    ("system", (), None, None, "pip"),
])
def test_detect_manager(env, managers, pip_ok, uv_ok, expected):
    m = replace(CPU_BOX, python_env=env, managers=managers, pip_usable=pip_ok, uv_usable=uv_ok)
    assert detect_manager(m) == expected


@pytest.mark.parametrize("text, ok, bad", [
    ("2.14", "2.14.1", "2.15.0"), ("2.14.1", "2.14.1", "2.14.0"), (">=2.4,<2.6", "2.5.1", "2.6.0"),
])
def test_parse_torch_spec(text, ok, bad):
    spec = parse_torch_spec(text)
    assert spec.contains(ok) and not spec.contains(bad)


def test_parse_torch_spec_rejects_garbage():
    with pytest.raises(ValueError, match="not a version"):
        parse_torch_spec("latest")


def test_machine_summary_is_one_line():
    line = machine_summary(replace(RTX4090, wsl=2, python_env="venv"))
    assert line == ("Linux x86_64 (WSL2, glibc 2.35), Python 3.12 (venv), "
                    "NVIDIA GeForce RTX 4090 (sm_89), NVIDIA driver 580.65.06")


def _refusal(machine, request) -> Refusal:
    result = resolve(machine, request, CATALOG, today=TODAY)
    assert isinstance(result, Refusal), result
    return result


def test_a_variant_pytorch_never_published_is_named_with_the_real_list():
    refusal = _refusal(CPU_BOX, Request(variant="cu999"))
    assert refusal.code == "unknown-variant"
    (reason,) = refusal.reasons
    assert reason.startswith("--variant cu999: the variants for linux x86_64 are cpu, cu116,")
    assert "cu126" in reason and "xpu" in reason


def test_constraints_that_exclude_every_build_name_the_builds_that_exist():
    refusal = _refusal(CPU_BOX, Request(torch="==2.15.0", variant="cu126"))
    # RFC pytorch#190385 / PR #196249: CUDA 12.6 builds end with 2.14
    assert refusal.reasons[0].startswith("--variant cu126: torch 2.15.0 is built for linux x86_64 as cpu, cu130, cu132")
    assert refusal.reasons[0].endswith("the newest torch with such a build is 2.14.1")
    too_new = _refusal(CPU_BOX, Request(torch=">=3"))
    assert too_new.reasons[0].startswith("no torch release for linux x86_64 matches --torch >=3")
