"""The embedded snapshot: self-consistency, and spot checks of facts known from
primary sources (PyPI, the inspected 2.14.1 wheel)."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import FIXTURES
from torchup.catalog import rules
from torchup.catalog.hardware import driver_floor
from torchup.catalog.load import embedded_path, load_catalog
from torchup.catalog.model import CONFIRMED, UNCONFIRMED, parse_arch, platform_floor, version_tuple
from torchup.machine import Gpu


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(use_cache=False)


def build(catalog, version, variant, os="linux", arch="x86_64"):
    found = [b for b in catalog.release(version).builds if b.variant == variant and b.os == os and b.arch == arch]
    assert len(found) == 1, (version, variant, os, arch, found)
    return found[0]


# --- self-consistency ------------------------------------------------------------------

EXPECTED_RELEASES = """1.13.0 1.13.1 2.0.0 2.0.1 2.1.0 2.1.1 2.1.2 2.2.0 2.2.1 2.2.2 2.3.0 2.3.1 2.4.0 2.4.1
2.5.0 2.5.1 2.6.0 2.7.0 2.7.1 2.8.0 2.9.0 2.9.1 2.10.0 2.11.0 2.12.0 2.12.1 2.13.0 2.14.0 2.14.1 2.15.0""".split()


def test_no_release_missing_from_1_13_to_the_newest(catalog):
    assert catalog.versions() == tuple(EXPECTED_RELEASES)
    # and no gap in the minor series: every minor from 1.13 / 2.0 to the newest has a .0
    minors = {tuple(version_tuple(v)[:2]) for v in catalog.versions()}
    newest = version_tuple(catalog.newest().version)
    for minor in range(0, newest[1] + 1):
        assert (2, minor) in minors
        assert catalog.release(f"2.{minor}.0") is not None


def test_every_release_is_dated_and_ordered(catalog):
    dates = [r.released for r in catalog.releases]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d", d) for d in dates)
    assert dates == sorted(dates)
    assert all(r.requires_python for r in catalog.releases)


def test_every_cuda_variant_has_a_driver_floor(catalog):
    for rel in catalog.releases:
        for b in rel.builds:
            if b.kind != "cuda":
                continue
            for os in ("linux", "windows"):
                floor = driver_floor(b.cuda, os)
                assert floor is not None and floor.compat, (rel.version, b.variant, os)
            assert driver_floor(b.cuda, "linux").full, (rel.version, b.variant)
            assert b.cuda == f"{b.variant[2:-1]}.{b.variant[-1]}"


def test_every_release_has_companions_or_says_why_not(catalog):
    for rel in catalog.releases:
        names = [c.name for c in rel.companions]
        assert names == ["torchvision", "torchaudio"], rel.version
        for c in rel.companions:
            assert c.version or c.note, (rel.version, c.name)
            if not c.matched:
                assert c.note, (rel.version, c.name)
            assert c.provenance.source in catalog.sources


def test_every_arch_list_parses_and_is_sorted(catalog):
    for rel in catalog.releases:
        for b in rel.builds:
            for cc in (*b.sass, *b.ptx, *b.arch_specific):
                assert parse_arch(cc)[0] == cc
            assert list(b.sass) == sorted(b.sass, key=lambda c: version_tuple(c))
            assert not any(c[-1].isalpha() for c in (*b.sass, *b.ptx)), "arch-specific targets go to arch_specific"
            if b.kind == "cuda":
                assert b.sass, (rel.version, b.variant, b.os, b.arch)
            if b.kind == "rocm":
                assert b.gfx and all(re.fullmatch(r"gfx[0-9a-f]{3,4}", g) for g in b.gfx)


def test_every_fact_has_a_described_source_and_a_confidence(catalog):
    for rel in catalog.releases:
        for b in rel.builds:
            assert "exists" in b.provenance and "wheels" in b.provenance
            for name, p in b.provenance.items():
                assert p.confidence in (CONFIRMED, UNCONFIRMED)
                assert p.source in catalog.sources, (rel.version, b.variant, name, p.source)
            if b.kind == "cuda":
                assert {"cuda", "arches"} <= set(b.provenance), (rel.version, b.variant)


def test_one_pypi_default_per_platform_and_its_wheels_are_confirmed(catalog):
    for rel in catalog.releases:
        platforms = {(b.os, b.arch) for b in rel.builds}
        for os, arch in platforms:
            defaults = [b for b in rel.builds if b.os == os and b.arch == arch and b.pypi_default]
            assert len(defaults) == 1, (rel.version, os, arch)
            assert defaults[0].fact("wheels").confirmed


def test_wheel_tags_match_their_build(catalog):
    for rel in catalog.releases:
        for b in rel.builds:
            assert b.wheels, (rel.version, b.variant)
            for w in b.wheels:
                os, arch, _ = platform_floor(w.platform)
                assert (os, arch) == (b.os, b.arch), (rel.version, b.variant, w)
                assert re.fullmatch(r"cp3\d+t?", w.python)
            if b.os == "linux":
                assert b.glibc_min in ("2.17", "2.28")
            if b.os == "macos":
                assert b.macos_min and b.local_label is None


def test_index_labels_follow_the_variant(catalog):
    for rel in catalog.releases:
        for b in rel.builds:
            assert b.index_suffix == b.variant
            if b.os != "macos":
                assert b.version_on_index == f"{rel.version}+{b.variant}"


def test_the_data_file_is_compact_and_dated(catalog):
    raw = embedded_path().read_text()
    assert len(raw) < 400_000
    data = json.loads(raw)
    assert data["data_date"] == catalog.data_date
    # no index or file URLs in the shipped data (the index comes from the user's configuration)
    assert not re.search(r"https?://[^\s\"]*(\.whl|/simple)", raw)
    hosts = set(re.findall(r"https?://([A-Za-z0-9.-]+)", raw))
    assert hosts <= {"pci-ids.ucw.cz", "docs.pytorch.org", "developer.nvidia.com", "docs.nvidia.com"}, hosts


# --- spot checks from primary sources ----------------------------------------------------


def test_pypi_2_14_1_linux_x86_64_is_cuda_13_0_sm75_to_sm120_without_ptx(catalog):
    real = json.loads((FIXTURES / "torch-2.14.1-pypi-cp311-linux-x86_64__arch-flags.json").read_text())
    flags = real["torch._C._cuda_getArchFlags()"].split()
    b = build(catalog, "2.14.1", "cu130")
    assert b.pypi_default
    assert b.cuda == real["torch.version.cuda"] == "13.0"
    assert ["sm_" + s.replace(".", "") for s in b.sass] == flags == ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]
    assert b.ptx == () and not any(f.startswith("compute_") for f in flags)
    # the snapshot read the list from the wheel's libtorch_python.so; the installed wheel agrees
    assert b.fact("arches").confirmed and b.fact("arches").source == "PYPI-WHEEL-ARCH"
    assert b.cudnn == "9.24.0.43" and real["torch.backends.cudnn.version()"] == 92400
    assert b.wheel_for("cp311").tag == real["wheel_tag"]


def test_arch_lists_of_pypi_linux_cuda_builds_come_from_the_wheels(catalog):
    n = 0
    for rel in catalog.releases:
        for b in rel.builds:
            if b.pypi_default and b.kind == "cuda":
                n += 1
                assert b.fact("arches").confirmed and b.fact("arches").source == "PYPI-WHEEL-ARCH", (rel.version, b.arch)
    assert n == 30 + 7  # every release on x86_64; on aarch64 2.11.0 2.12.0 2.12.1 2.13.0 2.14.0 2.14.1 2.15.0


def test_torch_2_15_needs_python_3_11(catalog):
    rel = catalog.release("2.15.0")
    assert rel.requires_python == ">=3.11"
    for b in rel.builds:
        assert "cp310" not in b.pythons
        assert rules.why_not_python(b, "3.10") is not None
    assert "cp315" in build(catalog, "2.15.0", "cu132").pythons


def test_macos_x86_64_ends_at_2_2_2(catalog):
    mac_x86 = [r.version for r in catalog.releases if any(b.os == "macos" and b.arch == "x86_64" for b in r.builds)]
    assert mac_x86[-1] == "2.2.2"
    assert catalog.builds(os="macos", arch="x86_64")[0].torch == "2.2.2"


def test_torch_2_12_and_newer_on_macos_needs_macos_14(catalog):
    for rel in catalog.releases:
        b = [b for b in rel.builds if b.os == "macos" and b.arch == "aarch64"][0]
        if version_tuple(rel.version) >= (2, 12):
            assert b.macos_min == "14.0", rel.version
            assert rules.why_not_platform(b, "macos", "aarch64", macos_version="13.6") is not None
        elif version_tuple(rel.version) <= (2, 11):
            assert b.macos_min == "11.0", rel.version
            assert rules.why_not_platform(b, "macos", "aarch64", macos_version="13.6") is None


def test_cu128_wheels_of_2_7_and_newer_have_no_maxwell_or_pascal(catalog):
    seen = 0
    for rel in catalog.releases:
        if version_tuple(rel.version) < (2, 7):
            continue
        for b in rel.builds:
            if b.variant in ("cu128", "cu129") or (b.kind == "cuda" and b.cuda.startswith("13.")):
                seen += 1
                assert not any(version_tuple(cc)[0] in (5, 6) for cc in (*b.sass, *b.ptx)), (rel.version, b.variant)
                for cc in ("5.0", "5.2", "6.0", "6.1"):
                    assert rules.why_not_gpu(b, Gpu(vendor="nvidia", compute_capability=cc)) is not None
    assert seen > 20


def test_rtx_5090_needs_cu128_or_newer_of_torch_2_7_or_newer(catalog):
    gpu = Gpu(vendor="nvidia", name="NVIDIA GeForce RTX 5090")
    runs = [(b.torch, b.variant) for b in catalog.builds(os="linux", arch="x86_64") if rules.why_not_gpu(b, gpu) is None]
    assert runs
    for torch, variant in runs:
        assert version_tuple(torch) >= (2, 7)
        assert int(variant[2:]) >= 128
    assert ("2.7.0", "cu128") in runs and ("2.14.1", "cu130") in runs
    assert ("2.7.0", "cu126") not in runs and ("2.6.0", "cu126") not in runs


def test_pypi_default_cuda_per_release(catalog):
    # from the Requires-Dist pins of the PyPI wheels (scripts/build_catalog.py)
    want = {"1.13.1": "cu117", "2.0.1": "cu117", "2.1.2": "cu121", "2.4.1": "cu121", "2.5.1": "cu124",
            "2.6.0": "cu124", "2.7.1": "cu126", "2.8.0": "cu128", "2.10.0": "cu128", "2.11.0": "cu130",
            "2.14.1": "cu130", "2.15.0": "cu132"}
    for version, variant in want.items():
        defaults = [b for b in catalog.release(version).builds if b.pypi_default and b.os == "linux" and b.arch == "x86_64"]
        assert [b.variant for b in defaults] == [variant], version
    # Linux aarch64: CPU through 2.10, CUDA 13 from 2.11
    arm = {r.version: [b.variant for b in r.builds if b.pypi_default and b.arch == "aarch64" and b.os == "linux"][0]
           for r in catalog.releases}
    assert arm["2.10.0"] == "cpu" and arm["2.11.0"] == "cu130" and arm["2.15.0"] == "cu132"
    # Windows and macOS: CPU
    for rel in catalog.releases:
        for b in rel.builds:
            if b.pypi_default and b.os in ("windows", "macos"):
                assert b.variant == "cpu"


def test_companions(catalog):
    def comp(v, name):
        return catalog.release(v).companion(name)

    assert comp("2.5.1", "torchvision").version == "0.20.1" and comp("2.5.1", "torchvision").matched
    assert comp("2.0.0", "torchaudio").version == "2.0.1"  # torchaudio 2.0.1 requires torch==2.0.0
    assert comp("1.13.1", "torchaudio").version == "0.13.1"
    # torchaudio 2.11.0 has no torch requirement but came out the same day as torch 2.11.0
    ta = comp("2.11.0", "torchaudio")
    assert (ta.version, ta.matched, ta.requires_torch) == ("2.11.0", True, None) and "no torch requirement" in ta.note
    # torchaudio 2.11.1 (py3 wheels, torch>=2.11) came out with torch 2.15.0; the newest that admits 2.12-2.14
    for v in ("2.12.0", "2.13.0", "2.14.1"):
        ta = comp(v, "torchaudio")
        assert (ta.version, ta.matched, ta.requires_torch) == ("2.11.1", False, ">=2.11"), v
    ta = comp("2.15.0", "torchaudio")
    assert (ta.version, ta.matched, ta.pythons) == ("2.11.1", True, ("py3",))
    assert all(c.provenance.source == "PYPI-METADATA" for r in catalog.releases for c in r.companions)
    # torchvision 0.29.2 (py3 wheels, torch>=2.14.0) came out with torch 2.15.0
    tv = comp("2.15.0", "torchvision")
    assert tv.version == "0.29.2" and tv.pythons == ("py3",)
    # no free-threaded 3.13 torchvision once torch dropped it (2.12.1)
    assert "cp313t" in comp("2.12.0", "torchvision").pythons
    assert "cp313t" not in comp("2.12.1", "torchvision").pythons


def test_unconfirmed_facts_are_marked(catalog):
    # 2.9.0's cu129 wheels rest on one third-party list: test-infra's test channel gained CUDA 12.9 a day after 2.9.0
    b = build(catalog, "2.9.0", "cu129")
    assert not b.fact("exists").confirmed and "exists" in b.unconfirmed()
    assert b.fact("exists").source == "THIRD-PARTY-MATRIX"
    # the PyPI default build's existence and wheels are confirmed
    assert build(catalog, "2.10.0", "cu128").unconfirmed(["exists", "wheels", "cuda"]) == ()


def _cu129(catalog, version):
    rel = catalog.release(version)
    return {(b.os, b.arch): b for b in rel.builds if b.variant == "cu129"}


def test_cu129_builds_follow_the_test_channel_of_each_release_branch(catalog):
    # test-infra's release/N 'test' channel (commits in the TI-CU129 source) lists CUDA 12.9 for Linux x86_64 and
    # aarch64 from the cut of release/2.10 and 2.11, from 2025-10-16/17 on release/2.9 (after 2.9.0), from
    # 2026-06-09 on release/2.12 (after 2.12.0), from 2026-06-25 on release/2.13 (before 2.13.0), not on release/2.14
    for version in ("2.9.1", "2.10.0", "2.11.0", "2.12.1", "2.13.0"):
        got = _cu129(catalog, version)
        assert set(got) == {("linux", "x86_64"), ("linux", "aarch64")}, version
        for b in got.values():
            assert b.fact("exists").source == "TI-CU129" and "exists" not in b.unconfirmed(), (version, b.arch)
            assert b.index_suffix == "cu129" and b.cuda == "12.9"
            # their arch lists come from pytorch's build script in forks, not tied to a release: still unconfirmed
            assert "arches" in b.unconfirmed()
    assert _cu129(catalog, "2.12.0") == {}
    assert set(_cu129(catalog, "2.9.0")) == {("linux", "x86_64")}
    assert _cu129(catalog, "2.14.0") == {} and _cu129(catalog, "2.15.0") == {}
    # release/2.8's test channel shared CUDA 12.9 with Windows (049cd025d, before 2.8.0)
    win = _cu129(catalog, "2.8.0")[("windows", "x86_64")]
    assert win.fact("exists").source == "TI" and win.fact("exists").confirmed
    assert "TI-CU129" in catalog.sources and "049cd025d3e0680b4d40230b6dc7a1ad7098359d" in catalog.sources["TI-CU129"]


def test_platforms_without_release_builds_are_recorded_with_their_source(catalog):
    said = {(p.os, p.arch): p for p in catalog.platforms}
    assert set(said) == {("windows", "aarch64"), ("linux", "s390x"), ("linux", "ppc64le")}
    for p in said.values():
        assert p.provenance.source in catalog.sources
        assert not catalog.builds(os=p.os, arch=p.arch)  # a note never hides a build the catalog has
    # PyTorch builds Windows arm64 and s390x wheels for its nightly index; no release of them is confirmed
    assert not said[("windows", "aarch64")].provenance.confirmed
    assert not said[("linux", "s390x")].provenance.confirmed
    assert said[("linux", "ppc64le")].provenance.confirmed


def test_index_builds_confirmed_by_the_release_matrix(catalog):
    # test-infra's release/2.14 matrix validates Python 3.10-3.15t for cu126, on a manylinux2_28 image
    b = build(catalog, "2.14.1", "cu126")
    assert (b.fact("wheels").source, b.fact("glibc_min").source) == ("TI-PY", "TI-IMAGE")
    assert "wheels" not in b.unconfirmed() and "glibc_min" not in b.unconfirmed()
    # release/2.12 lists no 3.13t, and 2.12.0's wheels include cp313t: not confirmed
    assert "wheels" in build(catalog, "2.12.0", "cu126").unconfirmed()
    # no release/2.15 branch was read: 2.15's index builds stay as they were
    assert {"exists", "wheels"} <= set(build(catalog, "2.15.0", "cu130").unconfirmed())
    # 2.6's CPU build was made on manylinux2014 (pytorch PR #141565): glibc 2.17, not 2.28
    cpu26 = build(catalog, "2.6.0", "cpu")
    assert cpu26.glibc_min == "2.17" and {w.platform for w in cpu26.wheels} == {"linux_x86_64"}
    # RELEASE.md: "+PTX available on linux builds only"; a list without PTX (cu126) is the same on Windows
    win126 = build(catalog, "2.14.1", "cu126", os="windows")
    assert win126.fact("arches").source == "REL" and "arches" not in win126.unconfirmed() and not win126.ptx
    # PyPI's pins name the build PyPI serves, so "not PyPI's" is confirmed for the others
    assert build(catalog, "2.14.1", "cu130").pypi_default
    assert build(catalog, "2.14.1", "cu126").fact("pypi_default").source == "PYPI-METADATA"
    assert build(catalog, "2.14.1", "cu126", os="windows").fact("pypi_default").source == "PYPI-WHEEL-ARCH"
