"""`torchup plan --with SPEC`: the real CLI and resolve over the recorded stack facts.

The done-when of issue 13: `plan --with xformers==V` gives the torch that xformers V's metadata
on PyPI pins, for the machine's variant, for every xformers V recorded with a wheel for the
platform (src/torchup/catalog/data/stack.json, read by scripts/stack_metadata.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from packaging.requirements import Requirement

from torchup.catalog.load import load_catalog
from torchup.catalog.stack import load_stack
from torchup.machine import Machine
from torchup.plan import Plan, Request
from torchup.resolve import resolve

CATALOG = load_catalog(use_cache=False)
STACK = load_stack({"TORCHUP_CACHE_DIR": "/nonexistent"})
GPU = [{"vendor": "nvidia", "name": "NVIDIA GeForce RTX 4090", "compute_capability": "8.9", "memory_mib": 24564}]
RTX4090_DRIVER580 = {"os": "linux", "arch": "x86_64", "python": "3.12", "libc": "glibc 2.35",
                     "nvidia_driver": "580.65.06", "cuda_driver_max": "13.0", "gpus": GPU}


def _machine(python: str) -> Machine:
    from torchup.machine import load_machine

    return load_machine(json.dumps({**RTX4090_DRIVER580, "python": python}))[0]


def _python_for(release) -> str | None:
    """A Python this release has a Linux x86_64 wheel for: the newest cp3X tag, 3.12 for abi3/py3."""
    best = None
    for tag in release.wheels:
        interp, abi, platform = tag.split("-")
        if not platform.endswith("x86_64") or "linux" not in platform:
            continue
        if abi in ("abi3", "none"):
            return "3.12"
        minor = int(interp[3:])
        best = max(best or 0, minor)
    return f"3.{best}" if best else None


XFORMERS = [r for r in STACK.get("xformers").releases if _python_for(r)]


def test_there_are_xformers_releases_to_check():
    assert len(XFORMERS) >= 30


@pytest.mark.parametrize("release", XFORMERS, ids=[r.version for r in XFORMERS])
def test_with_xformers_gives_the_torch_its_metadata_pins(release):
    python = _python_for(release)
    machine = _machine(python)
    plan = resolve(machine, Request(with_packages=(f"xformers=={release.version}",)), CATALOG, stack=STACK)
    (req,) = [Requirement(t) for t in release.requires_torch]
    pinned = [s.version for s in req.specifier if s.operator == "=="]
    assert isinstance(plan, Plan), (release.version, plan.reasons)
    assert [(p.name, p.version) for p in plan.stack] == [("xformers", release.version)]
    assert req.specifier.contains(plan.base_version), (release.version, plan.base_version)
    if pinned:
        assert plan.base_version == pinned[0]
    # the machine's variant for that torch: what resolve chooses when asked for that torch alone
    alone = resolve(machine, Request(torch=str(req.specifier)), CATALOG)
    assert isinstance(alone, Plan)
    if pinned:
        assert (plan.torch, plan.variant) == (alone.torch, alone.variant)
    if pinned:
        assert any(f"xformers {release.version} pins torch=={pinned[0]}" in r for r in plan.reasons)


def torchup(*args):
    return subprocess.run([sys.executable, "-m", "torchup", *args], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "TORCHUP_CACHE_DIR": "/nonexistent", "NO_COLOR": "1"})


def test_plan_json_lists_every_pinned_package(tmp_path):
    machine = tmp_path / "m.json"
    machine.write_text(json.dumps(RTX4090_DRIVER580))
    r = torchup("plan", "--json", "--machine", str(machine), "--with", "xformers==0.0.32.post2", "--with", "flash-attn")
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    body = body.get("plan", body)
    # xformers 0.0.32.post2 pins torch==2.8.0 (PyPI metadata) and its PyPI wheel is the torch2.8.0+cu128 build
    # (facebookresearch/xformers@5d4b92a5 .github/workflows/wheels.yml, upload_pip); flash-attn 2.8.3.post1 has a
    # cu12 torch 2.8 asset (Dao-AILab/flash-attention@a8aa52b1 .github/workflows/publish.yml)
    assert body["torch"] == "2.8.0" and body["variant"] == "pypi"
    assert body["stack"] == [
        {"name": "xformers", "version": "0.0.32.post2", "index_url": None, "find_links": None, "url": None,
         "reason": body["stack"][0]["reason"]},
        {"name": "flash-attn", "version": "2.8.3.post1", "index_url": None, "find_links": None,
         "url": "https://github.com/Dao-AILab/flash-attention/releases/download/v2.8.3.post1/"
                "flash_attn-2.8.3.post1%2Bcu12torch2.8cxx11abiTRUE-cp312-cp312-linux_x86_64.whl",
         "reason": body["stack"][1]["reason"]},
    ]
    assert "pins torch==2.8.0" in body["stack"][0]["reason"]
    assert not any("no primary source confirmed" in w for w in body["warnings"])  # both rest on their workflows


def test_nothing_fits_together_is_a_refusal_with_the_options(tmp_path):
    machine = tmp_path / "m.json"
    machine.write_text(json.dumps(RTX4090_DRIVER580))
    r = torchup("plan", "--json", "--machine", str(machine), "--with", "xformers==0.0.33", "--with", "flash-attn")
    assert r.returncode == 3, r.stdout
    body = json.loads(r.stdout)
    err = body.get("plan", body)["error"]
    assert err["code"] == "no-stack"
    said = "\n".join(err["reasons"])
    assert "option: an older torch: xformers alone fits torch 2.9.0" in said
    assert "option: an older torch: flash-attn alone fits torch 2.8.0" in said
    assert "option: build flash-attn from source: a source build needs nvcc" in said


def test_plan_text_shows_the_stack_and_exit_codes(tmp_path):
    machine = tmp_path / "m.json"
    machine.write_text(json.dumps(RTX4090_DRIVER580))
    r = torchup("plan", "--machine", str(machine), "--with", "xformers==0.0.33")
    assert r.returncode == 0, r.stderr
    assert "Recommended: torch 2.9.0" in r.stdout
    assert "With torch:\n  - xformers 0.0.33" in r.stdout
    assert "xformers 0.0.33 pins torch==2.9.0" in r.stdout
    bad = torchup("plan", "--machine", str(machine), "--with", "no-such-thing")
    assert bad.returncode == 2 and "torchup knows nothing of no-such-thing" in bad.stderr
    assert "Traceback" not in bad.stderr
    junk = torchup("plan", "--machine", str(machine), "--with", "xformers==<>")
    assert junk.returncode == 2 and "not a PEP 508 requirement" in junk.stderr
    none = torchup("plan", "--json", "--machine", str(machine), "--with", "xformers==9.9")
    assert none.returncode == 3
    err = json.loads(none.stdout)
    err = err.get("plan", err)["error"]
    assert err["code"] == "no-release" and "0.0.16 to 0.0.35" in err["reasons"][0]
