"""Recorded machines, end to end: the real probe over a replayed system root and fake
tools (tests/fixtures/machines, sources in tests/fixtures/SOURCES.md), then resolve.

The target-Python facts come from the interpreter running the tests, so they are
pinned to Python 3.12 / glibc 2.35 before resolving: the answers below then follow
from the recorded GPU and driver and the facts (compat-facts.md 1a, 3, 4)."""

from __future__ import annotations

from torchup.record import replace

import pytest

from tests.test_probe_replay import replay
from torchup.catalog.load import load_catalog
from torchup.plan import Plan, Request
from torchup.resolve import resolve

CATALOG = load_catalog(use_cache=False)

CASES = [
    # (fixture, expected torch, variant, substring of a rejection / warning, why)
    ("rtx4090-driver550", "2.14.1", "cu126", "needs an NVIDIA driver >= 580",
     "driver 550.107.02: CUDA 13 builds need >= 580; cu126 runs by 12.x minor-version compatibility"),
    ("a10g-driver470-k8s", "2.7.1", "cu118", "needs an NVIDIA driver >= 525.60.13",
     "driver 470: only CUDA 11 builds (>= 450.80.02); cu118 ends at 2.7.1 and has sm_86"),
    ("h100-mig", "2.15.0", "cu130", "CUDA 13.2 by minor-version compatibility",
     "driver 590.48.01: full support for CUDA 13.0 (>= 580.65.06), only minor-version compat for 13.2"),
    ("rtx5070-cuda-na", "2.13.0", "cu129", "sm_120",
     "driver 575.64.03 < 580; of the CUDA 12 builds only cu128/cu129 carry sm_120, newest is 2.13.0 cu129"),
    ("wsl2-rtx4070", "2.14.1", "cu126", "needs an NVIDIA driver >= 580",
     "WSL2, Windows driver 555.99 < 580"),
    ("no-driver-2x-rtx3090", "2.15.0", "cpu", "install NVIDIA driver >= 580",
     "two RTX 3090 on the PCI bus, no driver: the CPU build now, and the driver to install"),
    ("amd-mi300x", "2.15.0", "rocm7.14", "needs an NVIDIA GPU", "gfx942 is in every ROCm 7 build"),
    ("amd-rx7900xtx-rocminfo", "2.15.0", "rocm7.14", "needs an NVIDIA GPU", "gfx1100 likewise"),
    ("intel-arc-a750", "2.15.0", "xpu", "needs an NVIDIA GPU", "Arc A-series is an XPU target"),
    ("no-gpu", "2.15.0", "cpu", "needs an NVIDIA GPU", "PyPI's Linux build is CUDA: the CPU index"),
    ("wsl2-no-nvidia", "2.15.0", "cpu", "needs an NVIDIA GPU", "WSL2 without the NVIDIA driver"),
]


@pytest.mark.parametrize("fixture, torch, variant, text, why", CASES, ids=[c[0] for c in CASES])
def test_recorded_machine(tmp_path, fixture, torch, variant, text, why):
    machine = replace(replay(fixture, tmp_path, timeout=5), python="3.12", libc="glibc 2.35", free_threaded=False)
    plan = resolve(machine, Request(), CATALOG)
    assert isinstance(plan, Plan), plan.reasons
    assert (plan.base_version, plan.variant) == (torch, variant), why
    said = [c.rejected or c.note or "" for c in plan.considered] + list(plan.warnings)
    assert any(text in s for s in said), why
