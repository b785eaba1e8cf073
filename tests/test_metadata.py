"""torchup.metadata: the small parser of the requirements torchup writes agrees with
``packaging.requirements`` on every form it accepts, and leaves every other form to it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from torchup.metadata import leading_name, requirement, requires_dist, simple_requirement

SIMPLE = [
    "torch==2.14.1+cpu",
    "torch==2.14.1+cu126",
    "torchvision==0.29.1",
    "torch==2.10.0.dev20250101+cpu",
    "torch==2.9.0rc1",
    "torch==1.0.post1",
    "torch==1!2.0",
    "torch==v2.0",
    "Torch_Vision.x==1.0",
    "nvidia-cublas-cu12==12.6.4.1",
    "filelock",
    "a",
    "flash-attn @ https://github.com/x/y/releases/download/v2.7.4.post1/flash_attn-2.7.4.post1+cu12torch2.7cxx11abiTRUE-cp311-cp311-linux_x86_64.whl",
    "xformers @ http://127.0.0.1:8080/whl/xformers-0.0.30-cp311-cp311-manylinux_2_28_x86_64.whl",
    "pkg @ https://example.org/a%2Bb/pkg-1.0-py3-none-any.whl",
    "pkg @ file:///tmp/wheels/pkg-1.0-py3-none-any.whl",
    # version clauses without spaces: what `plan --with` is mostly given, and most torch requirements
    "torch>=2.0",
    "torch==2.0.*",
    "torch===2.0",
    "torch==2.0,<3",
    "xformers>=0.0.28,<0.0.30,!=0.0.29",
    "flash-attn~=2.7",
    "torch<=2.9,>2.4",
]

OTHER = [  # valid PEP 508, but not a form the small parser reads: packaging's to read
    "torch == 2.0",
    "torch>=2.0, <3",
    "torch>=2.0,",  # packaging takes a trailing comma
    "torch[opt]==2.0",
    "torch==2.0; python_version >= '3.9'",
    "torch==2.0 ; sys_platform == 'linux'",
    "torch (==2.0)",
    " torch==2.0",
    "pkg @ https://example.org/pkg-1.0-py3-none-any.whl#sha256=abc",
    "pkg @ https://example.org/pkg-1.0-py3-none-any.whl ; python_version > '3'",
    "pkg@https://example.org/pkg-1.0-py3-none-any.whl",
]

INVALID = [
    "torch==",
    "torch==not a version",
    "-torch==1.0",
    "torch-==1.0",
    "torch==1.0+",
    "",
    "==1.0",
    "torch==1..0",
    "torch~=2",  # ~= needs two release parts
    "torch<=2.0.*",  # a wildcard only with == and !=
    "torch>=",
]


def _same(mine, theirs: Requirement) -> None:
    assert mine.name == theirs.name
    assert str(mine.specifier) == str(theirs.specifier)
    assert list(mine.specifier) == list(theirs.specifier)
    assert mine.url == theirs.url
    assert set(mine.extras) == theirs.extras
    assert mine.marker is None and theirs.marker is None
    assert str(mine) == str(theirs)


@pytest.mark.parametrize("text", SIMPLE)
def test_the_simple_forms_are_read_without_packaging_as_packaging_reads_them(text):
    mine = simple_requirement(text)
    assert mine is not None
    _same(mine, Requirement(text))
    assert requirement(text) is not None and type(requirement(text)).__name__ == "SimpleRequirement"


@pytest.mark.parametrize("text", OTHER)
def test_other_forms_go_to_packaging(text):
    assert simple_requirement(text) is None
    assert isinstance(requirement(text), Requirement)
    assert requirement(text) == Requirement(text)


@pytest.mark.parametrize("text", INVALID)
def test_what_is_no_requirement_is_refused_by_both(text):
    assert simple_requirement(text) is None
    with pytest.raises(InvalidRequirement):
        Requirement(text)
    with pytest.raises(ValueError):
        requirement(text)


def test_an_exact_pin_matches_what_packagings_matches():
    for text, version, want in [
        ("torch==2.14.1", "2.14.1+cpu", True),  # a local label is ignored by a pin without one
        ("torch==2.14.1+cpu", "2.14.1", False),
        ("torch==2.14.1+cpu", "2.14.1+cpu", True),
        ("torch==2.14.01", "2.14.1", True),
        ("torch==2.9.0rc1", "2.9.0rc1", True),
    ]:
        mine = simple_requirement(text)
        assert mine is not None
        assert mine.specifier.contains(version, prereleases=True) is want
        assert Requirement(text).specifier.contains(version, prereleases=True) is want


_ALPHABET = st.sampled_from(list("aAzZ09._-+=!<>~*@ ;:/[](),'\"%#\t") + ["==", " @ ", "https://h/", "file:///", "1.0"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_ALPHABET, min_size=1, max_size=12).map("".join))
def test_whatever_the_small_parser_accepts_packaging_reads_the_same(text):
    mine = simple_requirement(text)
    try:
        theirs = Requirement(text)
    except InvalidRequirement:
        assert mine is None, text
        return
    if mine is not None:
        _same(mine, theirs)
    assert leading_name(text) == canonicalize_name(theirs.name)


@pytest.mark.parametrize("text", [*SIMPLE, *OTHER, "Torch.Vision_x >= 1", "torch\t==1.0"])
def test_the_leading_name_is_the_parsed_name(text):
    assert leading_name(text) == canonicalize_name(Requirement(text).name)


def test_requires_dist_reads_simple_lines_and_markers():
    metadata = "\n".join(
        [
            "Metadata-Version: 2.1",
            "Name: torch",
            "Requires-Dist: filelock",
            "Requires-Dist: nvidia-cublas-cu12==12.6.4.1; platform_system == 'Linux'",
            "Requires-Dist: sympy>=1.13.3",
            "Requires-Dist: opt-einsum>=3.3; extra == 'opt-einsum'",
            "Requires-Dist: not a requirement (",
        ]
    )
    linux = {"platform_system": "Linux", "extra": ""}
    assert [str(r) for r in requires_dist(metadata, linux)] == [
        "filelock",
        'nvidia-cublas-cu12==12.6.4.1; platform_system == "Linux"',
        "sympy>=1.13.3",
    ]
    assert [r.name for r in requires_dist(metadata, {"platform_system": "Darwin", "extra": ""})] == [
        "filelock",
        "sympy",
    ]


@pytest.mark.parametrize(
    "value",
    [
        "&gt;=3.10",
        "&lt;4,&gt;=3.9",
        "a&amp;b",
        "&amp;gt;",
        "&quot;x&quot;",
        "&#39;",
        "&gt",
        "&eacute;",
        "&#x3e;",
        "no reference",
        "&",
        "a&&b",
        "&amp;&lt;&gt;&quot;&#39;&nbsp;",
    ],
)
def test_index_pages_are_unescaped_as_html_does(value):
    import html

    from torchup.install.index_check import unescape

    assert unescape(value) == html.unescape(value)
