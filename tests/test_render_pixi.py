"""The pixi manifest checked against the rules of pixi's current manifest format (pixi cannot be
installed here).  The rules, and the pixi documentation they come from, are recorded in
docs/rendering.md ("pixi"); each is one check in ``_violations``."""

from __future__ import annotations

import re
import tomllib
from torchup.record import replace

import pytest

from torchup import render
from torchup.render import pixi as render_pixi
from torchup.plan import Plan
from tests.test_render import PLANS, BASE

SUBDIRS = {"linux-64", "linux-aarch64", "osx-64", "osx-arm64", "win-64"}
PLATFORM_KEYS = {"name", "platform", "cuda", "archspec", "glibc", "linux", "macos", "windows"}


def _violations(text: str) -> list[str]:
    """Every rule the manifest breaks (empty: it follows them all)."""
    doc = tomllib.loads(text)
    out = []
    # 1. no [system-requirements] (deprecated since pixi 0.71.1), neither at the top nor in a feature
    if "system-requirements" in doc or any("system-requirements" in f for f in doc.get("feature", {}).values()):
        out.append("[system-requirements] is deprecated: virtual packages go on the platforms entries")
    # 2. platforms: a subdir, or an inline table with `platform` and the friendly keys (or a raw __name)
    names: dict[str, str] = {}  # the name a target may use -> subdir
    declared_cuda: set[str] = set()
    subdirs = []
    for entry in doc["workspace"].get("platforms", []):
        if isinstance(entry, str):
            entry = {"platform": entry}
        if entry.get("platform") not in SUBDIRS:
            out.append(f"unknown subdir in {entry}")
            continue
        bad = [k for k in entry if k not in PLATFORM_KEYS and not k.startswith("__")]
        if bad:
            out.append(f"unknown platform keys {bad}")
        if "cuda" in entry and not (isinstance(entry["cuda"], str) and re.fullmatch(r"\d+(\.\d+)?", entry["cuda"])):
            out.append(f"cuda must be a version string: {entry['cuda']!r}")
        name = entry.get("name") or entry["platform"]
        names[name] = entry["platform"]
        subdirs.append(entry["platform"])
        if "cuda" in entry:
            declared_cuda.add(name)
    # 3. two entries of one subdir are named, and targets name them (a bare subdir target matches both)
    for subdir in {s for s in subdirs if subdirs.count(s) > 1}:
        if subdir in names:
            out.append(f"two {subdir} entries, one unnamed")
        if subdir in doc.get("target", {}):
            out.append(f"[target.{subdir}] matches every {subdir} entry")
    # 4. every target names a declared platform
    tables = {"": doc, **{name: t for name, t in doc.get("target", {}).items()}}
    for name in tables:
        if name and name not in names:
            out.append(f"[target.{name}] names no platform")
    # 5. a CUDA build of conda-forge only where the platform declares __cuda (else pixi solves the CPU build)
    for name, table in tables.items():
        deps = table.get("dependencies", {})
        if "pytorch-gpu" in deps or "cuda-version" in deps:
            holders = [name] if name else list(names)
            if not all(h in declared_cuda for h in holders):
                out.append(f"a CUDA build on {name or 'the workspace'} without cuda on its platform")
    # 6. wheels through [pypi-dependencies], each torch-family package with its index; a conda python for them
    for name, table in tables.items():
        wheels = table.get("pypi-dependencies", {})
        for pkg, spec in wheels.items():
            # a version (with its index where it has one), or one direct wheel URL (a stack's release asset)
            if not isinstance(spec, dict) or ("version" not in spec) == ("url" not in spec):
                out.append(f"{pkg}: a table with a version or a url")
        if wheels and "python" not in table.get("dependencies", {}) and "python" not in doc.get("dependencies", {}):
            out.append(f"[pypi-dependencies] on {name or 'the workspace'} without python")
    # 7. conda-forge only: the deprecated pytorch channel never
    if doc["workspace"]["channels"] != ["conda-forge"]:
        out.append(f"channels {doc['workspace']['channels']}")
    # 8. no shell command in the manifest (a bare pip install lives outside pixi's lock)
    if "pip install" in text.split("\n\n", 1)[1]:
        out.append("a pip command")
    # 9. a platform declaring cuda: the header says which CONDA_OVERRIDE_CUDA a GPU-less host sets
    for name in declared_cuda:
        entry = next(e for e in doc["workspace"]["platforms"]
                     if isinstance(e, dict) and (e.get("name") or e["platform"]) == name)
        if f"CONDA_OVERRIDE_CUDA={entry['cuda']}" not in text.split("\n\n", 1)[0]:
            out.append(f"{name} declares cuda but the header does not say CONDA_OVERRIDE_CUDA")
    # 10. pixi's caveat for [pypi-dependencies] (rule 6 of docs/rendering.md): the header says where to lock
    for name, table in tables.items():
        shown = name or (next(iter(names)) if len(names) == 1 else "the workspace")
        if table.get("pypi-dependencies") and f"# {shown} takes torch through [pypi-dependencies]" not in text:
            out.append(f"{shown} has [pypi-dependencies] but the header does not say where to lock it")
    return out


