"""catalog.hardware: GPU names, PCI ids, driver floors."""

from __future__ import annotations

import pytest

from torchup.catalog import hardware
from torchup.catalog.hardware import (
    amd_gfx_by_name,
    driver_floor,
    family_of_cc,
    gpu_by_name,
    lookup_pci,
    pci_table,
    xpu_support,
)

NVIDIA_NAMES = [
    ("NVIDIA GeForce RTX 4090", "8.9", "consumer"),
    ("Tesla P100-PCIE-16GB", "6.0", "datacenter"),
    ("NVIDIA H100 80GB HBM3", "9.0", "datacenter"),
    ("NVIDIA H100 PCIe MIG 1g.10gb", "9.0", "datacenter"),
    ("NVIDIA H200", "9.0", "datacenter"),
    ("NVIDIA GH200 480GB", "9.0", "datacenter"),
    ("NVIDIA GeForce RTX 5090", "12.0", "consumer"),
    ("NVIDIA GeForce RTX 5060 Ti", "12.0", "consumer"),
    ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", "12.0", "workstation"),
    ("NVIDIA B200", "10.0", "datacenter"),
    ("NVIDIA GB200", "10.0", "datacenter"),
    ("NVIDIA B300 SXM6 AC", "10.3", "datacenter"),
    ("NVIDIA GB10", "12.1", "datacenter"),
    ("NVIDIA Jetson AGX Thor", "11.0", "embedded"),
    ("NVIDIA RTX 6000 Ada Generation", "8.9", "workstation"),
    ("NVIDIA RTX A6000", "8.6", "workstation"),
    ("Quadro RTX 6000", "7.5", "workstation"),
    ("NVIDIA L40S", "8.9", "datacenter"),
    ("NVIDIA L4", "8.9", "datacenter"),
    ("NVIDIA A100-SXM4-80GB", "8.0", "datacenter"),
    ("NVIDIA A100 80GB PCIe MIG 3g.40gb", "8.0", "datacenter"),
    ("NVIDIA A10G", "8.6", "datacenter"),
    ("NVIDIA GeForce RTX 3090", "8.6", "consumer"),
    ("NVIDIA GeForce RTX 3060 Laptop GPU", "8.6", "consumer"),
    ("Tesla T4", "7.5", "datacenter"),
    ("NVIDIA GeForce RTX 2080 Ti", "7.5", "consumer"),
    ("NVIDIA GeForce GTX 1660 SUPER", "7.5", "consumer"),
    ("Tesla V100-SXM2-32GB", "7.0", "datacenter"),
    ("NVIDIA TITAN V", "7.0", "datacenter"),
    ("NVIDIA GeForce GTX 1080 Ti", "6.1", "consumer"),
    ("NVIDIA TITAN X (Pascal)", "6.1", "consumer"),
    ("NVIDIA GeForce GTX TITAN X", "5.2", "consumer"),
    ("Tesla P40", "6.1", "datacenter"),
    ("Quadro P4000", "6.1", "workstation"),
    ("NVIDIA GeForce GTX 970", "5.2", "consumer"),
    ("NVIDIA GeForce GTX 750 Ti", "5.0", "consumer"),
    ("Tesla M60", "5.2", "datacenter"),
    ("Tesla K80", "3.7", "datacenter"),
    ("Tesla K40m", "3.5", "datacenter"),
    ("NVIDIA Jetson AGX Orin", "8.7", "embedded"),
    ("NVIDIA Jetson Xavier NX", "7.2", "embedded"),
    ("NVIDIA Jetson Nano", "5.3", "embedded"),
    ("NVIDIA Jetson TX2", "6.2", "embedded"),
]


@pytest.mark.parametrize("name,cc,segment", NVIDIA_NAMES)
def test_nvidia_names(name, cc, segment):
    model = gpu_by_name(name)
    assert model is not None and model.vendor == "nvidia"
    assert (model.compute_capability, model.segment) == (cc, segment)


@pytest.mark.parametrize("name", ["", "Microsoft Basic Render Driver", "llvmpipe (LLVM 15.0.6, 256 bits)", "NVIDIA"])
def test_unknown_names(name):
    assert gpu_by_name(name) is None


def test_families():
    assert [
        family_of_cc(c) for c in ("3.7", "5.2", "6.1", "7.0", "7.2", "7.5", "8.0", "8.6", "8.9", "9.0", "10.0", "12.0")
    ] == [
        "Kepler",
        "Maxwell",
        "Pascal",
        "Volta",
        "Volta",
        "Turing",
        "Ampere",
        "Ampere",
        "Ada Lovelace",
        "Hopper",
        "Blackwell",
        "Blackwell",
    ]


