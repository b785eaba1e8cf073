"""Wheel tags without ``packaging.tags``: the tags a CPython target accepts, and a wheel's file
name read into its parts.  Pure; a tag is a plain ``(interpreter, abi, platform)`` tuple, in
lower case.

``packaging.tags`` (and ``packaging.utils``, which imports it) costs ~12 ms to import: logging,
platform, sysconfig and the manylinux / musllinux readers of the running host, none of which a
target described by its inspection needs (issue 15).  Written from PEP 425 (compatibility tags),
PEP 427 and the binary distribution format spec (the file name), and held to ``packaging``'s
answers by tests/test_wheeltags.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from torchup.metadata import canonical_name

__all__ = ["cpython_tags", "mac_platforms", "parse_wheel_name", "tag_text"]

# PEP 427: the name part is the project name with each run of "-_." written as one "_"; what
# installers accept is looser (dots, single underscores), never a doubled underscore
_NAME_PART = re.compile(r"[\w.]+")
_BUILD = re.compile(r"([0-9]+)(.*)")  # the spec: a build tag starts with a digit (ASCII), which orders it


def tag_text(tag: tuple[str, str, str]) -> str:
    """``("cp312", "cp312", "win_amd64")`` as a wheel file name writes it: ``cp312-cp312-win_amd64``."""
    return "-".join(tag)


def cpython_tags(version: tuple[int, int], abiflags: str, platforms: Sequence[str]) -> list[tuple[str, str, str]]:
    """The tags CPython ``version`` built with ``abiflags`` (``sys.abiflags``: "", "t", "d", ...)
    accepts on ``platforms`` (best first), best first: its own ABI, the stable ABI, ``none``, the
    stable ABI of the older 3.x minors down to 3.2, then the pure-Python ones (``py3X``, ``py3``,
    older ``py3Y`` on each platform), ``cpXY-none-any`` and ``py*-none-any``."""
    major, minor = version
    cp = f"cp{major}{minor}"
    plats = [p.lower() for p in platforms]
    # PEP 384's stable ABI came with 3.2; a free-threaded build cannot load abi3 extensions and
    # has its own stable ABI, abi3t (PEP 803), which packaging accepts from 3.2 on as well
    stable = "abi3t" if "t" in abiflags else "abi3"
    has_stable = (major, minor) >= (3, 2)
    out = [(cp, (cp + abiflags).lower(), p) for p in plats]
    if has_stable:
        out += [(cp, stable, p) for p in plats]
    out += [(cp, "none", p) for p in plats]
    if has_stable:
        out += [(f"cp{major}{m}", stable, p) for m in range(minor - 1, 1, -1) for p in plats]
    pythons = [f"py{major}{minor}", f"py{major}", *(f"py{major}{m}" for m in range(minor - 1, -1, -1))]
    out += [(py, "none", p) for py in pythons for p in plats]
    out.append((cp, "none", "any"))
    out += [(py, "none", "any") for py in pythons]
    return out


def _mac_formats(version: tuple[int, int], arch: str) -> list[str]:
    """The binary formats macOS ``version`` runs on ``arch``, its own first: the fat formats are
    CPython's names for multi-architecture builds (``intel``: i386 + x86_64; ``fat``: i386 + ppc;
    ``fat3``: those and x86_64; ``fat64``: x86_64 + ppc64; ``universal``: all four;
    ``universal2``: x86_64 + arm64)."""
    if (arch in ("x86_64", "i386") and version < (10, 4)) or (arch == "ppc64" and not (10, 4) <= version <= (10, 5)):
        return []  # no 64-bit Intel builds before 10.4; ppc64 only on 10.4 and 10.5
    if arch == "ppc" and version > (10, 6):
        return []  # Rosetta ran PowerPC code up to 10.6
    fat = {
        "x86_64": ["intel", "fat64", "fat3", "universal2", "universal"],
        "i386": ["intel", "fat3", "fat", "universal"],
        "ppc64": ["fat64", "universal"],
        "ppc": ["fat3", "fat", "universal"],
        "arm64": ["universal2"],
        "intel": ["universal"],
    }
    return [arch, *fat.get(arch, [])]


def mac_platforms(version: tuple[int, int], arch: str) -> list[str]:
    """The platform tags macOS ``version`` (``(14, 5)``) on ``arch`` (``arm64``, ``x86_64``,
    ``universal2``, ...) accepts, best first.  Up to 10.15 each release was a minor version; from
    11 on each is a major one (``macosx_14_0``), and a build for 10.x still runs there: any on
    x86_64, only a universal2 one on arm64 (there were no arm64 builds before 11)."""
    out = []
    if (10, 0) <= version < (11, 0):
        out += [f"macosx_10_{m}_{f}" for m in range(version[1], -1, -1) for f in _mac_formats((10, m), arch)]
    if version >= (11, 0):
        out += [f"macosx_{v}_0_{f}" for v in range(version[0], 10, -1) for f in _mac_formats((v, 0), arch)]
        if arch == "x86_64":
            out += [f"macosx_10_{m}_{f}" for m in range(16, 3, -1) for f in _mac_formats((10, m), arch)]
        else:
            out += [f"macosx_10_{m}_universal2" for m in range(16, 3, -1)]
    return out


def parse_wheel_name(filename: str) -> tuple[str, str, tuple[()] | tuple[int, str], frozenset[tuple[str, str, str]]]:
    """``{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`` as (canonical name, version
    text, build (``()``, or its number and the rest: ``(1, "a")``), its tags with a compressed set
    such as ``py2.py3-none-any`` expanded).  A name that is not a wheel's raises ValueError."""
    if not filename.endswith(".whl"):
        raise ValueError(f"not a wheel file name (it must end in .whl): {filename!r}")
    parts = filename[:-4].split("-")
    if len(parts) not in (5, 6):
        raise ValueError(f"not a wheel file name (it needs 5 or 6 parts separated by '-'): {filename!r}")
    name, version, *build_part, python, abi, platform = parts
    if "__" in name or not _NAME_PART.fullmatch(name):
        raise ValueError(f"not a wheel file name (bad project name {name!r}): {filename!r}")
    from packaging.version import Version  # what pip and uv accept as a version is PEP 440's

    try:
        Version(version)
    except ValueError as e:  # InvalidVersion, or a number too long for int()
        raise ValueError(f"not a wheel file name (bad version {version!r}): {filename!r}") from e
    build: tuple[()] | tuple[int, str] = ()
    if build_part:
        number = _BUILD.fullmatch(build_part[0])
        if number is None:
            raise ValueError(f"not a wheel file name (its build tag must start with a digit): {filename!r}")
        build = (int(number[1]), number[2])
    pythons, abis, platforms = (part.split(".") for part in (python, abi, platform))
    if "" in pythons + abis + platforms:
        raise ValueError(f"not a wheel file name (an empty tag in {python}-{abi}-{platform}): {filename!r}")
    if not all(py.isidentifier() for py in pythons):
        raise ValueError(f"not a wheel file name (bad python tag {python!r}): {filename!r}")
    tags = frozenset((py.lower(), a.lower(), p.lower()) for py in pythons for a in abis for p in platforms)
    return canonical_name(name), version, build, tags
