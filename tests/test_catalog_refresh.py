"""`torchup catalog refresh` end to end against local indexes on 127.0.0.1:
a PyPI stand-in (PEP 691 JSON or PEP 503 HTML, PEP 658 metadata) and a PyTorch
index stand-in (HTML only, 403 for missing pages), with injected faults."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.index_server import IndexServer
from tests.support.wheels import make_wheel
from torchup.catalog.load import MAX_BYTES, cache_path, load_catalog, read_catalog_file
from torchup.catalog.snapshot import read_snapshot
from torchup.catalog.refresh import RefreshOptions, files_by_version, parse_simple_page, refresh_catalog, PageError
from torchup.errors import NetworkError

NEW = "2.16.0"


def no_run(argv):
    raise AssertionError(f"no command expected, got {argv}")


@pytest.fixture
def indexes(tmp_path):
    wheels = tmp_path / "wheels"
    pypi = IndexServer(missing_status=404, json_api=True).start()
    pt = IndexServer(missing_status=403, json_api=False).start()
    cuda = ['cuda-toolkit[cudart]==13.2.2; platform_system == "Linux"', "filelock"]
    for tag in ("cp312-cp312-manylinux_2_28_x86_64", "cp313-cp313-manylinux_2_28_x86_64",
                "cp312-cp312-manylinux_2_28_aarch64"):
        pypi.add_wheel("simple", make_wheel(wheels / "pypi", "torch", NEW, tag=tag, requires_dist=cuda,
                                            requires_python=">=3.11"))
    for tag in ("cp312-cp312-win_amd64", "cp312-cp312-macosx_14_0_arm64"):
        pypi.add_wheel("simple", make_wheel(wheels / "pypi", "torch", NEW, tag=tag, requires_python=">=3.11"))
    pypi.add_wheel("simple", make_wheel(wheels / "pypi", "torchvision", "0.31.0", tag="cp312-cp312-manylinux_2_28_x86_64",
                                        requires_dist=[f"torch=={NEW}"]))
    pypi.add_wheel("simple", make_wheel(wheels / "pypi", "torchvision", "0.30.0", tag="cp312-cp312-manylinux_2_28_x86_64",
                                        requires_dist=["torch==2.15.0"]))
    # torchaudio as on PyPI: 2.11.0 without a torch requirement, 2.11.1 one py3 wheel per platform, torch>=2.11
    pypi.add_wheel("simple", make_wheel(wheels / "pypi", "torchaudio", "2.11.0", tag="cp312-cp312-manylinux_2_28_x86_64"))
    pypi.add_wheel("simple", make_wheel(wheels / "pypi", "torchaudio", "2.11.1", tag="py3-none-manylinux_2_28_x86_64",
                                        requires_dist=["torch>=2.11"]))
    # an already-known release gains a wheel on PyPI
    pypi.add_wheel("simple", make_wheel(wheels / "pypi", "torch", "2.15.0", tag="cp316-cp316-manylinux_2_28_x86_64"))
    for variant in ("cu132", "cu130", "cpu", "xpu", "rocm7.2", "cu126"):  # no rocm7.14 page: 403
        pt.add_project(f"whl/{variant}", "torch")
    for tag in ("cp312-cp312-manylinux_2_28_x86_64", "cp313-cp313-manylinux_2_28_x86_64"):
        pt.add_wheel("whl/cu132", make_wheel(wheels / "cu132", "torch", f"{NEW}+cu132", tag=tag))
        pt.add_wheel("whl/cu134", make_wheel(wheels / "cu134", "torch", f"{NEW}+cu134", tag=tag))
    # the unconfirmed 2.15.0 cu130 build is now seen on the index
    pt.add_wheel("whl/cu130", make_wheel(wheels / "cu130", "torch", "2.15.0+cu130", tag="cp312-cp312-manylinux_2_28_x86_64"))
    yield pypi, pt
    pypi.stop()
    pt.stop()


def options(pypi, pt, **kw):
    return RefreshOptions(index_base=pt.url + "/whl", pypi_index=pypi.index_url("simple"), timeout=10, **kw)


def test_refresh_merges_new_release_variant_and_tags(tmp_path, indexes):
    pypi, pt = indexes
    env = {"TORCHUP_CACHE_DIR": str(tmp_path / "cache")}
    result = refresh_catalog(env, options(pypi, pt), no_run)
    changes = "\n".join(result.changes)
    assert f"new release {NEW} (PyPI)" in changes
    assert f"{NEW}: new build cu134 for linux x86_64 (PyTorch index)" in changes
    assert "2.15.0 PyPI linux x86_64: new wheels cp316-manylinux_2_28_x86_64" in changes
    assert "2.15.0 cu130 linux x86_64: confirmed on the PyTorch index" in changes
    # the cache is what load_catalog now uses
    cat = load_catalog(env)
    assert cat.origin == str(cache_path(env)) and cat.newest().version == NEW
    rel = cat.release(NEW)
    assert rel.requires_python == ">=3.11"
    tv, ta = rel.companions
    assert (tv.name, tv.version, tv.matched, tv.requires_torch) == ("torchvision", "0.31.0", True, f"=={NEW}")
    # the newest torchaudio whose requirement admits the new torch, not built for it
    assert (ta.version, ta.matched, ta.requires_torch, ta.pythons) == ("2.11.1", False, ">=2.11", ("py3",))
    assert "not built for this torch" in ta.note
    default = [b for b in rel.builds if b.pypi_default and b.os == "linux" and b.arch == "x86_64"][0]
    assert default.variant == "cu132" and default.cuda == "13.2"  # from the PEP 658 metadata pins
    arm = [b for b in rel.builds if b.pypi_default and b.arch == "aarch64"][0]
    assert arm.variant == "cu132"
    assert [b.variant for b in rel.builds if b.os == "windows"] == ["cpu"]
    mac = [b for b in rel.builds if b.os == "macos"][0]
    assert mac.macos_min == "14.0" and mac.local_label is None
    cu134 = [b for b in rel.builds if b.variant == "cu134"][0]
    assert cu134.fact("exists").confirmed and cu134.cuda == "13.4"
    assert cu134.pythons == ("cp312", "cp313")
    # arch lists of a learnt build are copied from the previous release, and marked
    assert default.sass and "arches" in default.unconfirmed()
    b130 = [b for b in cat.release("2.15.0").builds if b.variant == "cu130" and b.os == "linux" and b.arch == "x86_64"][0]
    assert b130.fact("exists").confirmed and b130.fact("exists").source == "PYTORCH-INDEX"
    # the page shows one wheel of the seven the catalog lists: a partial page drops nothing, confirms no wheel list
    before = [b for b in load_catalog(use_cache=False).release("2.15.0").builds
              if b.variant == "cu130" and b.os == "linux" and b.arch == "x86_64"][0]
    assert b130.wheels == before.wheels and "cp312" in b130.pythons
    assert "wheels" in b130.unconfirmed()
    assert not any("not listed" in c for c in result.changes)
    # the pages missing on PyTorch's index (403) are notes, not failures
    assert [n for n in result.notes if "403" in n] == [f"{pt.url}/whl/rocm7.14/torch/ is not on the index (HTTP 403/404)"]
    # JSON was asked of PyPI, HTML of PyTorch's index
    assert any("application/vnd.pypi.simple.v1+json" in accept for _, accept in pypi.requests)
    # nothing else was left in the cache dir
    # and the refresh kept it as a snapshot too (a millisecond to load), which says what the JSON says
    assert sorted(os.listdir(tmp_path / "cache")) == ["catalog.json", "catalog.marshal", "stack.json"]
    cache_json = tmp_path / "cache" / "catalog.json"
    assert read_snapshot(cache_json, max_bytes=MAX_BYTES, origin=str(cache_json)) == cat == read_catalog_file(cache_json)
    assert cat.origin == str(cache_json)
    # what the snapshot says of platforms without release builds survives the refresh
    assert cat.platforms == load_catalog(use_cache=False).platforms and cat.platform_note("linux", "s390x")


def test_refresh_reads_pep503_html_pypi_too(tmp_path, indexes):
    pypi, pt = indexes
    pypi.json_api = False
    env = {"TORCHUP_CACHE_DIR": str(tmp_path)}
    result = refresh_catalog(env, options(pypi, pt), no_run)
    assert f"new release {NEW} (PyPI)" in result.changes
    assert load_catalog(env).release(NEW).requires_python == ">=3.11"  # from data-requires-python


def test_second_refresh_reports_no_changes(tmp_path, indexes):
    pypi, pt = indexes
    env = {"TORCHUP_CACHE_DIR": str(tmp_path)}
    refresh_catalog(env, options(pypi, pt), no_run)
    again = refresh_catalog(env, options(pypi, pt), no_run)
    assert again.changes == ()


FAULTS = [
    ("/simple/torch/", dict(status=500), "HTTP 500"),
    ("/simple/torch/", dict(cut_after=100), "cut off"),
    ("/simple/torch/", dict(truncate=150), "does not parse"),
    ("/simple/torch/", dict(corrupt=True), "does not parse"),
    ("/simple/torch/", dict(body=b'{"hello": "world"}'), "not a PEP 691"),
]


@pytest.mark.parametrize("prefix,fault,words", FAULTS)
def test_a_pypi_failure_keeps_the_old_data(tmp_path, indexes, prefix, fault, words):
    pypi, pt = indexes
    env = {"TORCHUP_CACHE_DIR": str(tmp_path / "cache")}
    refresh_catalog(env, options(pypi, pt), no_run)  # a good cache first
    before = cache_path(env).read_bytes()
    pypi.fault(prefix, **fault)
    with pytest.raises(NetworkError) as err:
        refresh_catalog({**env, "TORCHUP_CACHE_DIR": str(tmp_path / "cache")}, options(pypi, pt), no_run)
    assert words in err.value.message and "not changed" in err.value.message
    assert cache_path(env).read_bytes() == before
    assert sorted(os.listdir(tmp_path / "cache")) == ["catalog.json", "catalog.marshal", "stack.json"]  # no temporary file left


def test_a_companion_page_failure_stops_the_refresh(tmp_path, indexes):
    pypi, pt = indexes
    pypi.fault("/simple/torchvision/", status=503)
    env = {"TORCHUP_CACHE_DIR": str(tmp_path / "cache")}
    with pytest.raises(NetworkError) as err:
        refresh_catalog(env, options(pypi, pt), no_run)
    assert "torchvision" in err.value.message and "HTTP 503" in err.value.message
    assert not cache_path(env).exists()


PT_FAULTS = [
    (dict(status=502), "HTTP 502"),
    (dict(cut_after=50), "cut off"),
    (dict(truncate=120), "truncated"),
    (dict(corrupt=True), "corrupted"),
    (dict(body=b"Access denied\n"), "does not start like"),
]


@pytest.mark.parametrize("fault,words", PT_FAULTS)
def test_a_bad_pytorch_index_page_is_a_note_and_learns_nothing(tmp_path, indexes, fault, words):
    pypi, pt = indexes
    env = {"TORCHUP_CACHE_DIR": str(tmp_path / "cache")}
    pt.fault("/whl/cu132/torch/", **fault)
    result = refresh_catalog(env, options(pypi, pt), no_run)
    assert [n for n in result.notes if words in n and "/whl/cu132/torch/" in n]
    assert any("could not be read for cu132:" in u for u in result.unconfirmed)
    rel = load_catalog(env).release(NEW)
    # PyPI's cu132 builds are learnt; nothing came from the bad page (its 2.16.0+cu132 wheels are cp312/cp313 only)
    assert [b.variant for b in rel.builds if b.variant == "cu132" and not b.pypi_default] == []
    assert "cu134" in {b.variant for b in rel.builds}  # the other pages were read
    assert sorted(os.listdir(tmp_path / "cache")) == ["catalog.json", "catalog.marshal", "stack.json"]


def test_pytorch_index_down_learns_what_pypi_tells(tmp_path, indexes):
    pypi, pt = indexes
    opts, pt_url = options(pypi, pt), pt.url
    pt.stop()  # a closed loopback port: every page of PyTorch's index is refused
    env = {"TORCHUP_CACHE_DIR": str(tmp_path / "cache")}
    result = refresh_catalog(env, opts, no_run)
    assert f"new release {NEW} (PyPI)" in result.changes
    assert "2.15.0 PyPI linux x86_64: new wheels cp316-manylinux_2_28_x86_64" in result.changes
    assert not any("PyTorch index" in c for c in result.changes)
    refused = [n for n in result.notes if n.startswith(f"could not read {pt_url}/whl/") and "refused" in n]
    for variant in ("cu132", "cu130", "cpu", "xpu", "rocm7.2", "rocm7.14", "cu134"):
        assert any(f"/whl/{variant}/torch/" in n for n in refused), variant
    # (the stack packages this PyPI stand-in lacks are notes of their own: "the facts on X are kept")
    assert len(refused) == len([n for n in result.notes if "the facts on" not in n])
    cat = load_catalog(env)
    rel = cat.release(NEW)
    # what PyPI tells: the release, its Python range, PyPI's build per platform (CUDA from the metadata), companions
    assert rel.requires_python == ">=3.11"
    assert sorted((b.os, b.arch, b.variant) for b in rel.builds) == [
        ("linux", "aarch64", "cu132"), ("linux", "x86_64", "cu132"), ("macos", "aarch64", "cpu"), ("windows", "x86_64", "cpu")]
    assert all(b.pypi_default and b.fact("exists").confirmed for b in rel.builds)
    assert rel.companion("torchvision").version == "0.31.0"
    # what it could not confirm, in words
    said = "\n".join(result.unconfirmed)
    assert f"PyTorch's index ({pt_url}/whl) could not be read for cu130, cu126, cu132, cpu, rocm7.2, rocm7.14, xpu, cu134:" in said
    assert f"torch {NEW}: only the builds seen were learnt (cpu, cu132)" in said
    assert f"torch {NEW}: the GPU architecture lists of cu132 are copied from the previous release" in said
    # a build the catalog could not confirm before stays unconfirmed
    b130 = [b for b in cat.release("2.15.0").builds if b.variant == "cu130" and b.os == "linux" and b.arch == "x86_64"][0]
    assert not b130.fact("exists").confirmed


def test_a_complete_index_page_confirms_the_wheel_list(tmp_path, indexes):
    pypi, pt = indexes
    catalog = load_catalog(use_cache=False)
    b126 = [b for b in catalog.release("2.12.0").builds if b.variant == "cu126" and b.os == "linux" and b.arch == "x86_64"][0]
    assert "wheels" in b126.unconfirmed()
    for w in b126.wheels:
        pt.add_wheel("whl/cu126", make_wheel(tmp_path / "w126", "torch", "2.12.0+cu126", tag=w.tag))
    refresh_catalog({"TORCHUP_CACHE_DIR": str(tmp_path / "cache")}, options(pypi, pt), no_run)
    after = [b for b in load_catalog({"TORCHUP_CACHE_DIR": str(tmp_path / "cache")}).release("2.12.0").builds
             if b.variant == "cu126" and b.os == "linux" and b.arch == "x86_64"][0]
    assert after.wheels == b126.wheels and after.fact("wheels").source == "PYTORCH-INDEX"
    assert "wheels" not in after.unconfirmed()


def test_unreachable_index_is_a_network_error(tmp_path, indexes):
    pypi, pt = indexes
    url = pypi.index_url("simple")
    pypi.stop()
    with pytest.raises(NetworkError) as err:
        refresh_catalog({"TORCHUP_CACHE_DIR": str(tmp_path)},
                        RefreshOptions(index_base=pt.url + "/whl", pypi_index=url, timeout=5), no_run)
    assert "refused" in err.value.message
    assert not cache_path({"TORCHUP_CACHE_DIR": str(tmp_path)}).exists()


def test_pypi_index_from_the_installer_configuration(tmp_path, indexes):
    pypi, pt = indexes
    env = {"TORCHUP_CACHE_DIR": str(tmp_path), "PIP_INDEX_URL": pypi.index_url("simple")}
    result = refresh_catalog(env, RefreshOptions(index_base=pt.url + "/whl", timeout=10), no_run)
    assert f"new release {NEW} (PyPI)" in result.changes
    asked = []

    def run(argv):
        asked.append(argv)
        return pypi.index_url("simple") + "\n" if "config" in argv else None

    env = {"TORCHUP_CACHE_DIR": str(tmp_path / "b")}
    refresh_catalog(env, RefreshOptions(index_base=pt.url + "/whl", timeout=10), run)
    assert asked and asked[0][-3:] == ["config", "get", "global.index-url"]


def test_parse_pages():
    html = (b'<!DOCTYPE html>\n<html><body>\n<a href="torch-2.9.0%2Bcu128-cp312-cp312-manylinux_2_28_x86_64.whl#sha256=ab"'
            b' data-requires-python="&gt;=3.10">torch-2.9.0+cu128-cp312-cp312-manylinux_2_28_x86_64.whl</a>\n'
            b'<a href="torch-2.9.0.dev20250101%2Bcu128-cp312-cp312-linux_x86_64.whl">x</a></body></html>\n')
    files = parse_simple_page(html, "text/html", "http://127.0.0.1/whl/cu128/torch/")
    assert files[0].requires_python == ">=3.10" and files[0].url.endswith("#sha256=ab")
    grouped = files_by_version(files)
    assert list(grouped) == ["2.9.0"] and grouped["2.9.0"]["label"] == "cu128"
    assert grouped["2.9.0"]["wheels"][("linux", "x86_64")] == {("cp312", "cp312", "manylinux_2_28_x86_64")}
    with pytest.raises(PageError):
        parse_simple_page(b"\xff\xfe garbage", "text/html", "http://x/")
    with pytest.raises(PageError):
        parse_simple_page(b'{"meta": {}, "files": [{"filename": 3}]}', "application/vnd.pypi.simple.v1+json", "http://x/")


def test_cli_refresh_and_show(tmp_path, indexes, clean_env):
    pypi, pt = indexes
    env = dict(clean_env, TORCHUP_CACHE_DIR=str(tmp_path / "cache"), TORCHUP_INDEX_BASE=pt.url + "/whl")
    cmd = [sys.executable, "-m", "torchup", "catalog", "refresh", "--pypi-index", pypi.index_url("simple")]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"new release {NEW} (PyPI)" in out.stdout and "catalog refreshed" in out.stdout
    show = subprocess.run([sys.executable, "-m", "torchup", "catalog", "--json"], env=env, capture_output=True, text=True, timeout=60)
    data = json.loads(show.stdout)
    assert data["torch"] == NEW and data["catalog"]["origin"].endswith("catalog.json")
    pt.fault("/whl/cu132/torch/", truncate=100)
    partial = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert partial.returncode == 0, partial.stderr
    assert "truncated" in partial.stdout and "not confirmed: PyTorch's index" in partial.stdout
    pypi.fault("/simple/torch/", truncate=100)
    bad = subprocess.run(cmd + ["--json"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 5  # EXIT_NETWORK
    err = json.loads(bad.stdout)["error"]
    assert "does not parse" in err["message"] and "Traceback" not in bad.stderr


def test_requires_dist_applies_markers_and_skips_garbage():
    from torchup.metadata import requires_dist

    text = (
        "Metadata-Version: 2.1\nName: torch\nVersion: 2.14.1\n"
        "Requires-Dist: filelock\n"
        "Requires-Dist: nvidia-cublas==13.1.0.3; platform_system == \"Linux\"\n"
        "Requires-Dist: not a ( requirement\n"
        "Requires-Dist: pywin32; sys_platform == \"win32\"\n"
    )
    linux = {"platform_system": "Linux", "sys_platform": "linux"}
    assert [str(r) for r in requires_dist(text, linux)] == ["filelock", 'nvidia-cublas==13.1.0.3; platform_system == "Linux"']


def test_a_new_release_whose_metadata_cannot_be_read_is_not_guessed_cpu(tmp_path, indexes):
    pypi, pt = indexes
    pypi.fault(f"/simple/torch/torch-{NEW}-", status=500)  # the PEP 658 files of the new release
    env = {"TORCHUP_CACHE_DIR": str(tmp_path / "cache")}
    result = refresh_catalog(env, options(pypi, pt), no_run)
    rel = load_catalog(env).release(NEW)
    assert not [b for b in rel.builds if b.os == "linux" and b.pypi_default]
    assert [b.variant for b in rel.builds if b.os == "windows"] == ["cpu"]
    said = "\n".join(result.unconfirmed)
    for arch in ("x86_64", "aarch64"):
        assert f"torch {NEW} on PyPI for linux {arch}: its metadata could not be read" in said
