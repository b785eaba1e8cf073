"""`torchup matrix` and its agreement with `catalog --gpu` and with `plan`, through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from torchup.catalog import hardware
from torchup.catalog.load import load_catalog


def torchup(env, *args, timeout=60):
    return subprocess.run([sys.executable, "-m", "torchup", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def env(clean_env, tmp_path):
    return dict(clean_env, TORCHUP_CACHE_DIR=str(tmp_path / "cache"))


def test_gtx_1080_ti_is_last_served_by_2_14_1(env):
    out = torchup(env, "matrix", "--gpu", "GTX 1080 Ti", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["format"] == "torchup/matrix" and data["version"] == 1
    assert data["gpu"]["compute_capability"] == "6.1"
    assert data["newest"] == {"torch": "2.14.1", "builds": [{"variant": "cu126",
                                                             "platforms": ["linux x86_64", "windows x86_64"]}]}
    assert all(r["torch"] != "2.15.0" for r in data["rows"])
    cu118 = next(r for r in data["rows"] if r["torch"] == "2.7.1" and r["variant"] == "cu118")
    # the floors are the driver table's, on both systems
    assert cu118["driver"]["linux"] == {"min": hardware.CUDA_MINOR_COMPAT[11][0], "full": hardware.CUDA_FULL_SUPPORT["11.8"][0]}
    assert cu118["driver"]["windows"] == {"min": hardware.CUDA_MINOR_COMPAT[11][1], "full": hardware.CUDA_FULL_SUPPORT["11.8"][1]}
    assert "3.9" in cu118["pythons"] and "3.13t" in cu118["pythons"]
    text = torchup(env, "matrix", "--gpu", "GTX 1080 Ti").stdout
    assert text.splitlines()[1] == ("The newest build that runs GTX 1080 Ti: torch 2.14.1 "
                                    "(cu126 on linux x86_64, windows x86_64).")


def test_catalog_gpu_gives_the_same_answer(env):
    matrix = json.loads(torchup(env, "matrix", "--gpu", "NVIDIA GeForce GTX 1080 Ti", "--json").stdout)
    catalog = json.loads(torchup(env, "catalog", "--gpu", "NVIDIA GeForce GTX 1080 Ti", "--json").stdout)
    assert catalog["gpu"]["newest"] == matrix["newest"]
    text = torchup(env, "catalog", "--gpu", "NVIDIA GeForce GTX 1080 Ti").stdout
    assert "The newest build that runs NVIDIA GeForce GTX 1080 Ti: torch 2.14.1" in text
    # one release: its verdicts are the matrix's rows for that release
    catalog = json.loads(torchup(env, "catalog", "--torch", "2.7.1", "--gpu", "RTX 5090", "--json").stdout)
    matrix = json.loads(torchup(env, "matrix", "--gpu", "RTX 5090", "--json").stdout)
    runs = {(b["variant"], f"{b['os']} {b['arch']}") for b in catalog["gpu"]["builds"] if b["runs"]}
    rows = {(r["variant"], p) for r in matrix["rows"] if r["torch"] == "2.7.1" for p in r["platforms"]}
    assert runs == rows and ("cu128", "linux x86_64") in runs and ("cu126", "linux x86_64") not in runs


@pytest.mark.parametrize("gpu", ["GTX 1080 Ti", "RTX 4090", "Tesla K80", "RX 7900 XTX"])
def test_the_newest_build_is_what_plan_chooses(env, tmp_path, gpu):
    """With a driver new enough for anything, plan on Linux x86_64 picks the matrix's newest build there."""
    data = json.loads(torchup(env, "matrix", "--gpu", gpu, "--json").stdout)
    newest = next(r for r in data["rows"] if "linux x86_64" in r["platforms"])
    python = [p for p in newest["pythons"] if not p.endswith("t")][-1]
    machine = tmp_path / "m.json"
    machine.write_text(json.dumps({"os": "linux", "arch": "x86_64", "python": python}))
    args = ["plan", "--machine", str(machine), "--gpu", gpu, "--json"]
    if hardware.gpu_by_name(gpu).vendor == "nvidia":
        args += ["--driver", "999.99"]
    out = torchup(env, *args)
    assert out.returncode == 0, out.stdout
    plan = json.loads(out.stdout)
    assert plan["torch"].split("+")[0] == newest["torch"]
    same = {r["variant"] for r in data["rows"] if r["torch"] == newest["torch"] and "linux x86_64" in r["platforms"]}
    assert plan["variant"] in {*same, "pypi"} and plan["variant"] != "cpu"


def test_all_builds(env):
    data = json.loads(torchup(env, "matrix", "--json").stdout)
    catalog = load_catalog(use_cache=False)
    pairs = {(b.torch, b.variant) for r in catalog.releases for b in r.builds}
    assert {(r["torch"], r["variant"]) for r in data["rows"]} == pairs and len(data["rows"]) == len(pairs)
    assert data["gpu"] is None and data["newest"] is None
    assert data["rows"][0]["torch"] == catalog.newest().version


def test_apple_and_unknown(env):
    data = json.loads(torchup(env, "matrix", "--gpu", "Apple M3 Max", "--json").stdout)
    assert data["newest"]["builds"] == [{"variant": "cpu", "platforms": ["macos aarch64"]}]
    out = torchup(env, "matrix", "--gpu", "Potato 3000")
    assert out.returncode == 2 and "unknown GPU model" in out.stderr and "Traceback" not in out.stderr
    out = torchup(env, "matrix", "--gpu", "Potato 3000", "--json")
    assert out.returncode == 2 and json.loads(out.stdout)["error"]["code"] == "usage"


def test_a_name_with_escapes_is_shown_not_obeyed(env):
    text = torchup(env, "matrix", "--gpu", "RTX 4090\x1b[2J").stdout
    assert "\x1b" not in text and "RTX 4090\\x1b[2J" in text.splitlines()[1]
