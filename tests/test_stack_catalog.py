"""The stack catalog (src/torchup/catalog/data/stack.json): its recorded facts, their sources,
and `catalog refresh` learning new PyPI releases of those packages from a local index."""

from __future__ import annotations

import json
import re

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.support.index_server import IndexServer
from tests.support.wheels import make_wheel
from torchup.catalog.refresh import refresh_stack
from torchup.catalog.stack import BINDINGS, load_stack, release_record, stack_path, torch_requirements

KNOWN = {
    "xformers", "vllm", "flash-attn", "torch-scatter", "torch-sparse", "torch-cluster", "torch-spline-conv",
    "pyg-lib", "bitsandbytes", "torchao", "flashinfer-python", "deepspeed", "torchcodec",
}


def test_every_package_of_the_task_is_known_with_its_sources():
    stack = load_stack({"TORCHUP_CACHE_DIR": "/nonexistent"})
    assert set(stack.packages) == KNOWN
    for name, p in stack.packages.items():
        assert p.binding in BINDINGS
        assert p.sources and all(p.sources.values()), name
        for x in p.listings:
            assert x.source, (name, x.version)
        for r in p.releases:
            assert r.source == "PYPI" and r.uploaded, (name, r.version)
            for req in r.requires_torch:
                assert Requirement(req).name == "torch"


# a primary source named the way stack.json names it: "owner/repo@<40 hex> path ..."
PRIMARY = re.compile(r"(^|; )[\w.-]+/[\w.-]+@[0-9a-f]{40} \S")


def test_every_confirmed_off_pypi_fact_names_its_repository_and_commit():
    """A fact marked confirmed names the repository, commit and file it was read from; every
    torchcodec table row has its source; docs/stack.md's table lists the unconfirmed ones."""
    stack = load_stack({"TORCHUP_CACHE_DIR": "/nonexistent"})
    facts = []
    for name, p in stack.packages.items():
        facts += [(f"{name} {x.version} torch {x.torch}", x.confirmed, x.source) for x in p.listings]
        facts += [(f"{name} {v} builds", b.confirmed, b.source) for v, b in p.builds.items()]
        assert set(p.table_sources) == set(p.table), name
        facts += [(f"{name} table {k}", o.confirmed, o.source) for k, o in p.table_sources.items()]
    assert len(facts) > 100
    for what, confirmed, source in facts:
        if confirmed:
            assert PRIMARY.search(source), (what, source)
        else:
            assert "unconfirmed" in source or "not in the workflow" in source, (what, source)
    unconfirmed = {what.split(" torch ")[0] for what, confirmed, _ in facts if not confirmed}
    assert unconfirmed == {"torch-sparse 0.6.18", "torch-cluster 1.6.3", "torch-spline-conv 1.2.2", "pyg-lib 0.5.0",
                           "torch-scatter 2.1.2", "pyg-lib 0.6.0", "pyg-lib 0.7.0"}  # the last three: macOS tags


def test_recorded_pypi_facts_have_the_real_shape():
    """Spot checks of what scripts/stack_metadata.py read (2026-12-03): the exact pins of
    xformers and vllm, sdist-only PyPI projects, pyg-lib absent from PyPI."""
    stack = load_stack({"TORCHUP_CACHE_DIR": "/nonexistent"})
    xf = {r.version: r for r in stack.get("xformers").releases}
    assert xf["0.0.33"].requires_torch == ("torch==2.9.0",)
    assert xf["0.0.28.post3"].requires_torch == ("torch==2.5.1",)
    assert xf["0.0.35"].requires_torch == ("torch>=2.10",)  # the newest moved to a range
    vllm = {r.version: r for r in stack.get("vllm").releases}
    assert vllm["0.34.0"].requires_torch == ("torch==2.14.0",)
    assert all(t.startswith("cp38-abi3-manylinux") for t in vllm["0.34.0"].wheels)
    for name in ("flash-attn", "torch-scatter", "deepspeed"):
        newest = max(stack.get(name).releases, key=lambda r: Version(r.version))
        assert newest.wheels == () and newest.sdist, name
    assert stack.get("pyg-lib").releases == () and stack.get("pyg-lib").hosts == ("pyg",)
    # every pinned release names the torch it pins exactly once
    for r in stack.get("xformers").releases:
        assert len(r.requires_torch) <= 1


