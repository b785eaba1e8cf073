"""uv's wheel variants as an alternative: PyTorch's variant metadata (reader, parser, fit) and the
alternative ``plan`` shows.  The metadata is a recorded copy of a published file
(tests/fixtures/SOURCES.md, "Wheel variants"), served by a loopback index where it is read."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.index_server import IndexServer
from tests.support.wheels import make_wheel
from tests.test_catalog_refresh import NEW, indexes, no_run, options  # noqa: F401 (indexes: a fixture)
from tests.test_render import PLANS
from tests.test_resolve_cli import RTX4090_DRIVER580
from torchup.catalog.refresh import refresh_catalog
from torchup.catalog.variants import (
    VariantMetadataError,
    cached_variant_metadata,
    parse_variant_metadata,
    read_variant_metadata,
    why_not_variant,
)
from torchup.machine import Gpu, Machine
from torchup.record import replace
from torchup.render.variants import alternative

RECORDED = Path(__file__).parent / "fixtures" / "variants" / "torch-2.8.0-variants__wheelnext-index.json"
BASE = "https://download.pytorch.org/whl"


def _recorded():
    return parse_variant_metadata(RECORDED.read_text(), source="recorded")


def _machine(os_="linux", arch="x86_64", vendor="nvidia", cc="8.9", cuda="12.8"):
    gpu = Gpu(vendor=vendor, name="a GPU", compute_capability=cc if vendor == "nvidia" else None)
    return Machine(os=os_, arch=arch, python="3.12", cuda_driver_max=cuda if vendor == "nvidia" else None, gpus=(gpu,))


def test_the_recorded_file_parses_into_its_variants():
    meta = _recorded()
    assert meta.namespaces == ("nvidia",)
    assert [v.label for v in meta.variants] == ["00000000", "cu126", "cu128", "cu129"]
    assert meta.variant("cu128").values("nvidia", "cuda_version_lower_bound") == ("12.8",)
    assert "120_virtual" in meta.variant("cu129").values("nvidia", "sm_arch")
    assert meta.variant("00000000").properties == {}


def test_a_bad_file_names_every_bad_field():
    bad = {
        "default-priorities": {"namespace": ["nvidia"]},
        "variants": {
            "CU126": {},
            "cu128": {"amd": {"gfx": ["gfx1100"]}, "nvidia": {"sm_arch": [], "cuda_version_lower_bound": ["12 8"]}},
        },
    }
    with pytest.raises(VariantMetadataError) as err:
        parse_variant_metadata(json.dumps(bad), source="x")
    assert err.value.problems == [
        "variants.CU126: not a variant label ([0-9a-z._], 1 to 16 characters)",
        "variants.cu128.amd: namespace not in default-priorities.namespace",
        "variants.cu128.nvidia.sm_arch: not a non-empty list",
        "variants.cu128.nvidia.cuda_version_lower_bound: a value is not [a-z0-9_.]",
    ]
    for text in ("[]", "{", '{"variants": {}}'):
        with pytest.raises(VariantMetadataError):
            parse_variant_metadata(text, source="x")


@pytest.mark.parametrize(
    ("label", "cuda", "ccs", "why"),
    [
        ("cu128", "12.8", ["8.9"], None),  # 86_real: binary compatible within major 8
        ("cu126", "13.0", ["9.0"], None),
        ("cu129", "12.8", ["8.9"], "needs a driver for CUDA 12.9; this one supports 12.8"),
        ("cu126", "12.8", ["12.0"], "has no kernels for compute capability 12.0"),
        ("cu129", "12.9", ["12.1"], None),  # 120_real covers 12.1 (same major)
        ("cu128", "12.8", ["3.7"], "has no kernels for compute capability 3.7"),
        ("cu128", None, ["8.9"], "the driver's CUDA version is unknown"),
        ("cu128", "12.8", [], "no GPU compute capability is known"),
        ("00000000", None, [], None),
    ],
)
def test_why_a_variant_does_not_fit(label, cuda, ccs, why):
    found = why_not_variant(_recorded().variant(label), cuda_driver_max=cuda, compute_capabilities=ccs)
    assert (found is None) if why is None else (found is not None and found.startswith(why)), found


def test_hostile_numbers_are_reasons_not_crashes():
    long = "9" * 5000
    hostile = parse_variant_metadata(
        json.dumps(
            {
                "default-priorities": {"namespace": ["nvidia"]},
                "variants": {"x": {"nvidia": {"cuda_version_lower_bound": [long], "sm_arch": [f"{long}_real"]}}},
            }
        ),
        source="x",
    )
    why = why_not_variant(hostile.variant("x"), cuda_driver_max="12.8", compute_capabilities=["9.0"])
    assert why is not None and why.startswith("has a CUDA bound torchup cannot read")
    assert why_not_variant(_recorded().variant("cu128"), cuda_driver_max=long, compute_capabilities=[f"8.{long}"])


def test_the_reader_against_a_loopback_copy_and_its_failures(tmp_path):
    served = tmp_path / "torch-2.8.0-variants.json"
    served.write_bytes(RECORDED.read_bytes())
    broken = tmp_path / "torch-2.9.0-variants.json"
    broken.write_text('{"variants": "no"}')
    with IndexServer(missing_status=403, json_api=False) as server:
        server.add_wheel("whl/variant", served)
        server.add_wheel("whl/variant", broken)
        base = server.url + "/whl"
        found = read_variant_metadata(base, "2.8.0", env={}, timeout=10)
        assert not isinstance(found, str), found
        assert found.source == f"{base}/variant/torch/torch-2.8.0-variants.json"
        assert [v.label for v in found.variants] == [v.label for v in _recorded().variants]
        missing = read_variant_metadata(base, "2.7.0", env={}, timeout=10)
        assert isinstance(missing, str) and "no variant wheels of torch 2.7.0 are published there" in missing
        bad = read_variant_metadata(base, "2.9.0", env={}, timeout=10)
        assert isinstance(bad, str) and "is not variant metadata" in bad
    down = read_variant_metadata(base, "2.8.0", env={}, timeout=5)  # the server is gone
    assert isinstance(down, str) and down.startswith("could not read")


def test_the_alternative_fits_gpu_machines_on_platforms_with_variant_wheels():
    plan = PLANS["linux-cu126"]
    alt = alternative(plan, _machine(), index_base=BASE, python="/venv/bin/python", metadata=None)
    assert alt["text"] == (
        "uv pip install --python /venv/bin/python --preview-features wheel-variants "
        f"--default-index {BASE}/variant torch=={plan.base_version}"
    )
    assert alt["index_url"] == f"{BASE}/variant" and alt["label"] == "cu126" and alt["uv_version"] == "0.13.9"
    assert any("preview feature of uv" in c for c in alt["caveats"])
    assert any("NV_VARIANT_PROVIDER_FORCE_CUDA_DRIVER_VERSION" in c and "8.9" in c for c in alt["caveats"])
    # never where it does not fit: a Mac, a CPU build, a machine without that kind of GPU, a release before 2.10
    assert alternative(PLANS["macos-arm64"], _machine("macos", "aarch64"), index_base=BASE, python="p") is None
    assert alternative(PLANS["linux-cpu"], _machine(), index_base=BASE, python="p") is None
    assert alternative(plan, _machine(vendor="amd"), index_base=BASE, python="p") is None
    assert alternative(replace(plan, torch="2.9.1+cu126"), _machine(), index_base=BASE, python="p") is None
    windows = alternative(PLANS["windows-cu130-audio"], _machine("windows"), index_base=BASE, python="py.exe")
    assert windows is not None and windows["text"].startswith("uv pip install --python py.exe ")


def test_amd_and_intel_get_it_with_the_provider_caveat():
    rocm = alternative(PLANS["linux-rocm"], _machine(vendor="amd"), index_base=BASE, python="p")
    assert rocm["label"] is None and any("no built-in AMD provider" in c for c in rocm["caveats"])
    xpu = alternative(PLANS["linux-xpu"], _machine(vendor="intel"), index_base=BASE, python="p")
    assert any("no built-in Intel provider" in c for c in xpu["caveats"])


def test_the_metadata_says_whether_uv_would_pick_torchups_build():
    meta = _recorded()
    machine = _machine(cc="8.9", cuda="12.8")
    checked = {
        variant: alternative(
            replace(PLANS["linux-cu126"], variant=variant), machine, index_base=BASE, python="p", metadata=meta
        )["checked"]
        for variant in ("cu126", "cu129", "cu130")
    }
    assert checked["cu126"].startswith("the cu126 variant of recorded fits this machine")
    assert checked["cu129"] == "the cu129 variant of recorded needs a driver for CUDA 12.9; this one supports 12.8"
    assert checked["cu130"].startswith("recorded lists no cu130 variant")
    unread = alternative(PLANS["linux-cu126"], machine, index_base=BASE, python="p", metadata="it was not there")
    assert unread["checked"] == "not checked against PyTorch's variant metadata: it was not there"


def test_refresh_keeps_the_newest_releases_metadata_and_plan_checks_against_it(tmp_path, indexes):  # noqa: F811
    pypi, pt = indexes
    copy = tmp_path / f"torch-{NEW}-variants.json"  # the recorded 2.8.0 file served as the newest release's
    copy.write_bytes(RECORDED.read_bytes())
    pt.add_wheel("whl/variant", copy)
    cache = tmp_path / "cache"
    result = refresh_catalog({"TORCHUP_CACHE_DIR": str(cache)}, options(pypi, pt), no_run)
    assert not [n for n in result.notes if "variant" in n], result.notes
    kept = cached_variant_metadata(cache, NEW)
    assert not isinstance(kept, str) and kept is not None
    assert kept.source == f"{pt.url}/whl/variant/torch/torch-{NEW}-variants.json"
    assert [v.label for v in kept.variants] == ["00000000", "cu126", "cu128", "cu129"]

    machine = tmp_path / "gpu.json"
    machine.write_text(json.dumps(RTX4090_DRIVER580))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHUP_")}
    env["TORCHUP_CACHE_DIR"] = str(cache)
    r = subprocess.run(
        [sys.executable, "-m", "torchup", "plan", "--machine", str(machine), "--torch", NEW, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    variant = json.loads(r.stdout)["wheel_variant"]
    assert variant["text"].endswith(f"torch=={NEW}") and variant["label"] is not None
    assert variant["checked"].startswith(f"{pt.url}/whl/variant/torch/torch-{NEW}-variants.json lists no ")


def test_refresh_notes_a_release_without_variant_metadata(tmp_path, indexes):  # noqa: F811
    pypi, pt = indexes
    result = refresh_catalog({"TORCHUP_CACHE_DIR": str(tmp_path / "c")}, options(pypi, pt), no_run)
    assert [n for n in result.notes if "variant" in n] == [
        f"{pt.url}/whl/variant/torch/torch-{NEW}-variants.json does not exist: "
        f"no variant wheels of torch {NEW} are published there"
    ]
    assert cached_variant_metadata(tmp_path / "c", NEW) is None


def test_plan_shows_the_alternative_as_an_alternative_only(tmp_path):
    machine = tmp_path / "gpu.json"
    machine.write_text(json.dumps(RTX4090_DRIVER580))
    mac = tmp_path / "mac.json"
    mac.write_text(json.dumps({"os": "macos", "arch": "arm64", "python": "3.12", "macos_version": "15.1"}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHUP_")}
    env.update(NO_COLOR="1", TORCHUP_CACHE_DIR=str(tmp_path / "empty"))
    r = subprocess.run(
        [sys.executable, "-m", "torchup", "plan", "--machine", str(machine)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    recommended, _, rest = r.stdout.partition("Alternative: uv wheel variants")
    assert "--preview-features" not in recommended
    assert "(a uv preview feature; not the recommendation):" in rest and "--preview-features wheel-variants" in rest
    assert "none kept for torch" in rest
    r = subprocess.run(
        [sys.executable, "-m", "torchup", "plan", "--machine", str(mac), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0 and json.loads(r.stdout)["wheel_variant"] is None


# --- the real uv against loopback variant wheels -------------------------------------------------------------
# uv 0.13.9 read these variant files in a trial: the PEP 825 schema URL, a provider entry with ``plugin-api`` and
# ``requires`` for the NVIDIA namespace (served by uv's built-in NVIDIA provider; an entry with ``enable-if``, as in
# the published 2.8.0 file, did not parse), and ``null`` for the variant without properties.
PEP825 = "https://variants-schema.wheelnext.dev/peps/825/v0.1.1.json"
LOOPBACK_VARIANTS = {
    "cu126": {"nvidia": {"cuda_version_lower_bound": ["12.6"], "sm_arch": ["80_real", "90_real"]}},
    "cu130": {
        "nvidia": {"cuda_version_lower_bound": ["13.0"], "sm_arch": ["100_real", "120_real", "80_real", "90_real"]}
    },
    "null": {},
}
UV = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "uv"


def _variant_index(directory: Path, version: str) -> IndexServer:
    server = IndexServer(missing_status=403).start()
    head = {
        "$schema": PEP825,
        "default-priorities": {"namespace": ["nvidia"]},
        "providers": {
            "nvidia": {
                "plugin-api": "nvidia_variant_provider.plugin:NvidiaVariantPlugin",
                "requires": ["nvidia-variant-provider"],
            }
        },
    }
    for label, properties in LOOPBACK_VARIANTS.items():
        built = make_wheel(
            directory / label,
            "torch",
            version,
            files={
                "torch/_variant.txt": label,
                f"torch-{version}.dist-info/variant.json": json.dumps({**head, "variants": {label: properties}}),
            },
        )
        labelled = built.with_name(built.name.replace(".whl", f"-{label}.whl"))  # torch-V-py3-none-any-cu126.whl
        built.rename(labelled)
        server.add_wheel("whl/variant", labelled)
    listing = directory / f"torch-{version}-variants.json"
    listing.write_text(json.dumps({**head, "variants": LOOPBACK_VARIANTS}))
    server.add_wheel("whl/variant", listing)
    return server


@pytest.mark.parametrize(("driver", "expected"), [("12.8", "cu126"), ("13.0", "cu130"), (None, "null")])
def test_the_real_uv_runs_the_rendered_command_and_installs_what_the_checked_properties_say(
    tmp_path, clean_env, driver, expected
):
    if not UV.exists():
        pytest.skip(f"uv is not installed at {UV} (the test extra brings it)")
    if driver is None and Path("/proc/driver/nvidia/version").exists():
        pytest.skip("this host has an NVIDIA driver, so uv's provider would report it")
    plan = PLANS["linux-cu126"]
    venv = tmp_path / "venv"
    subprocess.run([str(UV), "venv", "-q", "-p", sys.executable, str(venv)], env=clean_env, check=True, timeout=120)
    python = str(venv / "bin" / "python")
    server = _variant_index(tmp_path / "wheels", plan.base_version)
    try:
        alt = alternative(
            plan, _machine(cc="9.0", cuda=driver or "12.8"), index_base=server.url + "/whl", python=python
        )
        argv = shlex.split(alt["text"])
        assert argv[0] == "uv"
        env = {**clean_env, "NV_VARIANT_PROVIDER_FORCE_SM_ARCH": "9.0"} if driver else dict(clean_env)
        if driver:
            env["NV_VARIANT_PROVIDER_FORCE_CUDA_DRIVER_VERSION"] = driver
        r = subprocess.run([str(UV), *argv[1:]], env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
    finally:
        server.stop()
    installed = subprocess.run(
        [python, "-c", "import importlib.resources as r; print(r.files('torch').joinpath('_variant.txt').read_text())"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert installed.stdout.strip() == expected, installed.stderr
    # torchup's own check of the same two properties agrees with what uv's provider chose
    meta = parse_variant_metadata(
        json.dumps(
            {**{"$schema": PEP825, "default-priorities": {"namespace": ["nvidia"]}}, "variants": LOOPBACK_VARIANTS}
        ),
        source="loopback",
    )
    fits = [
        v.label
        for v in meta.variants
        if v.properties and why_not_variant(v, cuda_driver_max=driver, compute_capabilities=["9.0"]) is None
    ]
    assert (expected in fits) if driver else (fits == [])
