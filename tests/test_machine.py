import json
import re

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



@pytest.mark.parametrize(
    "field, value, accepted",
    [
        ("python", "3.12", True), ("python", "3.12.4", True), ("python", "3.14t", True),
        ("python", "3", False), ("python", "3.12.4.1", False), ("python", "3.12tt", False),
        ("python", "3.12\n", False), ("python", "3.x", False), ("python", "t", False), ("python", "", False),
        ("libc", "glibc 2.35", True), ("libc", "musl 1.2.4", True), ("libc", "glibc 2", False),
        ("libc", "uclibc 1.0", False), ("libc", "glibc  2.35", False), ("libc", "glibc 2.35\n", False),
        ("nvidia_driver", "550.54.14", True), ("nvidia_driver", "550", True), ("nvidia_driver", "550.", False),
        ("nvidia_driver", ".550", False), ("nvidia_driver", "550.54.14\n", False), ("nvidia_driver", "5 50", False),
        ("macos_version", "14.5", True), ("macos_version", "14..5", False),
    ],
)
def test_version_fields_are_dotted_decimal_numbers(field, value, accepted):
    data = {"os": "linux", "arch": "x86_64", "python": "3.12", field: value}
    if accepted:
        machine, _ = load_machine(json.dumps(data))
        assert getattr(machine, field) == value.rstrip("t")
    else:
        with pytest.raises(InputError) as err:
            load_machine(json.dumps(data))
        assert any(d.startswith(f"{field}: ") for d in err.value.details), err.value.details


@pytest.mark.parametrize("cc, accepted", [("8.9", True), ("10.0", True), ("8", False), ("8.9.1", False), ("8.9\n", False)])
def test_compute_capability_is_major_dot_minor(cc, accepted):
    data = {"os": "linux", "arch": "x86_64", "python": "3.12", "gpus": [{"vendor": "nvidia", "compute_capability": cc}]}
    if accepted:
        machine, _ = load_machine(json.dumps(data))
        assert machine.gpus[0].compute_capability == cc
    else:
        with pytest.raises(InputError) as err:
            load_machine(json.dumps(data))
        # a control character is shown escaped, as every string of a machine file is kept (printable)
        shown = json.dumps(cc.replace("\n", "\\n"))
        assert f"gpus[0].compute_capability: {shown} is not a version" in err.value.details


