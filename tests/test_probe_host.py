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


def _system(tmp_path, files=(), env=None):
    from torchup.system import System

    for rel, text in files:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return System(root=str(tmp_path), env=env or {})


def test_container_hints_in_order(tmp_path):
    assert host.container_hint(_system(tmp_path / "a")) is None
    assert host.container_hint(_system(tmp_path / "b", [(".dockerenv", "")])) == ("docker", "/.dockerenv")
    assert host.container_hint(_system(tmp_path / "c", [(".dockerenv", ""), ("run/.containerenv", "")])) == ("podman", "/run/.containerenv")
    assert host.container_hint(_system(tmp_path / "d", [(".dockerenv", "")], {"KUBERNETES_SERVICE_HOST": "10.0.0.1"})) == (
        "kubernetes", "env:KUBERNETES_SERVICE_HOST")
    assert host.container_hint(_system(tmp_path / "e", [("proc/1/cgroup", "12:memory:/docker/3f2a\n")])) == ("docker", "/proc/1/cgroup")
    assert host.container_hint(_system(tmp_path / "f", env={"container": "lxc"})) == ("lxc", "env:container")


def test_wsl_reader(tmp_path):
    wsl1 = _system(tmp_path / "w1", [("proc/sys/kernel/osrelease", "4.4.0-19041-Microsoft\n")])
    assert host.read_wsl(wsl1) == (1, "/proc/sys/kernel/osrelease")
    wsl2 = _system(tmp_path / "w2", [("proc/version", "Linux version 5.15.146.1-microsoft-standard-WSL2 (root@x)\n")])
    assert host.read_wsl(wsl2) == (2, "/proc/version")
    assert host.read_wsl(_system(tmp_path / "none")) is None


def test_pci_reader_skips_audio_and_non_gpu_classes(tmp_path):
    import os

    def dev(addr, vendor, device, cls, driver=None):
        base = tmp_path / "sys/bus/pci/devices" / addr
        base.mkdir(parents=True)
        for name, value in (("vendor", vendor), ("device", device), ("class", cls)):
            (base / name).write_text(f"{value}\n")
        if driver:
            os.symlink(f"../../../bus/pci/drivers/{driver}", base / "driver")

    # ids and classes of lspci-nnk__2x-rtx3090-with-audio-functions.txt, plus garbage entries
    dev("0000:05:00.0", "0x10de", "0x2204", "0x030000", "nvidia")
    dev("0000:05:00.1", "0x10de", "0x1aef", "0x040300", "snd_hda_intel")
    dev("0000:00:00.0", "0x8086", "0x0d57", "0x060000")
    dev("0000:00:02.0", "0x8086", "junk", "0x030000")
    dev("0000:0c:00.0", "0x1002", "0x74a1", "0x120000", "amdgpu")
    got = pci.read_pci_gpus(_system(tmp_path))
    assert [(d.address, d.pci_id, d.pci_class, d.driver) for d in got] == [
        ("0000:05:00.0", "10de:2204", 0x030000, "nvidia"),
        ("0000:0c:00.0", "1002:74a1", 0x120000, "amdgpu"),
    ]