@pytest.mark.parametrize(
    "name,gfx",
    [
        ("AMD Radeon RX 7900 XTX", "gfx1100"),
        ("Radeon RX 7900 XTX", "gfx1100"),
        ("AMD Instinct MI300X", "gfx942"),
        ("AMD Instinct MI250X", "gfx90a"),
        ("AMD Instinct MI100", "gfx908"),
        ("AMD Radeon VII", "gfx906"),
        ("AMD Radeon RX 9070 XT", "gfx1201"),
        ("AMD Radeon RX 6800 XT", "gfx1030"),
        ("AMD Radeon RX 6700 XT", "gfx1031"),
        ("AMD Instinct MI355X", "gfx950"),
        ("AMD Radeon RX 580", "gfx803"),
        ("AMD Radeon Pro W7900", "gfx1100"),
    ],
)
def test_amd_names(name, gfx):
    assert amd_gfx_by_name(name) == gfx


@pytest.mark.parametrize(
    "name,xpu",
    [
        ("Intel(R) Arc(TM) A770 Graphics", True),
        ("Intel(R) Arc(TM) B580 Graphics", True),
        ("Intel(R) Data Center GPU Max 1550", True),
        ("Intel(R) Arc(TM) Graphics", True),
        ("Intel(R) UHD Graphics 770", False),
        ("Intel(R) Iris(R) Xe Graphics", False),
        ("Intel(R) Data Center GPU Flex 170", False),
        ("NVIDIA GeForce RTX 4090", None),
    ],
)
def test_intel_xpu(name, xpu):
    assert xpu_support(name) is xpu


@pytest.mark.parametrize(
    "pci_id,vendor,cc,gfx,xpu",
    [
        ("10de:2684", "nvidia", "8.9", None, None),  # AD102 RTX 4090
        ("10de:2204", "nvidia", "8.6", None, None),  # GA102 RTX 3090 (lspci fixtures)
        ("10de:20b5", "nvidia", "8.0", None, None),  # GA100 A100
        ("10de:2330", "nvidia", "9.0", None, None),  # GH100 H100
        ("10de:15f8", "nvidia", "6.0", None, None),  # GP100 P100
        ("10de:102d", "nvidia", "3.7", None, None),  # GK210 K80
        ("10de:1b00", "nvidia", "6.1", None, None),  # GP102 "TITAN X": the chip wins over the name
        ("0x10DE:0x2684", "nvidia", "8.9", None, None),
        ("1002:744c", "amd", None, "gfx1100", None),  # Navi 31
        ("1002:74a1", "amd", None, "gfx942", None),  # MI300X (extra id)
        ("1002:75a0", "amd", None, "gfx950", None),  # MI350X (extra id)
        ("1002:740f", "amd", None, "gfx90a", None),  # MI210
        ("8086:56a0", "intel", None, None, True),  # Arc A770
        ("8086:e20b", "intel", None, None, True),  # Arc B580 (extra id)
        ("8086:56c1", "intel", None, None, False),  # Flex 140
    ],
)
def test_lookup_pci(pci_id, vendor, cc, gfx, xpu):
    dev = lookup_pci(pci_id)
    assert dev is not None and dev.vendor == vendor
    assert (dev.compute_capability, dev.gfx, dev.xpu) == (cc, gfx, xpu)


@pytest.mark.parametrize("pci_id", ["10de:1aef", "1002:1640", "1234:5678", "nonsense", "10de:zzzz", "10de:ffff"])
def test_lookup_pci_not_a_known_gpu(pci_id):
    assert lookup_pci(pci_id) is None  # audio functions, other vendors, garbage


def test_pci_table_is_compact_and_gpu_only():
    table = pci_table()
    assert 1000 < len(table) < 3000
    assert not any("Audio" in name or "USB" in name for name in table.values())
    nvidia = [k for k in table if k.startswith("10de:")]
    with_cc = [k for k in nvidia if lookup_pci(k, table).compute_capability]
    assert len(with_cc) / len(nvidia) > 0.98


def test_driver_floor():
    f = driver_floor("12.6", "linux")
    assert (f.full, f.compat, f.compat_confirmed) == ("560.28.03", "525.60.13", True)
    f = driver_floor("13.0.3", "windows")
    # NVIDIA gives CUDA 13.x one minor-version floor for every OS, and no Windows full-support row
    assert f.cuda == "13.0" and f.full is None and f.compat == "580" and f.compat_confirmed
    assert driver_floor("10.2", "linux") is None
    assert driver_floor("garbage", "linux") is None


