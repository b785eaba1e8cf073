"""`torchup catalog` (show, --gpu, --json) through the real CLI entry point."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def torchup(env, *args, timeout=60):
    return subprocess.run([sys.executable, "-m", "torchup", "catalog", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def env(clean_env, tmp_path):
    return dict(clean_env, TORCHUP_CACHE_DIR=str(tmp_path / "cache"))


def test_show_newest_by_default(env):
    out = torchup(env)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith("torch 2.15.0  released 2026-10-28  Requires-Python >=3.11")
    assert "cu132     [PyPI default] CUDA 13.2, cuDNN 9.26.0.51  glibc>=2.28" in text
    assert "torchaudio: 2.11.1\n" in text  # released with 2.15.0 (py3 wheels, torch>=2.11)
    assert "data from " in text and "embedded" in text


def test_show_a_release_with_arch_lists(env):
    text = torchup(env, "--torch", "2.14.1").stdout
    assert "sm_75 sm_80 sm_86 sm_90 sm_100 sm_120 (no PTX)" in text
    assert "torchaudio: 2.11.1  (not built for this release)" in text
    assert "Python 3.10 3.11 3.12 3.13 3.14 3.14t" in text
    assert "macOS>=14.0" in text


def test_json_has_everything(env):
    data = json.loads(torchup(env, "--torch", "2.5.1", "--json").stdout)
    assert data["torch"] == "2.5.1" and data["catalog"]["origin"] == "embedded"
    builds = {(b["variant"], b["os"], b["arch"]): b for b in data["builds"]}
    default = builds[("cu124", "linux", "x86_64")]
    assert default["pypi_default"] and default["glibc_min"] == "2.17" and "glibc_min" in default["unconfirmed"]
    assert default["provenance"]["cuda"] == {"source": "PYPI-METADATA", "confidence": "confirmed"}
    assert ("xpu", "linux", "x86_64") in builds and ("xpu", "windows", "x86_64") not in builds
    assert [c["version"] for c in data["companions"]] == ["0.20.1", "2.5.1"]
    assert "PYPI-METADATA" in data["sources"]


def test_gpu_view(env):
    data = json.loads(torchup(env, "--torch", "2.7.1", "--gpu", "NVIDIA GeForce RTX 5090", "--json").stdout)
    gpu = data["gpu"]
    assert gpu["compute_capability"] == "12.0" and gpu["family"] == "Blackwell"
    runs = {(b["variant"], b["os"]) for b in gpu["builds"] if b["runs"]}
    assert runs == {("cu128", "linux"), ("cu128", "windows")}
    no = [b for b in gpu["builds"] if b["variant"] == "cu126" and b["os"] == "linux"][0]
    assert "sm_120" in no["why_not"]
    text = torchup(env, "--torch", "2.7.1", "--gpu", "NVIDIA GeForce RTX 5090").stdout
    assert "runs cu128     linux x86_64 via sass 12.0" in text


def test_errors_are_clean(env):
    out = torchup(env, "--torch", "1.2.3")
    assert out.returncode == 2 and "not in the catalog" in out.stderr and "Traceback" not in out.stderr
    out = torchup(env, "--gpu", "Potato 3000")
    assert out.returncode == 2 and "unknown GPU model" in out.stderr


def test_stale_data_suggests_a_refresh(env, tmp_path):
    from torchup.record import replace

    from torchup.catalog.load import cache_path, cache_text, load_catalog

    cat = load_catalog(use_cache=False)
    path = cache_path(env)
    path.parent.mkdir(parents=True)
    path.write_text(cache_text(replace(cat, data_date="2099-01-01")))
    text = torchup(env).stdout
    assert "catalog.json" in text and "refresh" not in text.split("data from")[1]
    path.write_text(cache_text(replace(cat, data_date="2000-01-01")))
    # an older cache is ignored: the embedded data is used; make the embedded look old instead
    data = json.loads(torchup(env, "--json").stdout)
    assert data["catalog"]["origin"] == "embedded"
    from torchup.commands.catalog import render_release, release_view

    view = release_view(replace(cat, data_date="2000-01-01"), cat.newest())
    assert view["catalog"]["stale"] and "torchup catalog refresh" in render_release(view)


def test_gpu_view_apple(env):
    data = json.loads(torchup(env, "--gpu", "Apple M3 Max", "--json").stdout)
    runs = [(b["variant"], b["os"], b["arch"]) for b in data["gpu"]["builds"] if b["runs"]]
    assert runs == [("cpu", "macos", "aarch64")]
