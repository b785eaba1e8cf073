"""torchup.wheeltags, held to ``packaging``: the tags a CPython target accepts (in packaging's
order) for many versions, ABIs and platforms, macOS's platform tags, and wheel file names read
(or refused) as ``packaging.utils.parse_wheel_filename`` reads them."""

from __future__ import annotations

import random
from itertools import chain

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from packaging import tags as ptags
from packaging.utils import parse_wheel_filename
from packaging.version import Version

from torchup.install import index_check
from torchup.wheeltags import cpython_tags, mac_platforms, parse_wheel_name, tag_text

VERSIONS = [(3, m) for m in range(8, 15)]
ABIFLAGS = ["", "t", "d", "td", "m"]
LINUX = [  # (machine, libc) as the target inspection reports them
    ("x86_64", "glibc 2.17"),
    ("x86_64", "glibc 2.28"),
    ("x86_64", "glibc 2.39"),
    ("aarch64", "glibc 2.35"),
    ("i686", "glibc 2.5"),
    ("ppc64le", "glibc 2.31"),
    ("x86_64", "musl 1.2"),
    ("aarch64", "musl 1.1"),
]
MAC_VERSIONS = [(10, m) for m in range(0, 17)] + [(11, 0), (11, 7), (12, 3), (13, 0), (14, 5), (15, 1), (26, 0)]
MAC_ARCHES = ["x86_64", "arm64", "universal2", "i386", "ppc", "ppc64", "intel"]
WINDOWS = ["win_amd64", "win32", "win_arm64"]


def _packaging_order(version, abiflags, platforms) -> list[str]:
    nodot = "".join(map(str, version))
    return [
        str(t)
        for t in chain(
            ptags.cpython_tags(version, abis=[f"cp{nodot}{abiflags}"], platforms=platforms),
            ptags.compatible_tags(version, interpreter=f"cp{nodot}", platforms=platforms),
        )
    ]


def _platform_sets() -> list[list[str]]:
    linux = [index_check._linux_platforms(machine, libc) for machine, libc in LINUX]
    mac = [list(ptags.mac_platforms(v, a)) for v in [(10, 9), (11, 0), (14, 5)] for a in ("x86_64", "arm64")]
    return [*linux, *mac, *([w] for w in WINDOWS), ["Linux_X86_64"]]


@pytest.mark.parametrize("version", VERSIONS, ids=str)
@pytest.mark.parametrize("abiflags", ABIFLAGS)
def test_a_cpython_target_accepts_what_packaging_says_in_its_order(version, abiflags):
    for platforms in _platform_sets():
        ours = [tag_text(t) for t in cpython_tags(version, abiflags, platforms)]
        assert ours == _packaging_order(version, abiflags, platforms), (version, abiflags, platforms[:2])


def test_a_free_threaded_build_takes_no_abi3_wheel_but_abi3t():
    tags = set(cpython_tags((3, 13), "t", ["linux_x86_64"]))
    assert ("cp313", "cp313t", "linux_x86_64") in tags and ("cp313", "cp313", "linux_x86_64") not in tags
    assert not any(abi == "abi3" for _, abi, _ in tags)
    assert ("cp39", "abi3t", "linux_x86_64") in tags
    assert ("cp39", "abi3", "linux_x86_64") in set(cpython_tags((3, 13), "", ["linux_x86_64"]))


@pytest.mark.parametrize("version", MAC_VERSIONS, ids=str)
def test_macos_platform_tags_are_packagings(version):
    for arch in MAC_ARCHES:
        assert mac_platforms(version, arch) == list(ptags.mac_platforms(version, arch)), (version, arch)


def _markers(version: str, system: str, machine: str) -> dict[str, str]:
    return {"implementation_name": "cpython", "python_version": version, "sys_platform": system,
            "platform_machine": machine}


