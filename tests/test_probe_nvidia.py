"""NVIDIA parsers against every recorded capture that a probe reads.

Expected values are the facts stated for each capture in
``tests/fixtures/probe/SOURCES.md``."""

import pytest

from tests.conftest import PROBE_FIXTURES
from torchup.probe import nvidia as nv


def fx(name: str) -> str:
    return (PROBE_FIXTURES / name).read_text()


# --- kernel module files -------------------------------------------------------


def test_sys_module_version_capture():
    assert nv.parse_sys_module_version(fx("sys-module-nvidia-version__driver535.txt")) == ("535.146.02", "535.146.02")


def test_sys_module_version_custom_suffix_is_kept_raw():
    # the custom build quoted in research/probing.md 1.1
    assert nv.parse_sys_module_version("595.71.05-aorus.14\n") == ("595.71.05", "595.71.05-aorus.14")


@pytest.mark.parametrize("text", ["", "\n", "garbage\n", "nvidia\n"])
def test_sys_module_version_garbage_is_none(text):
    assert nv.parse_sys_module_version(text) is None


@pytest.mark.parametrize(
    "name, version, open_module",
    [
        ("proc-driver-nvidia-version__open__driver525-arch.txt", "525.60.11", True),
        ("proc-driver-nvidia-version__open__driver565.txt", "565.57.01", True),
        ("proc-driver-nvidia-version__open__driver580.txt", "580.95.05", True),
        ("proc-driver-nvidia-version__proprietary__driver535.txt", "535.146.02", False),
        ("proc-driver-nvidia-version__proprietary__driver580-mismatch.txt", "580.173.02", False),
    ],
)
def test_proc_driver_version_captures(name, version, open_module):
    got = nv.parse_proc_driver_version(fx(name))
    assert got == nv.ProcDriver(version=version, open_module=open_module, arch="x86_64", suffix="")
    assert not got.jetson


def test_proc_driver_version_localised_date():
    # Hyprland#6715: 555.58 open module, Russian locale (research/probing.md 1.2)
    line = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  555.58  Release Build  (user@host)  Сб 29 июн 2024 14:36:22 MSK\n"
    assert nv.parse_proc_driver_version(line).version == "555.58"


def test_proc_driver_version_jetson_is_l4t():
    # nixGL#139, a Jetson Orin NX (research/probing.md 1.2)
    line = "NVRM version: NVIDIA UNIX Open Kernel Module for aarch64  35.3.1  Release Build  (buildbrain@mobile-u64-5494-d8000)  Thu Mar 16 20:11:29 PDT 2023\n"
    got = nv.parse_proc_driver_version(line)
    assert (got.version, got.arch, got.jetson) == ("35.3.1", "aarch64", True)


def test_proc_driver_version_old_proprietary_line():
    # neofetch#876 (research/probing.md 1.2)
    line = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  384.98  Thu Oct 26 15:16:01 PDT 2017\n"
    assert nv.parse_proc_driver_version(line) == nv.ProcDriver(version="384.98", open_module=False, arch="x86_64")


@pytest.mark.parametrize("text", ["", "GCC version: gcc 12\n", "NVRM version: something else\n"])
def test_proc_driver_version_garbage_is_none(text):
    assert nv.parse_proc_driver_version(text) is None


# --- --query-gpu CSV -----------------------------------------------------------


def test_query_csv_noheader_rtx5090():
    fields = ("index", "name", "memory.total", "memory.free", "driver_version", "pci.bus_id", "power.limit",
              "clocks.gr", "clocks.mem", "clocks.max.gr", "clocks.max.mem", "compute_cap")
    rows = nv.parse_query_csv(fx("nvidia-smi-query-gpu-csv-noheader__rtx5090__driver580.csv"), fields)
    [gpu] = nv.gpus_from_rows(rows)
    assert gpu == nv.SmiGpu(index=0, name="NVIDIA GeForce RTX 5090", uuid=None, bus_id="0000:bd:00.0",
                            driver_version="580.76.05", compute_capability="12.0", memory_mib=32607)


def test_query_csv_compute_cap_with_header():
    rows = nv.parse_query_csv(fx("nvidia-smi-query-gpu-csv__compute_cap__rtx40xx__driver570.csv"))
    assert rows == [{"compute_cap": "8.9"}]
    assert nv.gpus_from_rows(rows)[0].compute_capability == "8.9"


def test_query_csv_with_header_and_units_rtx3060():
    [row] = nv.parse_query_csv(fx("nvidia-smi-query-gpu-csv__rtx3060__driver615.csv"))
    assert (row["name"], row["driver_version"], row["memory.total"]) == ("NVIDIA GeForce RTX 3060", "615.71.09", "12288 MiB")
    assert row["clocks.current.sm"] == "1807 MHz"  # the alias expanded in the header
    assert nv.gpus_from_rows([row])[0].memory_mib == 12288