def test_release_record_and_torch_requirements_are_pure():
    meta = "Name: x\nRequires-Dist: numpy\nRequires-Dist: torch==2.9.0\nRequires-Dist: Torch>=2; extra == 'a'\n"
    assert torch_requirements(meta) == ("torch==2.9.0", 'Torch>=2; extra == "a"')
    rec = release_record(
        "1.0",
        [("x-1.0-cp312-cp312-manylinux_2_28_x86_64.whl", "2026-01-02T00:00:00Z", ">=3.10"),
         ("x-1.0.tar.gz", "2026-01-01T00:00:00Z", None)],
        ("torch==2.9.0",),
        source="PYPI",
    )
    assert rec == {"version": "1.0", "uploaded": "2026-01-01", "requires_python": ">=3.10",
                   "requires_torch": ["torch==2.9.0"], "wheels": ["cp312-cp312-manylinux_2_28_x86_64"],
                   "sdist": True, "source": "PYPI"}


@pytest.fixture
def pypi(tmp_path):
    server = IndexServer(missing_status=404, json_api=True).start()
    wheels = tmp_path / "wheels"
    server.add_wheel("simple", make_wheel(wheels, "xformers", "0.0.99", tag="cp39-abi3-manylinux_2_28_x86_64",
                                          requires_dist=["numpy", "torch==2.16.0"]))
    server.add_wheel("simple", make_wheel(wheels, "bitsandbytes", "0.99.0", tag="py3-none-manylinux_2_24_x86_64",
                                          requires_dist=["torch<3,>=2.4"]))
    yield server
    server.stop()


def test_refresh_learns_new_releases_into_the_cache(tmp_path, pypi):
    env = {"TORCHUP_CACHE_DIR": str(tmp_path / "cache")}
    (tmp_path / "cache").mkdir()
    changes, notes = refresh_stack(pypi.index_url("simple"), env, 10, "2026-12-31", tmp_path / "cache" / "stack.json")
    assert "xformers 0.0.99: torch torch==2.16.0 (stack)" in changes
    assert "bitsandbytes 0.99.0: torch torch<3,>=2.4 (stack)" in changes
    # the packages this index lacks are notes; their facts stay
    assert any("vllm" in n and "kept" in n for n in notes)
    stack = load_stack(env)
    new = [r for r in stack.get("xformers").releases if r.version == "0.0.99"][0]
    assert new.requires_torch == ("torch==2.16.0",) and new.source == "PYPI-REFRESH"
    assert new.wheels == ("cp39-abi3-manylinux_2_28_x86_64",)
    assert len(stack.get("vllm").releases) == len(load_stack({"TORCHUP_CACHE_DIR": "/nonexistent"}).get("vllm").releases)
    # a second refresh learns nothing new
    again, _ = refresh_stack(pypi.index_url("simple"), env, 10, "2026-12-31", tmp_path / "cache" / "stack.json")
    assert again == []


def test_a_page_that_fails_is_a_note_and_keeps_the_facts(tmp_path, pypi):
    env = {"TORCHUP_CACHE_DIR": str(tmp_path / "cache")}
    (tmp_path / "cache").mkdir()
    pypi.fault("/simple/xformers/", status=500)
    changes, notes = refresh_stack(pypi.index_url("simple"), env, 10, "2026-12-31", tmp_path / "cache" / "stack.json")
    assert [n for n in notes if "xformers" in n] and not [c for c in changes if c.startswith("xformers")]
    assert "HTTP 500" in [n for n in notes if "xformers" in n][0]
    assert "bitsandbytes 0.99.0: torch torch<3,>=2.4 (stack)" in changes
    embedded = json.loads(stack_path().read_text())
    assert len(load_stack(env).get("xformers").releases) == len(embedded["packages"]["xformers"]["releases"])


def test_a_damaged_cache_falls_back_to_the_embedded_facts(tmp_path):
    (tmp_path / "stack.json").write_text("{not json")
    assert load_stack({"TORCHUP_CACHE_DIR": str(tmp_path)}).get("xformers").releases


def test_the_maintainer_script_records_releases_from_an_index(tmp_path, pypi):
    """scripts/stack_metadata.py over the local index: per release its version, day, torch
    requirement (from the PEP 658 file) and wheel tags; pre-releases left out."""
    import sys

    scripts = stack_path().parents[4] / "scripts"
    sys.path.insert(0, str(scripts))
    try:
        import pypi_metadata
        import stack_metadata
    finally:
        sys.path.remove(str(scripts))
    pypi.add_wheel("simple", make_wheel(tmp_path / "w", "xformers", "0.1.0.dev3", tag="py3-none-any",
                                        requires_dist=["torch==9.9"]))
    fetcher = pypi_metadata.Fetcher(tmp_path / "cache")
    records = stack_metadata.releases_of(fetcher, pypi.index_url("simple").rstrip("/"), "xformers", "2000-01-01", False)
    assert [(r["version"], r["requires_torch"], r["wheels"], r["source"]) for r in records] == [
        ("0.0.99", ["torch==2.16.0"], ["cp39-abi3-manylinux_2_28_x86_64"], "PYPI")]
