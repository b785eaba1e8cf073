import json

import pytest

from torchup.errors import InputError
from torchup.machine import Gpu, dump_machine, load_machine, load_machine_file


CONTRACT_EXAMPLE = {
    "os": "linux", "arch": "x86_64",
    "python": "3.12", "python_bits": 64, "free_threaded": False,
    "libc": "glibc 2.35", "macos_version": None,
    "nvidia_driver": "550.54.14", "cuda_driver_max": "12.4",
    "rocm_version": None, "wsl": False,
    "gpus": [
        {"vendor": "nvidia", "name": "NVIDIA GeForce RTX 4090", "compute_capability": "8.9", "memory_mib": 24564},
        {"vendor": "amd", "name": "Radeon RX 7900 XTX", "gfx": "gfx1100"},
    ],
}


def test_contract_example_loads_and_round_trips():
    machine, warnings = load_machine(json.dumps(CONTRACT_EXAMPLE))
    assert warnings == []
    assert machine.gpus[0] == Gpu(vendor="nvidia", name="NVIDIA GeForce RTX 4090", compute_capability="8.9", memory_mib=24564)
    assert machine.gpus[1].gfx == "gfx1100"
    again, _ = load_machine(dump_machine(machine))
    assert again == machine


def test_only_os_arch_python_are_required():
    with pytest.raises(InputError) as err:
        load_machine("{}")
    assert set(err.value.details) == {"os: required", "arch: required", "python: required"}


def test_bad_fields_are_all_named_with_their_path():
    data = dict(CONTRACT_EXAMPLE)
    data["gpus"] = [CONTRACT_EXAMPLE["gpus"][0], {"vendor": "nvidia", "compute_capability": "8.x"}]
    data["python_bits"] = 48
    with pytest.raises(InputError) as err:
        load_machine(json.dumps(data))
    assert 'gpus[1].compute_capability: "8.x" is not a version' in err.value.details
    assert "python_bits: 48 is not 32 or 64" in err.value.details


def test_unknown_keys_are_reported_not_dropped_silently():
    data = dict(CONTRACT_EXAMPLE, colour="blue")
    data["gpus"] = [dict(CONTRACT_EXAMPLE["gpus"][0], clock=2520)]
    _, warnings = load_machine(json.dumps(data))
    assert "machine file: unknown key 'colour' ignored" in warnings
    assert "gpus[0]: unknown key 'clock' ignored" in warnings


@pytest.mark.parametrize(
    "given, os_, arch",
    [("Darwin", "macos", "aarch64"), ("win32", "windows", "x86_64")],
)
def test_platform_names_are_normalised(given, os_, arch):
    raw_arch = "arm64" if os_ == "macos" else "AMD64"
    machine, _ = load_machine(json.dumps({"os": given, "arch": raw_arch, "python": "3.12"}))
    assert (machine.os, machine.arch) == (os_, arch)


def test_free_threaded_suffix_and_tags():
    machine, _ = load_machine('{"os": "linux", "arch": "x86_64", "python": "3.13t"}')
    assert machine.python == "3.13" and machine.free_threaded
    assert machine.python_tag == "cp313t"


def test_toml_machine_file(tmp_path):
    path = tmp_path / "node.toml"
    path.write_text('os = "linux"\narch = "aarch64"\npython = "3.11"\n[[gpus]]\nvendor = "nvidia"\nname = "NVIDIA GH200 480GB"\ncompute_capability = "9.0"\n')
    machine, warnings = load_machine_file(str(path))
    assert machine.gpus[0].cc_tuple == (9, 0)
    assert machine.sources["os"] == f"machine-file:{path}"


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"os": 1, "arch": [], "python": 3}'])
def test_garbage_is_a_clear_input_error(text):
    with pytest.raises(InputError):
        load_machine(text)


def test_unreadable_file_is_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read machine file"):
        load_machine_file(str(tmp_path / "missing.json"))


def test_python_as_a_toml_or_json_number_is_refused_not_misread():
    # 3.10 as a float is 3.1
    with pytest.raises(InputError) as err:
        load_machine('{"os": "linux", "arch": "x86_64", "python": 3.10}')
    assert err.value.details == ('python: 3.1 is a number; write it as a string, e.g. "3.10"',)