def _packaging_target_tags(markers, platform) -> frozenset:
    """index_check.target_tags as it was before torchup.wheeltags: packaging.tags throughout."""
    version = tuple(int(x) for x in markers["python_version"].split("."))
    machine = markers["platform_machine"]
    if markers["sys_platform"] == "linux":
        platforms = index_check._linux_platforms(machine, platform["libc"])
    elif markers["sys_platform"] == "darwin":
        mac = tuple(int(x) for x in platform["mac_version"].split(".")[:2])
        platforms = list(ptags.mac_platforms(mac, machine))
    else:
        platforms = [platform["platform"].replace("-", "_").replace(".", "_")]
    found = _packaging_order(version, platform.get("abiflags", ""), platforms)
    return frozenset(tuple(t.split("-")) for t in found)


def test_the_target_tags_of_an_inspected_target_are_packagings():
    targets = [(_markers(f"3.{m}", "linux", machine), {"platform": f"linux-{machine}", "libc": libc, "abiflags": flags})
               for m in range(8, 15) for machine, libc in LINUX for flags in ("", "t")]
    targets += [(_markers(f"3.{m}", "darwin", arch), {"platform": f"macosx-{mac}-{arch}", "mac_version": mac})
                for m in (9, 12, 14) for arch in ("x86_64", "arm64") for mac in ("10.15", "11.2", "14.5.1", "26.0")]
    targets += [(_markers(f"3.{m}", "win32", machine), {"platform": plat, "abiflags": flags})
                for m in (10, 13) for machine, plat in (("AMD64", "win-amd64"), ("x86", "win32"), ("ARM64", "win-arm64"))
                for flags in ("", "t")]
    for markers, platform in targets:
        assert index_check.target_tags(markers, platform) == _packaging_target_tags(markers, platform), platform


# --- wheel file names -----------------------------------------------------------------
PROJECTS = ["torch", "torchvision", "torchaudio", "xformers", "flash_attn", "Flash_Attn", "nvidia_cublas_cu12",
            "triton", "pytorch_triton_rocm", "Pillow", "zope.interface", "typing_extensions", "torch_geometric",
            "pyg_lib", "intel_extension_for_pytorch", "a", "A1", "tørch"]
WHEEL_VERSIONS = ["2.9.1+cu126", "2.14.1+cpu", "0.24.0", "2.7.4.post1+cu12torch2.7cxx11abiTRUE", "0.0.30",
                  "2.10.0.dev20250101+cpu", "1!2.0", "2.0.0rc1", "v1.0", "3.4.0+rocm6.4", "2.8.0+xpu",
                  "0.6.0+pt28cu126", "1.0.post1", "1.0a1.dev3", "12.6.4.1"]
BUILDS = ["", "1", "2a", "10_x", "0", "123abc"]
WHEEL_TAGS = ["cp311-cp311-manylinux_2_28_x86_64", "py2.py3-none-any", "py3-none-any", "cp313-cp313t-win_amd64",
              "cp39-abi3-macosx_11_0_arm64", "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64",
              "cp310-cp310-macosx_10_9_x86_64", "cp312-cp312-macosx_10_13_universal2",
              "pp310-pypy310_pp73-manylinux_2_17_aarch64.manylinux2014_aarch64", "cp38.cp39-abi3-musllinux_1_2_x86_64",
              "py3-none-win32", "CP311-CP311-WIN_ARM64", "cp314-cp314t-manylinux_2_28_aarch64",
              "py3-none-manylinux_2_28_x86_64", "cp311-cp311-linux_x86_64", "cp37-cp37m-win_amd64",
              "cp311-cp311d-linux_x86_64", "cp315-abi3t-linux_x86_64", "py2.py3-none-macosx_10_9_x86_64.macosx_11_0_arm64"]
