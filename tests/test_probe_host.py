"""Host parsers: WSL, containers, macOS, PCI classes."""

import pytest

from torchup.probe import host, pci


@pytest.mark.parametrize(
    "osrelease, proc_version, dxg, wsl",
    [
        # WSL2 kernel of microsoft/WSL#11589 (5.15.146.1); the -microsoft-standard-WSL2 suffix is knowledge
        ("5.15.146.1-microsoft-standard-WSL2\n", None, True, 2),
        ("5.15.146.1-microsoft-standard-WSL2\n", None, False, 2),
        ("4.19.128-microsoft-standard\n", None, False, 2),
        ("4.4.0-19041-Microsoft\n", "Linux version 4.4.0-19041-Microsoft (Microsoft@Microsoft.com)", False, 1),
        ("6.1.0-18-amd64\n", "Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org)", False, None),
        (None, None, False, None),
        (None, None, True, 2),
    ],
)
def test_wsl(osrelease, proc_version, dxg, wsl):
    assert host.parse_wsl(osrelease, proc_version, dxg) == wsl


@pytest.mark.parametrize(
    "text, kind",
    [
        ("12:memory:/docker/3f2a\n", "docker"),
        ("11:cpu:/kubepods/besteffort/pod1/abc\n", "kubernetes"),
        ("1:name=systemd:/machine.slice/libpod-1234.scope\n", "podman"),
        ("0::/\n", None),
        ("0::/init.scope\n", None),
    ],
)
def test_cgroup(text, kind):
    assert host.parse_cgroup_container(text) == kind


def test_sw_vers_and_sysctl():
    assert host.parse_sw_vers("14.4.1\n") == "14.4.1"
    assert host.parse_sw_vers("ProductName: macOS\n") is None
    assert host.parse_sysctl_flag("1\n") is True
    assert host.parse_sysctl_flag("0\n") is False
    assert host.parse_sysctl_flag("") is None


def test_pci_hex_and_classes():
    # sysfs forms observed on a Debian 12 machine (research/probing.md 3.1)
    assert pci.parse_hex("0x8086\n") == 0x8086
    assert pci.parse_hex("0x030000\n") == 0x030000
    assert pci.parse_hex("") is None and pci.parse_hex("zz") is None
    assert pci.is_gpu_class(0x030000)  # VGA
    assert pci.is_gpu_class(0x030200)  # 3D controller (datacenter NVIDIA, laptop dGPUs)
    assert pci.is_gpu_class(0x120000)  # processing accelerator (AMD Instinct)
    assert not pci.is_gpu_class(0x040300)  # the GPU's HDMI audio function
