"""The pure parts of the maintainer scripts (scripts/*.py), offline."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


@pytest.fixture(scope="module")
def scripts():
    sys.path.insert(0, str(SCRIPTS))
    try:
        import build_catalog
        import make_pci_table

        yield build_catalog, make_pci_table
    finally:
        sys.path.remove(str(SCRIPTS))


METADATA_2_10 = """Metadata-Version: 2.1
Name: torch
Version: 2.10.0
Requires-Dist: filelock
Requires-Dist: nvidia-cuda-runtime-cu12==12.8.90; platform_system == "Linux" and platform_machine == "x86_64"
Requires-Dist: nvidia-cudnn-cu12==9.10.2.21; platform_system == "Linux" and platform_machine == "x86_64"
Requires-Dist: triton==3.6.0; platform_system == "Linux"
"""
METADATA_2_15 = """Metadata-Version: 2.4
Name: torch
Requires-Dist: cuda-toolkit[cublas,cudart]==13.2.2; platform_system == "Linux"
Requires-Dist: nvidia-cudnn-cu13==9.26.0.51; platform_system == "Linux"
Requires-Dist: optree>=0.13.0; extra == "optree"
"""
METADATA_1_13 = """Metadata-Version: 2.1
Requires-Dist: nvidia-cuda-runtime-cu11 (==11.7.99)
Requires-Dist: nvidia-cudnn-cu11 (==8.5.0.96)
"""


def test_cuda_pins_evaluate_markers_per_platform(scripts):
    b, _ = scripts
    assert b.cuda_pins(METADATA_2_10, b.F.X86, "3.12") == ("12.8", "9.10.2.21")
    assert b.cuda_pins(METADATA_2_10, b.F.ARM, "3.12") == (None, None)  # CPU on aarch64
    assert b.cuda_pins(METADATA_2_15, b.F.ARM, "3.12") == ("13.2", "9.26.0.51")
    assert b.cuda_pins(METADATA_1_13, b.F.X86, "3.10") == ("11.7", "8.5.0.96")


def test_variant_cuda(scripts):
    b, _ = scripts
    assert [b.variant_cuda(v) for v in ("cu118", "cu121", "cu130", "cu132", "cpu", "rocm6.4")] == [
        "11.8", "12.1", "13.0", "13.2", None, None]


PCI_IDS = """#
#	Version: 2099.01.01
#
10de  NVIDIA Corporation
	1aef  GA102 High Definition Audio Controller
	2204  GA102 [GeForce RTX 3090]
		10de 1454  GeForce RTX 3090 Founders Edition
	2684  AD102 [GeForce RTX 4090]
	0a6f  MCP79 USB Controller
1002  Advanced Micro Devices, Inc. [AMD/ATI]
	1640  Rembrandt Radeon High Definition Audio Controller
	744c  Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]
8086  Intel Corporation
	56a0  DG2 [Arc A770]
	a0ed  Tiger Lake-LP USB 3.2 Gen 2x1 xHCI Host Controller
	9a49  TigerLake-LP GT2 [Iris Xe Graphics]
1234  Someone Else
	1111  A GPU by someone else
C 03  Display controller
"""


def test_pci_table_keeps_gpus_only(scripts):
    _, p = scripts
    version, devices = p.parse(PCI_IDS)
    assert version == "2099.01.01"
    assert devices == {
        "10de": {"2204": "GA102 [GeForce RTX 3090]", "2684": "AD102 [GeForce RTX 4090]"},
        "1002": {"744c": "Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]"},
        "8086": {"56a0": "DG2 [Arc A770]", "9a49": "TigerLake-LP GT2 [Iris Xe Graphics]"},
    }


def test_release_matrix_checks(scripts):
    b, _ = scripts
    assert b.ti_validates("2.14", "cu126", b.F.X86, {"manylinux_2_28_x86_64": ["cp310", "cp314t"]})
    assert not b.ti_validates("2.12", "cu126", b.F.X86, {"manylinux_2_28_x86_64": ["cp313", "cp313t"]})
    assert not b.ti_validates("2.14", "cu129", b.F.X86, {"manylinux_2_28_x86_64": ["cp312"]})  # not in the matrix
    assert not b.ti_validates("2.15", "cu130", b.F.X86, {"manylinux_2_28_x86_64": ["cp312"]})  # no branch read
    assert [b.ti_glibc("2.6", v, b.F.X86) for v in ("cpu", "cu118", "cu126")] == ["2.17", "2.17", "2.28"]
    assert b.ti_glibc("2.14", "cu130", b.F.ARM) is None and b.ti_glibc("2.14", "cpu", b.F.ARM) == "2.28"


def test_count_unconfirmed_plans_counts_every_test_machine(tmp_path, capsys):
    """scripts/count_unconfirmed_plans.py resolves each machine of the resolve tests once; with a catalog where
    every fact is marked confirmed, no plan carries the warning (the count follows the data, not a constant)."""
    import json

    from tests import test_resolve_machines, test_resolve_replay

    sys.path.insert(0, str(SCRIPTS))
    try:
        import count_unconfirmed_plans
    finally:
        sys.path.remove(str(SCRIPTS))
    machines = len(test_resolve_machines.CASES) + len(test_resolve_replay.CASES)
    count_unconfirmed_plans.main([])
    plans, warned, refused = _counts(capsys.readouterr().out)
    assert plans + refused == machines and 0 < warned < plans
    data = json.loads((Path(__file__).resolve().parent.parent / "src/torchup/catalog/data/catalog.json").read_text())
    for rel in data["releases"]:
        for b in rel["builds"]:
            b["prov"] = {k: v.lstrip("?") for k, v in b["prov"].items()}
    sure = tmp_path / "catalog.json"
    sure.write_text(json.dumps(data))
    count_unconfirmed_plans.main(["--catalog", str(sure)])
    assert _counts(capsys.readouterr().out) == (plans, 0, refused)


def _counts(out: str) -> tuple[int, int, int]:
    import re

    m = re.search(r"(\d+) plans, (\d+) carry the unconfirmed-facts warning, \d+ do not; (\d+) refusals", out)
    assert m, out
    return int(m.group(1)), int(m.group(2)), int(m.group(3))