INVALID = [
    "torch-2.0.whl",  # too few parts
    "torch-2.0-py3-none-any.zip",
    "torch-2.0-py3-none-any.WHL",
    "torch-2.0-1-2-py3-none-any.whl",  # too many parts
    "tor__ch-1.0-py3-none-any.whl",  # PEP 427 writes one "_" for a run of "-_."
    "torch+x-1.0-py3-none-any.whl",
    "-1.0-py3-none-any.whl",
    "torch-1.0-x-py3-none-any.whl",  # a build tag starts with a digit
    "torch-1.0-\u0661-py3-none-any.whl",  # an ASCII one: not an Arabic-Indic one
    "torch-1.0--py3-none-any.whl",
    "torch-not.a.version-py3-none-any.whl",
    "torch--py3-none-any.whl",
    "torch-1.0-py3..py2-none-any.whl",  # an empty member of a compressed set
    "torch-1.0-py3-none-.whl",
    "torch-1.0-.py3-none-any.whl",
    "torch-1.0-3py-none-any.whl",  # an interpreter tag is an identifier
    "torch-1.0-py3-none-any-.whl",
    "torch-1.0-py 3-none-any.whl",
    "torch-1.0-1\nx-py3-none-any.whl",
    ".whl",
    "torch-1.0-py3-none-any.whl.metadata",
]
ODD_BUT_VALID = [
    "tørch-1.0-py3-none-any.whl",
    "torch-1.0-1-py3-none-any.whl",
    "Torch.Vision-1.0-py3-none-any.whl",
    "torch-1.0-py3-none-any+x.whl",  # the platform part is not checked further
    "torch-1.0-py3-cp3.11-any.whl",
]


def _theirs(filename: str):
    try:
        name, version, build, tags = parse_wheel_filename(filename)
    except ValueError:  # InvalidWheelFilename, InvalidVersion, or an over-long number
        return None
    return name, version, build, {(t.interpreter, t.abi, t.platform) for t in tags}


def _ours(filename: str):
    try:
        name, version, build, tags = parse_wheel_name(filename)
    except ValueError:
        return None
    return name, Version(version), build, set(tags)


def _real_looking_names(count: int) -> list[str]:
    pick = random.Random(15).choice
    names = set()
    while len(names) < count:
        build = pick(BUILDS)
        names.add(f"{pick(PROJECTS)}-{pick(WHEEL_VERSIONS)}{'-' + build if build else ''}-{pick(WHEEL_TAGS)}.whl")
    return sorted(names)


@pytest.mark.parametrize("filename", _real_looking_names(400))
def test_a_wheel_name_reads_as_packaging_reads_it(filename):
    theirs = _theirs(filename)
    assert theirs is not None, filename  # the names are valid: a refusal on both sides proves nothing
    assert _ours(filename) == theirs
    assert parse_wheel_name(filename)[1] == filename.split("-")[1]  # the version as written


@pytest.mark.parametrize("filename", INVALID)
def test_a_name_packaging_refuses_is_refused_with_the_reason(filename):
    assert _theirs(filename) is None, filename
    with pytest.raises(ValueError, match=r"not a wheel file name \(.+\): ") as caught:
        parse_wheel_name(filename)
    assert repr(filename) in str(caught.value)


@pytest.mark.parametrize("filename", ODD_BUT_VALID)
def test_odd_names_packaging_accepts_are_accepted(filename):
    assert _theirs(filename) is not None, filename
    assert _ours(filename) == _theirs(filename)


def test_a_compressed_tag_set_is_expanded_and_lower_cased():
    name, version, build, tags = parse_wheel_name("Flash_Attn-2.7.4.post1-3x-CP310.cp311-abi3.none-ANY.whl")
    assert (name, version, build) == ("flash-attn", "2.7.4.post1", (3, "x"))
    assert tags == {(py, abi, "any") for py in ("cp310", "cp311") for abi in ("abi3", "none")}


_PART = st.one_of(
    st.sampled_from(PROJECTS + WHEEL_VERSIONS + BUILDS + WHEEL_TAGS),
    st.text(alphabet="abcpy0123456789._-+!T \u0661", max_size=8),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PART, min_size=1, max_size=7), st.sampled_from([".whl", ".whl", ".zip", ""]))
@example(["torch", "1.0", "1", "py3", "none", "any"], ".whl")
def test_any_dashed_name_is_read_or_refused_as_packaging_does(parts, suffix):
    filename = "-".join(parts) + suffix
    assert _ours(filename) == _theirs(filename)