@pytest.mark.parametrize("name, text", [
    ("m.json", '{"os": "linux", "arch": "x86_64", "python": "3.12"}'),
    ("m.toml", 'os = "linux"\narch = "x86_64"\npython = "3.12"\n'),
])
def test_a_byte_order_mark_is_dropped(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    machine, _ = load_machine_file(str(path))
    assert (machine.os, machine.arch, machine.python) == ("linux", "x86_64", "3.12")


def test_a_file_that_is_not_utf8_is_an_input_error(tmp_path):
    path = tmp_path / "m.json"
    path.write_bytes(b'{"os": "linux", "arch": "x86_64", "python": "3.12", "container": "\xff"}')
    with pytest.raises(InputError, match="is not UTF-8 text"):
        load_machine_file(str(path))

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


# --- limits: any file is read in bounded time and memory (issue 19) ------------------------------

HEAD = 'os = "linux"\narch = "x86_64"\npython = "3.12"\n'
# the file from issue 19's shape: one dotted key of 100,000 parts, 200 KB; tomllib notes every
# prefix of it as a tuple, n^2 / 2 slots (8,000 parts already took 264 MB, this one 23 GB+)
DOTTED = HEAD + ".".join(["a"] * 100_000) + " = 1\n"

_PEAK_RSS = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # a regression fails here, not the machine
from torchup.errors import UsageError
from torchup.machine import load_machine_file
try:
    load_machine_file(sys.argv[1])
    print("loaded")
except UsageError as exc:
    print("refused:", exc.exit_code, exc)
# VmHWM: this process's own peak. ru_maxrss would also count the parent's memory at the fork
# (Linux keeps the larger high-water mark across exec), so it read 314 MB late in a full pytest run
with open("/proc/self/status") as fh:
    print(next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) // 1024)
"""


def test_a_200_kb_dotted_key_is_refused_fast_in_bounded_memory(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "machine.toml"
    path.write_text(DOTTED)
    assert 190_000 < path.stat().st_size < 210_000
    r = subprocess.run([sys.executable, "-c", _PEAK_RSS, str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    verdict, peak_mb = r.stdout.splitlines()
    assert verdict.startswith("refused: 2 ") and "over 16 dotted parts" in verdict
    assert int(peak_mb) < 300


def test_the_cli_refuses_it_with_exit_2(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "machine.toml"
    path.write_text(DOTTED)
    r = subprocess.run([sys.executable, "-m", "torchup", "plan", "--machine", str(path)], capture_output=True,
                       text=True, timeout=60, preexec_fn=lambda: __import__("resource").setrlimit(
                           __import__("resource").RLIMIT_AS, (2 << 30, 2 << 30)))
    assert r.returncode == 2, r.stderr
    assert "over 16 dotted parts" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "text, fmt, message",
    [
        pytest.param(HEAD + "x = " + "[" * 50_000 + "]" * 50_000 + "\n", "toml", "nests lists or tables over 8 deep",
                     id="toml-50k-deep"),
        pytest.param('{"os": "linux", "arch": "x86_64", "python": "3.12", "x": ' + "[" * 50_000 + "]" * 50_000 + "}",
                     "json", "nests lists or tables over 8 deep", id="json-50k-deep"),
        pytest.param(HEAD + "x = [[[[[[[[[1]]]]]]]]]\n", "toml", "nests lists or tables over 8 deep", id="toml-9-deep"),
        pytest.param(HEAD + "[[gpus]]\nvendor = \"nvidia\"\nmemory_mib = 0x" + "f" * 100_000 + "\n", "toml",
                     "an integer of 400000 bits", id="hex-integer"),
        pytest.param(HEAD + '[[gpus]]\nvendor = "nvidia"\n' * 65, "toml", "lists 65 GPUs (at most 64)", id="65-gpus"),
        pytest.param(HEAD + "[" + ".".join(["t"] * 20) + "]\nk = 1\n", "toml", "over 16 dotted parts", id="long-header"),
        pytest.param(HEAD + 'note = "' + "a" * (1 << 20) + '"\n', "toml", "is over 1024 KB", id="over-1-mb"),
    ],
)
def test_files_beyond_the_limits_are_refused_as_usage_errors(text, fmt, message):
    from torchup.errors import UsageError

    with pytest.raises(UsageError, match=re.escape(message)) as err:
        load_machine(text, fmt=fmt)
    assert err.value.exit_code == 2


def test_files_within_the_limits_still_load():
    gpus = '[[gpus]]\nvendor = "nvidia"\ncompute_capability = "8.9"\nmemory_mib = 0x6000\n' * 64
    machine, _ = load_machine(HEAD + '"a.b".c.d = 1\n' + gpus, fmt="toml")
    assert len(machine.gpus) == 64 and machine.gpus[0].memory_mib == 0x6000


def test_an_oversized_file_is_not_read_whole(tmp_path):
    from torchup.errors import UsageError

    path = tmp_path / "machine.json"
    path.write_bytes(b'{"os": "linux", "arch": "x86_64", "python": "3.12", "x": "' + b"a" * (8 << 20) + b'"}')
    with pytest.raises(UsageError, match="is over 1024 KB"):
        load_machine_file(str(path))


def test_a_bad_value_is_shown_cut_short():
    with pytest.raises(InputError) as err:
        load_machine(json.dumps({"os": "linux", "arch": "x86_64", "python": "3.12", "installed": ["x" * 50] * 1000}))
    (detail,) = err.value.details
    assert detail.startswith('installed: ["xxx') and detail.endswith('... is not a table of names to strings')
    assert len(detail) < 200


def test_text_that_could_forge_output_lines_is_kept_visible_not_raw():
    # an escape sequence, a carriage return or U+202E in a file's GPU name, note or interpreter path
    # reached the terminal as they were (a sweep of malformed inputs, 2026-12-04)
    from torchup.machine import machine_from_dict

    data = {"os": "linux", "arch": "x86_64", "python": "3.12", "python_executable": "/usr/bin/python3\x1b[2K\rX",
            "gpus": [{"vendor": "nvidia", "name": "RTX 4090\x1b[31m\u202e", "compute_capability": "8.9"}],
            "notes": [{"id": "x", "message": "hello\r\x1b[1Aforged"}]}
    machine, _ = machine_from_dict(data)
    assert machine.gpus[0].name == "RTX 4090\\x1b[31m\\u202e"
    assert machine.notes[0].message == "hello\\r\\x1b[1Aforged"
    assert machine.python_executable == "/usr/bin/python3\\x1b[2K\\rX"
    plain = {"os": "linux", "arch": "x86_64", "python": "3.12", "gpus": [{"vendor": "nvidia", "name": "RTX 4090"}]}
    assert machine_from_dict(plain)[0].gpus[0].name == "RTX 4090"