CPU_NODE = Plan(torch="2.14.1+cpu", torchvision="0.29.1+cpu", torchaudio=None, variant="cpu",
                index_url=f"{BASE}/cpu", os="linux", arch="x86_64", python="3.12")

SETS = {
    "three-machines": [PLANS["linux-cu126"], PLANS["macos-arm64"], PLANS["windows-cu130-audio"]],
    "gpu-and-cpu-nodes-and-a-mac": [PLANS["linux-pypi-cu130"], CPU_NODE, PLANS["macos-arm64"]],
    "rocm-and-a-mac": [PLANS["linux-rocm"], PLANS["macos-arm64"]],
}


@pytest.mark.parametrize("name", sorted(PLANS))
def test_one_machine_follows_the_manifest_rules(name):
    assert _violations(render.render(PLANS[name], "pixi")) == []


@pytest.mark.parametrize("name", sorted(SETS))
def test_several_machines_give_one_manifest_that_follows_the_rules(name):
    text = render.render_many(SETS[name], "pixi")
    assert _violations(text) == []
    assert text.count("[workspace]") == 1
    from tests.test_render import _check_golden

    _check_golden(f"render__pixi__{name}", text)


def test_each_machine_gets_its_build_on_its_platform():
    doc = tomllib.loads(render.render_many(SETS["three-machines"], "pixi"))
    assert doc["workspace"]["platforms"] == [{"platform": "linux-64", "cuda": "12"}, "osx-arm64",
                                             {"platform": "win-64", "cuda": "13"}]
    target = doc["target"]
    assert target["linux-64"]["dependencies"]["cuda-version"] == "12.9.*"
    assert target["osx-arm64"]["dependencies"]["pytorch"] == "==2.14.1"
    assert target["win-64"]["dependencies"]["pytorch-gpu"] == "==2.11.0"


def test_a_gpu_node_and_a_cpu_node_get_named_entries_cuda_first():
    doc = tomllib.loads(render.render_many(SETS["gpu-and-cpu-nodes-and-a-mac"], "pixi"))
    linux = [e for e in doc["workspace"]["platforms"] if isinstance(e, dict) and e["platform"] == "linux-64"]
    assert [e.get("cuda") for e in linux] == ["13", None]  # pixi takes the first entry the host satisfies
    assert "pytorch-cpu" in doc["target"][linux[1]["name"]]["dependencies"]


def test_rocm_comes_from_pytorch_index_through_pypi_dependencies():
    doc = tomllib.loads(render.render(PLANS["linux-rocm"], "pixi"))
    assert doc["pypi-dependencies"]["torch"] == {"version": "==2.14.1+rocm7.2", "index": f"{BASE}/rocm7.2"}
    assert doc["pypi-dependencies"]["pytorch-triton-rocm"]["index"] == f"{BASE}/rocm7.2"


def test_the_gpu_less_host_is_told_which_variable_to_set():
    text = render.render(PLANS["linux-cu126"], "pixi")
    assert "CONDA_OVERRIDE_CUDA=12" in text
    assert "CONDA_OVERRIDE_CUDA" not in render.render(PLANS["linux-cpu"], "pixi")


def test_the_checker_catches_the_old_format():
    old = ('# pixi.toml\n\n[workspace]\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n\n'
           '[system-requirements]\ncuda = "12"\n\n[dependencies]\npytorch-gpu = "==2.14.1"\n')
    found = _violations(old)
    assert any("system-requirements" in v for v in found) and any("without cuda" in v for v in found)
    two = render.render_many(SETS["gpu-and-cpu-nodes-and-a-mac"], "pixi").replace('name = "linux-64-cpu", ', "")
    assert any("unnamed" in v for v in _violations(two))


def test_the_checker_wants_the_pypi_dependencies_caveat_and_the_gpu_less_variable():
    rocm = render.render_many(SETS["rocm-and-a-mac"], "pixi")
    assert "run pixi lock on a linux-64 host" in rocm
    header, body = rocm.split("\n\n", 1)
    without = "\n".join(line for line in header.splitlines() if "[pypi-dependencies]" not in line) + "\n\n" + body
    assert any("does not say where to lock" in v for v in _violations(without))
    cuda = render.render(PLANS["linux-cu126"], "pixi").replace("CONDA_OVERRIDE_CUDA=12", "CONDA_OVERRIDE_CUDA")
    assert any("does not say CONDA_OVERRIDE_CUDA" in v for v in _violations(cuda))


def test_gpu_less_notes_are_the_headers_lines():
    plans = SETS["gpu-and-cpu-nodes-and-a-mac"]
    notes = render_pixi.gpu_less_notes(plans)
    assert len(notes) == 2 and "CONDA_OVERRIDE_CUDA=13" in notes[0] and "declares no cuda" in notes[1]
    header = render.render_many(plans, "pixi").split("\n\n", 1)[0]
    assert all(f"# {note}" in header for note in notes)
    assert render_pixi.gpu_less_notes([PLANS["linux-rocm"], PLANS["macos-arm64"]]) == []


def test_machines_pixi_cannot_tell_apart_are_refused():
    a = replace(CPU_NODE, python="3.11")
    with pytest.raises(render.RenderError, match="pixi cannot tell apart"):
        render.render_many([CPU_NODE, a, replace(CPU_NODE, torch="2.13.0+cpu")], "pixi")