def test_query_csv_placeholders_p100():
    [row] = nv.parse_query_csv(fx("nvidia-smi-query-gpu-csv__tesla-p100-pcie-16gb__driver510.csv"))
    assert row["name"] == "Tesla P100-PCIE-16GB"
    assert row["uuid"] == "GPU-ef1b2c9b-38d8-2090-2bd1-f567a3eb42a6"
    assert row["fan.speed"] is None  # "[N/A]"
    assert row["memory.free"] == "16280"


def test_query_csv_wide_l40s():
    [row] = nv.parse_query_csv(fx("nvidia-smi-query-gpu-wide-csv__l40s__driver595.csv"))
    [gpu] = nv.gpus_from_rows([row])
    assert gpu.name == "NVIDIA L40S"
    assert gpu.driver_version == "595.80" and row["kmd_version"] == "595.80"
    assert gpu.compute_capability == "8.9"
    assert gpu.bus_id == "0000:01:00.0"
    assert gpu.memory_mib == 46068
    assert (row["pci.baseClass"], row["pci.subClass"], row["pci.device_id"]) == ("0x3", "0x2", "0x26B910DE")


def test_query_csv_name_with_comma_stays_whole():
    text = "0, GPU-1, 00000000:01:00.0, 550.54.14, 8.9, 24564, NVIDIA GeForce RTX 4090, special\n"
    [gpu] = nv.gpus_from_rows(nv.parse_query_csv(text, nv.QUERY_FIELDS))
    assert gpu.name == "NVIDIA GeForce RTX 4090, special"


def test_query_csv_garbage_gives_no_rows():
    assert nv.parse_query_csv("No devices were found\n", nv.QUERY_FIELDS) == []
    assert nv.gpus_from_rows(nv.parse_query_csv("0, a, b, c, not-a-cc, x, y\n", nv.QUERY_FIELDS))[0].compute_capability is None


def test_invalid_field_message():
    assert nv.parse_invalid_field(fx("nvidia-smi-error__invalid-query-field__stdout-exit2.txt")) == "device_minor"
    assert nv.parse_invalid_field('Field "compute_cap" is not a valid field to query.\n\n') == "compute_cap"
    assert nv.parse_invalid_field("0, GPU-1\n") is None


def test_error_mismatch_old_driver():
    msg, facts = nv.parse_smi_error(fx("nvidia-smi-error__driver-library-mismatch__gt640-driver470.txt"))
    assert msg == "Failed to initialize NVML: Driver/library version mismatch"
    assert facts == {"mismatch": True}


def test_error_mismatch_with_nvml_version():
    # zzzhouuu/truenas-nvidia-drivers#19 (SOURCES.md, /proc mismatch entry)
    text = "Failed to initialize NVML: Driver/library version mismatch\nNVML library version: 580.178\n"
    assert nv.parse_smi_error(text)[1] == {"mismatch": True, "userspace": "580.178"}


def test_error_wsl_driver_not_loaded():
    msg, facts = nv.parse_smi_error(fx("nvidia-smi-error__wsl2__driver-not-loaded.txt"))
    assert msg.startswith("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver")
    assert facts == {"no_driver": True}


def test_bus_id_normalised():
    assert nv.normalise_bus_id("00000000:BD:00.0") == "0000:bd:00.0"
    assert nv.normalise_bus_id("0000:03:00.0") == "0000:03:00.0"


# --- nvidia-smi -q ------------------------------------------------------------


def test_smi_q_h100_mig():
    h = nv.parse_smi_q(fx("nvidia-smi-q__h100-mig__driver590.txt"))
    assert (h.driver_version, h.cuda_version, h.cuda_raw) == ("590.48.01", "13.1", "13.1")
    assert h.mig_by_bus == (("0000:00:09.0", True),)
    assert h.names_by_bus == (("0000:00:09.0", "NVIDIA H100 80GB HBM3"),)


def test_smi_q_r610_prefers_kmd_and_umd_names():
    h = nv.parse_smi_q(fx("nvidia-smi-q__rtx2080super-windows__driver610.txt"))
    assert (h.driver_version, h.cuda_version) == ("610.62", "13.3")
    assert h.names_by_bus == (("0000:0c:00.0", "NVIDIA GeForce RTX 2080 SUPER"),)
    assert h.mig_by_bus == ()  # "MIG Mode / Current : N/A" on GeForce: unknown, not False


def test_smi_q_garbage():
    assert nv.parse_smi_q("hello\n") == nv.SmiHeader()


# --- the human table (last-resort fallback) -------------------------------------

