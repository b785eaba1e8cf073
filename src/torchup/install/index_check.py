"""Does the index have every requirement of the install for this target?  Pure: the
requirements of a pip / uv argv, the target's wheel tags (``torchup.wheeltags`` from what the
target inspection reported), the wheels of a PEP 503 page, and the reason one is missing.
Neither ``packaging.tags`` nor ``packaging.utils`` (which imports it) is imported: ~12 ms of a
dry run (issue 15).

A miss is found here, before pip or uv download anything: without it, an index holding
torch but not the pinned torchvision let pip fetch torch's 190 MB and then fail.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from torchup.errors import NetworkError, TorchupError
from torchup.metadata import canonical_name, requirement
from torchup.output import redact_url
from torchup.record import record
from torchup.wheeltags import cpython_tags, mac_platforms, parse_wheel_name, tag_text

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)
if TYPE_CHECKING:  # imported where used: only an install's preflight needs packaging here
    from packaging.version import Version

__all__ = ["IndexWheel", "missing_problem", "page_wheels", "requirements_in", "target_tags", "unescape"]

# options of the rendered pip / uv argv that take a value (the next word)
_VALUE_OPTIONS = frozenset(
    {
        "--index-url",
        "-i",
        "--extra-index-url",
        "--default-index",
        "--index",
        "--python",
        "-p",
        "--find-links",
        "-f",
        "-c",
        "--constraint",
        "-r",
        "--requirement",
    }
)
_ANCHOR = re.compile(r"<a\s([^>]*)>", re.I)
_ATTR = re.compile(r"""([\w-]+)\s*=\s*["']([^"']*)["']""")
# manylinux's legacy names (PEP 600): the glibc each one stands for
_LEGACY_MANYLINUX = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}


@record
class IndexWheel:
    filename: str
    version: Version
    tags: frozenset[tuple[str, str, str]]  # (interpreter, abi, platform), as torchup.wheeltags gives them
    requires_python: str | None = None


def requirements_in(argv: list[str] | tuple[str, ...]) -> list:
    """The requirements (``torchup.metadata.requirement``) a pip or uv install argv asks
    for: the words after ``install`` that are neither options nor option values."""
    words = list(argv)
    if "install" not in words:
        return []
    out, skip = [], False
    for word in words[words.index("install") + 1 :]:
        if skip:
            skip = False
        elif word.startswith("-"):
            skip = word in _VALUE_OPTIONS  # "--option=value" carries its own
        else:
            try:
                out.append(requirement(word))
            except ValueError:  # packaging's InvalidRequirement
                continue
    return out


def _linux_platforms(machine: str, libc: str) -> list[str]:
    kind, _, version = libc.partition(" ")
    try:
        major, minor = (int(x) for x in version.split(".")[:2])
    except ValueError:
        return []
    out = []
    if kind == "glibc" and major == 2:
        floor = 5 if machine in ("x86_64", "i686") else 17
        for m in range(minor, floor - 1, -1):
            out.append(f"manylinux_2_{m}_{machine}")
            if (2, m) in _LEGACY_MANYLINUX:
                out.append(f"{_LEGACY_MANYLINUX[(2, m)]}_{machine}")
    elif kind == "musl" and major == 1:
        out += [f"musllinux_1_{m}_{machine}" for m in range(minor, -1, -1)]
    return [*out, f"linux_{machine}"]


def target_tags(markers: Mapping[str, str], platform: Mapping[str, str]) -> frozenset[tuple[str, str, str]] | None:
    """The wheel tags the target accepts, ``(interpreter, abi, platform)`` tuples, or None when its
    inspection did not say enough (then only versions are checked).  CPython only: the builds
    torchup installs are CPython's."""
    if markers.get("implementation_name") != "cpython" or not platform.get("platform"):
        return None
    try:
        major, minor = (int(x) for x in markers.get("python_version", "").split(".")[:2])
    except ValueError:  # not a number, or not two of them
        return None
    plat = platform["platform"].replace("-", "_").replace(".", "_")
    system, machine = markers.get("sys_platform", ""), markers.get("platform_machine", "")
    if system == "linux":
        platforms = _linux_platforms(machine, platform.get("libc", ""))
    elif system == "darwin":
        try:
            mac = tuple(int(x) for x in platform.get("mac_version", "").split(".")[:2])
        except ValueError:
            return None
        platforms = mac_platforms((mac[0], mac[1]), machine) if len(mac) == 2 else []
    else:
        platforms = [plat]
    if not platforms:
        return None
    return frozenset(cpython_tags((major, minor), platform.get("abiflags", ""), platforms))


