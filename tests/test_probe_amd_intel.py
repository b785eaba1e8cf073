"""AMD and Intel parsers against every recorded capture a probe reads
(facts per ``tests/fixtures/probe/SOURCES.md``)."""

import pytest

from tests.conftest import PROBE_FIXTURES
from torchup.probe import amd, intel


def fx(name: str) -> str:
    return (PROBE_FIXTURES / name).read_text()


@pytest.mark.parametrize(
    "value, gfx",
    [(90402, "gfx942"), (110000, "gfx1100"), (90010, "gfx90a"), (90006, "gfx906"), (80003, "gfx803"),
     (100300, "gfx1030"), (120001, "gfx1201"), (0, None)],
)
def test_gfx_target_version_decoding(value, gfx):
    # the rocm_agent_enumerator rule, examples from research/probing.md 4.1
    assert amd.decode_gfx_target_version(value) == gfx


def test_kfd_properties_mi300x_capture():
    props = amd.parse_kfd_properties(fx("kfd-topology-properties-grep__mi300x__gfx942.txt"))
    assert props == {"gfx_target_version": 90402}
    assert amd.decode_gfx_target_version(props["gfx_target_version"]) == "gfx942"


def test_kfd_properties_ignores_junk():
    assert amd.parse_kfd_properties("cpu_cores_count 16\nname ip discovery\n\ngarbage\n") == {"cpu_cores_count": 16}


def test_rocminfo_rx7900xtx():
    assert amd.parse_rocminfo(fx("rocminfo-agent__rx7900xtx__gfx1100.txt")) == [
        amd.AmdAgent(gfx="gfx1100", name="Radeon RX 7900 XTX", device_id="744c", node=2)
    ]


def test_rocminfo_padded_rx580():
    assert amd.parse_rocminfo(fx("rocminfo-agent__rx580__gfx803-padded-format.txt")) == [
        amd.AmdAgent(gfx="gfx803", name="Radeon RX 580 Series", device_id="67df", node=1)
    ]


def test_rocminfo_cpu_agent_is_not_a_gpu():
    assert amd.parse_rocminfo(fx("rocminfo-header__ryzen7800x3d-host__runtime1.15.txt")) == []


def test_rocminfo_garbage():
    assert amd.parse_rocminfo("ROCk module is NOT loaded, possibly no GPU devices\n") == []


def test_amd_smi_static_mi350x():
    assert amd.parse_amd_smi_static(fx("amd-smi-static__mi350x__gfx950.txt")) == [
        amd.AmdAgent(gfx="gfx950", name="AMD Instinct MI350X", device_id="75a0", bus_id="0000:05:00.0")
    ]


def test_amd_smi_static_ignores_non_gpu_blocks():
    # amd-smi now lists AI NICs too (amd-smi-list capture); only GPU blocks count
    text = fx("amd-smi-list__mi210-plus-ainic.txt")
    agents = amd.parse_amd_smi_static(text)
    assert len(agents) == 1 and agents[0].gfx is None and agents[0].bus_id is None


@pytest.mark.parametrize("text, version", [("6.0.0-12568\n", "6.0.0"), ("7.0.1\n", "7.0.1"), ("", None), ("rocm\n", None)])
def test_rocm_version_file(text, version):
    # formats per ROCm/rccl#963 and amd/node-scraper#31 (research/probing.md 4.4)
    assert amd.parse_rocm_version(text) == version


@pytest.mark.parametrize("value, parsed", [("10.3.0", "10.3.0"), ("11.0.0", "11.0.0"), (" 9.0.6 ", "9.0.6"),
                                           ("64.0.0", None), ("10.3", None), ("gfx1030", None)])
def test_hsa_override(value, parsed):
    assert amd.parse_hsa_override(value) == parsed


# --- Intel ---------------------------------------------------------------------


def test_sycl_ls_2024_format_arc_a750():
    devs = intel.parse_sycl_ls(fx("sycl-ls__arc-a750-linux__2024-format.txt"))
    assert [(d.backend, d.kind) for d in devs] == [
        ("opencl", "gpu"), ("opencl", "cpu"), ("opencl", "fpga"), ("level_zero", "gpu"), ("native_cpu", "cpu")]
    assert [d.name for d in devs if d.backend == "level_zero"] == ["Intel(R) Arc(TM) A750 Graphics"]


def test_sycl_ls_old_format_windows():
    devs = intel.parse_sycl_ls(fx("sycl-ls__arc-a770-plus-uhd770-windows__oneapi2024.0-format.txt"))
    assert [d.name for d in devs if d.backend == "level_zero" and d.kind == "gpu"] == [
        "Intel(R) UHD Graphics 770", "Intel(R) Arc(TM) A770 Graphics"]
    assert [d.kind for d in devs] == ["acc", "cpu", "gpu", "gpu", "gpu", "gpu"]


def test_sycl_ls_opencl_only_has_no_level_zero():
    devs = intel.parse_sycl_ls(fx("sycl-ls__arc-a770-no-level-zero__opencl-only.txt"))
    assert not [d for d in devs if d.backend == "level_zero"]
    assert [d.name for d in devs if d.kind == "gpu"] == ["Intel(R) Arc(TM) A770 Graphics"]


def test_xpu_smi_discovery():
    devs = intel.parse_xpu_smi_discovery(fx("xpu-smi-discovery__flex140-plus-uhd770.txt"))
    assert devs[0] == intel.XpuDevice(name="Intel(R) UHD Graphics 770", bus_id="0000:00:02.0", device_id="4680")
    assert devs[1] == intel.XpuDevice(name="Intel(R) Data Center GPU Flex 140", bus_id=None, device_id=None)


def test_intel_garbage():
    assert intel.parse_sycl_ls("No platforms found.\n") == []
    assert intel.parse_xpu_smi_discovery("xpu-smi: command failed\n") == []


def test_gfx_with_feature_suffix_and_garbage_target_versions():
    from torchup.probe import amd

    (agent,) = amd.parse_rocminfo("Agent 2\n  Name:                    gfx90a:sramecc+:xnack-\n  Marketing Name:          AMD Instinct MI210\n  Device Type:             GPU\n")
    assert agent.gfx == "gfx90a"
    assert amd.decode_gfx_target_version(999999999) is None  # not a target a machine file can hold
    assert amd.decode_gfx_target_version(120001) == "gfx1201"