def test_driver_tables_are_ordered():
    from torchup.catalog.hardware import CUDA_FULL_SUPPORT, CUDA_MINOR_COMPAT
    from torchup.catalog.model import version_tuple

    previous = None
    for cuda, (linux, windows, source, _) in sorted(CUDA_FULL_SUPPORT.items(), key=lambda kv: version_tuple(kv[0])):
        floor = CUDA_MINOR_COMPAT[int(cuda.split(".")[0])]
        assert version_tuple(linux) >= version_tuple(floor[0]), cuda
        if windows:
            assert version_tuple(windows) >= version_tuple(floor[1]), cuda
        if previous:
            assert version_tuple(linux) > version_tuple(previous), cuda  # newer toolkits need newer drivers
        previous = linux
        assert source in __import__("torchup.catalog.hardware", fromlist=["SOURCES"]).SOURCES


def _names_to_try() -> set[str]:
    """Every GPU name the PCI table knows (whole texts and each bracketed marketing name) and the
    site's extra models: hundreds of real names, NVIDIA's and others'."""
    import re

    from torchup.site import EXTRA_GPUS

    names = set(EXTRA_GPUS)
    for text in hardware.pci_table().values():
        names.add(text)
        for bracket in re.findall(r"\[([^\]]+)\]", text):
            names.update(part.strip() for part in bracket.split("/") if part.strip())
    return names


def test_the_literal_prefilter_never_changes_which_model_a_name_is():
    """gpu_by_name skips a pattern when the name has none of the texts every match of it contains
    (literal_needles); searching every pattern gives the same model for every known name."""
    import re

    names = _names_to_try()
    assert len(names) > 300
    for name in names:
        norm = hardware.normalise_gpu_name(name)
        unfiltered = next(((p, m.group(0)) for p, *_ in hardware._NVIDIA if (m := re.search(p, norm))), None)
        model = hardware.gpu_by_name(name)
        if unfiltered is None:
            assert model is None or model.vendor != "nvidia", name
        else:
            assert model is not None and model.vendor == "nvidia" and model.name == unfiltered[1], name


def test_the_written_needles_are_those_of_the_patterns():
    derived = tuple(
        None if n is None else tuple(sorted(n)) for n in (hardware.literal_needles(p) for p, *_ in hardware._NVIDIA)
    )
    assert derived == hardware._NVIDIA_NEEDLES


def test_names_are_normalised_as_the_patterns_they_replace_did():
    """normalise_gpu_name uses string operations; these are the regular expressions it replaced."""
    import re

    def by_patterns(name: str) -> str:
        text = name.lower()
        text = re.sub(r"\((r|tm)\)|[\u00ae\u2122]", " ", text)
        text = re.sub(r"[-_/,()\[\]]", " ", text)
        text = re.sub(r"\b(nvidia|corporation|geforce)\b", " ", text)
        text = re.sub(r"\btitan\s+x\s*\(?pascal\)?", "titan x pascal", text)
        return re.sub(r"\s+", " ", text).strip()

    tricky = [
        "NVIDIA(R) GeForce(TM) RTX\u2122 4090",
        "nvidiageforce rtx",  # no word boundary: kept
        "GeForce_GTX 1080",  # an underscore is a word character, then a separator
        "NVIDIA\u00a0GeForce\tRTX 3090\n",  # other whitespace
        "TITAN X (Pascal)",
        "NVIDIA NVIDIA GeForce GeForce",
        "",
        "\u00c9nvidia corporation",  # a letter before: no boundary
    ]
    for name in [*_names_to_try(), *tricky]:
        assert hardware.normalise_gpu_name(name) == by_patterns(name), name


@pytest.mark.parametrize(
    ("pattern", "needles"),
    [
        (r"\bk20x?[mcs]?\b|\bk40[mcst]?\b", {"k20", "k40"}),  # a quantified last character is left out
        (r"\b(gb200|b200)\b", {"gb200", "b200"}),  # a leading group: each branch
        (r"\bjetson (agx )?thor\b|\bthor\b", {"jetson ", "thor"}),
        (r"(agx )?thor", None),  # an optional leading group: nothing is certain
        (r"\brtx pro \d{4}\b", {"rtx pro "}),
        (r"[ab]100", None),  # a class first
    ],
)
def test_literal_needles(pattern, needles):
    got = hardware.literal_needles(pattern)
    assert got == (None if needles is None else frozenset(needles))
    if got is not None:  # and what they claim holds for a few matches
        import re

        for text in ("k20m", "k40", "gb200", "b200", "jetson agx thor", "thor", "rtx pro 6000"):
            if re.search(pattern, text):
                assert any(n in text for n in got), (pattern, text)