def page_wheels(page: str, project: str) -> list[IndexWheel]:
    """The wheels of ``project`` listed on a PEP 503 page."""
    from urllib.parse import unquote

    from packaging.version import Version

    out = []
    for attrs_text in _ANCHOR.findall(page):
        # html (with its entity table, ~3 ms) only for a value that holds a character reference
        attrs = {k.lower(): unescape(v) for k, v in _ATTR.findall(attrs_text)}
        filename = unquote(attrs.get("href", "").split("#")[0].rsplit("/", 1)[-1])
        if not filename.endswith(".whl"):
            continue
        try:
            name, version, _, wheel_tags = parse_wheel_name(filename)
        except ValueError:
            continue
        if name == canonical_name(project):
            out.append(
                IndexWheel(
                    filename=filename,
                    version=Version(version),
                    tags=wheel_tags,
                    requires_python=attrs.get("data-requires-python") or None,
                )
            )
    return out


# the character references index pages use (data-requires-python="&gt;=3.10"), read without the
# html module and its table of 2,231 entities
_COMMON_REFERENCES = {"lt;": "<", "gt;": ">", "amp;": "&", "quot;": '"', "#39;": "'"}


def unescape(value: str) -> str:
    """``html.unescape(value)``: the common references by hand (in one pass, as html does), html for any other."""
    if "&" not in value:
        return value
    head, *parts = value.split("&")
    out = [head]
    for part in parts:
        ref = next((r for r in _COMMON_REFERENCES if part.startswith(r)), None)
        if ref is None:
            import html

            return html.unescape(value)
        out.append(_COMMON_REFERENCES[ref] + part[len(ref) :])
    return "".join(out)


def _fits_python(wheel: IndexWheel, python: str) -> bool:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    if not wheel.requires_python or not python:
        return True
    try:
        return SpecifierSet(wheel.requires_python).contains(python, prereleases=True)
    except InvalidSpecifier:
        return True


def missing_problem(
    req,
    wheels: list[IndexWheel] | None,
    *,
    index_url: str,
    accepted: frozenset[tuple[str, str, str]] | None,
    python: str,
    where: str,
) -> TorchupError | None:
    """Why the index at ``index_url`` cannot give ``req`` to this target (None: it can).
    ``wheels``: the project's wheels there, None when the index has no page for it;
    ``accepted``: the target's tags (None: unknown, versions only); ``where``: the target, in words."""
    index = redact_url(index_url)
    hint = (
        "nothing was downloaded or changed; plan a release this index serves (`torchup plan --torch ...`), "
        "leave the companion out (--no-torchvision / --no-torchaudio), or use another index (--index-base)"
    )
    if wheels is None:
        return NetworkError(
            f"{index} has no {req.name} at all (no project page): the install asks for {req}",
            hint=hint,
            code="not-on-index",
        )
    matching = [w for w in wheels if req.specifier.contains(w.version, prereleases=True)]
    usable = [w for w in matching if _fits_python(w, python) and (accepted is None or w.tags & accepted)]
    if usable:
        return None
    details = []
    if matching:
        tags = sorted({tag_text(t) for w in matching for t in w.tags})
        shown = ", ".join(tags[:6]) + (f" and {len(tags) - 6} more" if len(tags) > 6 else "")
        details.append(f"{req.name} {matching[0].version} is there only for: {shown}")
    fitting = sorted({w.version for w in wheels if _fits_python(w, python) and (accepted is None or w.tags & accepted)})
    if fitting:
        details.append(
            f"versions of {req.name} there for this target: {', '.join(str(v) for v in _nearest(fitting, req))}"
        )
    elif not matching:
        versions = sorted({w.version for w in wheels})
        details.append(f"versions of {req.name} there: {', '.join(str(v) for v in versions[-6:]) or 'none'}")
    return NetworkError(
        f"{index} has no wheel of {req} for this target ({where})", details=details, hint=hint, code="not-on-index"
    )


def _nearest(versions: list, req, count: int = 6) -> list:
    """Up to ``count`` of the sorted ``versions``, around the pinned one when there is a pin."""
    pinned = [s.version for s in req.specifier if s.operator in ("==", "===")]
    if not pinned:
        return versions[-count:]
    from packaging.version import InvalidVersion, Version

    try:
        want = Version(pinned[0].rstrip(".*"))
    except InvalidVersion:
        return versions[-count:]
    below = [v for v in versions if v < want][-(count // 2) :]
    above = [v for v in versions if v >= want][: count - len(below)]
    return below + above