TABLES = [
    # file, NVIDIA-SMI number, driver ("Driver"/"KMD Version"), CUDA as printed
    ("nvidia-smi__a100-sxm4-80gb__driver550.txt", "550.144.03", "550.144.03", "12.4"),
    ("nvidia-smi__a100-sxm4-80gb__driver575.txt", "575.57.08", "575.57.08", "12.9"),
    ("nvidia-smi__a10g-k8s-container__driver470.txt", "470.256.02", "470.256.02", "11.4"),
    ("nvidia-smi__gtx680-x3__driver331.txt", "331.62", "331.62", None),
    ("nvidia-smi__h100-mig__driver590.txt", "590.48.01", "590.48.01", "13.1"),
    ("nvidia-smi__h100__driver590.txt", "590.48.01", "590.48.01", "13.1"),
    ("nvidia-smi__h200-mig__driver590.txt", "590.48.01", "590.48.01", "13.1"),
    ("nvidia-smi__l40s__driver595.txt", "595.80", "595.80", "13.2"),
    ("nvidia-smi__l4__driver570.txt", "570.133.20", "570.133.20", "12.8"),
    ("nvidia-smi__rtx2080super-linux__driver610-kmd-header.txt", "610.57.04", "610.57.04", "13.3"),
    ("nvidia-smi__rtx2080super-windows__driver591.txt", "591.86", "591.86", "13.1"),
    ("nvidia-smi__rtx2080super-windows__driver610-kmd-header.txt", "610.62", "610.62", "13.3"),
    ("nvidia-smi__rtx3060-laptop-wsl2__driver546-cuda-err.txt", "545.46", "546.80", "ERR!"),
    ("nvidia-smi__rtx4070-wsl2__driver555.txt", "555.52.01", "555.99", "12.5"),
    ("nvidia-smi__rtx4070__driver550.txt", "550.40.07", "550.40.07", "12.4"),
    ("nvidia-smi__rtx4080super__driver595.txt", "595.71.05", "595.71.05", "13.2"),
    ("nvidia-smi__rtx4090-wsl2__driver531.txt", "530.30.04", "531.29", "12.1"),
    ("nvidia-smi__rtx4090d__driver550.txt", "550.107.02", "550.107.02", "12.4"),
    ("nvidia-smi__rtx5070-freebsd-linuxulator__driver575-cuda-na.txt", "575.64.03", "575.64.03", "N/A"),
    ("nvidia-smi__rtx5090-wsl2__driver591.txt", "590.48.01", "591.59", "13.1"),
    ("nvidia-smi__rtx5090__driver580.txt", "580.76.05", "580.76.05", "13.0"),
    ("nvidia-smi__rtx5090__driver610-kmd-header-wsl-like.txt", "610.43.02", "610.47", "13.3"),
    ("nvidia-smi__tesla-k80__driver410.txt", "410.104", "410.104", "10.0"),
    ("nvidia-smi__tesla-p4__driver550.txt", "550.135", "550.135", "12.4"),
    ("nvidia-smi__titan-xp__driver450.txt", "450.57", "450.57", "11.0"),
    ("nvidia-smi-windows__rtx2070__driver460.txt", "460.15", "460.15", "11.1"),
    ("nvidia-smi-windows__tesla-p100-tcc-plus-geforce-wddm__driver526.txt", "526.98", "526.98", "12.0"),
]


def test_every_table_capture_is_listed():
    names = {p.name for p in PROBE_FIXTURES.glob("nvidia-smi__*")} | {p.name for p in PROBE_FIXTURES.glob("nvidia-smi-windows__*")}
    assert names == {t[0] for t in TABLES}


@pytest.mark.parametrize("name, smi, driver, cuda", TABLES)
def test_table_header(name, smi, driver, cuda):
    h = nv.parse_smi_table_header(fx(name))
    assert (h.smi_version, h.driver_version, h.cuda_raw) == (smi, driver, cuda)
    assert h.cuda_version == (cuda if cuda and cuda[0].isdigit() else None)


def test_table_header_absent():
    assert nv.parse_smi_table_header("No devices were found\n") is None


def test_proc_driver_version_custom_suffix():
    # a custom module build carries a suffix (research/probing.md 1.1: 595.71.05-aorus.14 in /sys)
    line = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  595.71.05-aorus.14  Release Build  (user@host)\n"
    got = nv.parse_proc_driver_version(line)
    assert (got.version, got.suffix) == ("595.71.05", "-aorus.14")


def test_garbage_driver_field_is_unknown_not_kept():
    # a broken nvidia-smi printing junk must not put a non-version into the machine
    # file (which would then fail to load with --machine)
    from torchup.probe.nvidia import gpus_from_rows, parse_query_csv, QUERY_FIELDS

    rows = parse_query_csv("0, , , 9999.x, abc, -5 MiB, ???\n", QUERY_FIELDS)
    (gpu,) = gpus_from_rows(rows)
    assert gpu.driver_version is None and gpu.compute_capability is None and gpu.memory_mib is None
    (custom,) = gpus_from_rows(parse_query_csv("0, GPU-1, 00000000:01:00.0, 595.71.05-aorus.14, 12.0, 32607 MiB, NVIDIA GeForce RTX 5090\n", QUERY_FIELDS))
    assert custom.driver_version == "595.71.05"


def test_a_csv_row_that_names_no_gpu_is_not_a_gpu():
    fields = ("index", "name", "uuid", "pci.bus_id", "driver_version", "compute_cap", "memory.total")
    rows = nv.parse_query_csv(",,,,,,\n[N/A], [N/A], [N/A], [N/A], [N/A], [N/A], [N/A]\n", fields)
    assert len(rows) == 2 and nv.gpus_from_rows(rows) == []
    # a query of one field (a real recorded answer: compute_cap alone) is still a GPU
    assert len(nv.gpus_from_rows([{"compute_cap": "8.9"}])) == 1
