"""Numbers torchup reads are ASCII digits.  Python's ``\\d``, ``str.isdecimal`` and ``int`` also take
other scripts' digits (Arabic-Indic ``٨``, full-width ``５``), which let a machine file, an option or
a tool's output through the checks and then failed deeper down (``int('')`` sorting a compute
capability: an internal error), or planned for a version nobody wrote.  Found by a sweep of
malformed inputs, 2026-12-04."""

from __future__ import annotations

import json

import pytest

from torchup.cli import main
from torchup.errors import InputError
from torchup.machine import machine_from_dict
from torchup.probe import amd, nvidia

ARABIC_89 = "\u0668.\u0669"  # 8.9 in Arabic-Indic digits
MACHINE = {"os": "linux", "arch": "x86_64", "python": "3.12", "libc": "glibc 2.35", "nvidia_driver": "550.54.14",
           "gpus": [{"vendor": "nvidia", "name": "NVIDIA GeForce RTX 4090", "compute_capability": "8.9"}]}


def _with(path: str, value: str) -> dict:
    data = json.loads(json.dumps(MACHINE))
    where = data
    *head, last = path.split(".")
    for key in head:
        where = where[int(key)] if key.isdigit() else where[key]
    where[last] = value
    return data


@pytest.mark.parametrize(
    "path,value",
    [
        ("gpus.0.compute_capability", ARABIC_89),
        ("nvidia_driver", "\u0665\u0665\u0660.\u0661"),
        ("nvidia_driver", "\uff15\uff15\uff10.1"),  # full-width
        ("python", "\uff13.\u0661\u0662"),
        ("libc", "glibc \u0662.\u0663\u0665"),
    ],
)
def test_a_machine_file_with_other_digits_is_refused_by_name(path, value):
    with pytest.raises(InputError) as info:
        machine_from_dict(_with(path, value))
    assert any(path.split(".")[-1] in d for d in info.value.details), info.value.details


@pytest.mark.parametrize(
    "option,value",
    [("--driver", "\u0665\u0665\u0660.\u0661"), ("--cuda", "\u0661\u0662.\u0666"), ("--variant", "cu\u0661\u0662\u0666")],
)
def test_options_with_other_digits_are_usage_errors(tmp_path, capsys, option, value):
    machine = tmp_path / "m.json"
    machine.write_text(json.dumps(MACHINE))
    code = main(["plan", "--machine", str(machine), option, value])
    assert code == 2, capsys.readouterr()
    assert option in capsys.readouterr().err


def test_the_driver_override_with_other_digits_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TORCHUP_CUDA_DRIVER", "\u0665\u0665\u0660.\u0661")
    monkeypatch.setenv("TORCHUP_CACHE_DIR", str(tmp_path))
    code = main(["plan", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 2 and "TORCHUP_CUDA_DRIVER" in out["error"]["message"]


def test_nvidia_smi_rows_with_other_digits_or_endless_numbers_are_unknown_values():
    rows = [{"index": "9" * 5000, "name": "NVIDIA GeForce RTX 4090", "uuid": None, "pci.bus_id": None,
             "driver_version": "\u0665\u0665\u0660.54", "compute_cap": ARABIC_89, "memory.total": "\u0662\u0664 MiB"}]
    (gpu,) = nvidia.gpus_from_rows(rows)
    assert (gpu.index, gpu.driver_version, gpu.compute_capability, gpu.memory_mib) == (None, None, None, None)
    assert nvidia.parse_smi_table_header("| NVIDIA-SMI \u0665\u0665\u0660.54   Driver Version: \u0665\u0665\u0660.54 |") is None
    assert "not a device index" in nvidia.visible_devices_hide_all("9" * 5000, 2)


def test_kfd_properties_keep_only_ascii_numbers_a_64_bit_value_can_hold():
    text = f"gfx_target_version {'9' * 5000}\nsimd_count 12\nnode_id \u00b2\nlocation_id \u0661\n"
    assert amd.parse_kfd_properties(text) == {"simd_count": 12}

