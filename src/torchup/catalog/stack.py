"""What torchup knows of the packages built against torch (``plan --with``): the stack catalog.

The data is ``data/stack.json``, loaded lazily (only a plan with ``--with`` reads it).  Per package:
where it publishes wheels (``hosts``), how a wheel encodes torch / CUDA / ABI (``encoding``), how
it binds to torch (``binding``), each with its source; then its releases.

``binding`` is one of
- ``exact-pin``: each release's metadata pins ``torch==X`` (xformers, vllm); its binary is built
  against that torch's default build on PyPI;
- ``range``: pure Python, a JIT, or the stable ABI: any torch its ``Requires-Dist`` admits
  (bitsandbytes, torchao, flashinfer-python, deepspeed);
- ``per-torch``: a compiled extension with one wheel per (torch, CUDA) published off PyPI, named
  in its file name or local version label (flash-attn's release assets, PyG's wheel pages);
- ``table``: compiled against one torch minor but without a pin in its metadata; the supported
  torch of each release comes from the project's own compatibility table (torchcodec).

``releases`` of the PyPI packages come from the default index's PEP 691 pages and PEP 658
metadata (``scripts/stack_metadata.py`` writes them; ``torchup catalog refresh`` updates them into
the user cache, ``stack.json`` there).  The facts published elsewhere were recorded by hand, each
with its source (repository, commit and file) and whether that source is primary and says it
(``confirmed``): the ``listings`` of flash-attn and PyG (their wheel-building workflows), which
variants of each xformers release PyTorch's index carries (``builds``: its wheels workflow) and
torchcodec's compatibility table (``table_sources``: its README).  A fact not confirmed is still
used, and the plan that rests on it says so (``torchup.stack``).

The record building here is pure and shared by the maintainer script and the refresh.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping

from torchup.metadata import canonical_name
from torchup.record import field, record

TYPE_CHECKING = False  # typing and pathlib are not imported at run time: plan's start-up (issue 15)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

__all__ = [
    "BINDINGS",
    "IndexBuilds",
    "Listing",
    "Origin",
    "PackageFacts",
    "StackCatalog",
    "StackRelease",
    "load_stack",
    "read_stack_file",
    "release_record",
    "stack_data",
    "stack_from_dict",
    "stack_path",
    "torch_requirements",
]

BINDINGS = ("exact-pin", "range", "per-torch", "table")
STACK_FORMAT = 1


@record
class StackRelease:
    """One release of a package on PyPI: its torch requirement and the wheels it has."""

    version: str
    uploaded: str | None  # the day of its first file
    requires_python: str | None
    requires_torch: tuple[str, ...]  # the Requires-Dist entries on torch, as written (with markers)
    wheels: tuple[str, ...]  # "py-abi-platform" tags of its wheels; () when only an sdist exists
    sdist: bool = False
    source: str = "PYPI"


@record
class Listing:
    """Wheels of one package version published off PyPI for one (torch minor, CUDA) point."""

    version: str  # the package version, public part: "2.8.3"
    torch: str  # the torch minor the wheel is built for: "2.8"
    cuda: str | None  # "12" (flash-attn encodes the major), "12.6" (PyG), None for CPU
    pythons: tuple[str, ...]  # "cp312", ...
    platforms: tuple[str, ...]  # "linux_x86_64", ...
    abi: str | None = None  # flash-attn: "cxx11abiTRUE" / "cxx11abiFALSE"
    local: str | None = None  # the local label pip must see: "pt28cu126" (PyG)
    source: str = ""
    confirmed: bool = False  # the source is primary (the workflow that built it) and says so


@record
class IndexBuilds:
    """Which torch builds one release of an exact-pin package was built for, per index (xformers)."""

    pypi: str | None  # the variant of the torch build its PyPI wheel is for: "cu128"
    pytorch_index: tuple[str, ...]  # the variants PyTorch's index carries it for: "cu126", "rocm6.4"
    source: str
    confirmed: bool = False


@record
class Origin:
    """Where one hand-recorded fact comes from."""

    source: str
    confirmed: bool = False


@record
class PackageFacts:
    name: str
    binding: str
    hosts: tuple[str, ...]  # "pypi", "pytorch-index", "pyg", "github-release"
    encoding: str  # how a wheel names torch / CUDA / ABI, in words
    sources: Mapping[str, str]  # fact -> source
    find_links: str | None = None  # a page template: "https://data.pyg.org/whl/torch-{torch}+{variant}.html"
    url: str | None = None  # an asset URL template (flash-attn)
    build: str | None = None  # what a source build needs, in words
    table: Mapping[str, str] = field(default_factory=dict)  # binding "table": release (or its minor) -> torch spec
    table_sources: Mapping[str, Origin] = field(default_factory=dict)  # the same keys -> where each row comes from
    builds: Mapping[str, IndexBuilds] = field(default_factory=dict)  # exact-pin: release -> its builds per index
    releases: tuple[StackRelease, ...] = ()
    listings: tuple[Listing, ...] = ()


@record
class StackCatalog:
    read: str | None  # the day the PyPI part was read
    packages: Mapping[str, PackageFacts]
    origin: str = "embedded"

    def __post_init__(self) -> None:
        # co_resolve's answers for this catalog (torchup.stack): it is pure, and `torchup site` asks
        # it the same question for thousands of machines alike (a refusal weighs every package
        # against every build).  Not a field: no part of the catalog's value, compared or shown.
        self.__dict__["answers"] = {}

    @property
    def answers(self) -> dict:
        return self.__dict__["answers"]

    def get(self, name: str) -> PackageFacts | None:
        return self.packages.get(canonical_name(name))


# --- record building (pure; shared by scripts/stack_metadata.py and catalog refresh) -----------


def torch_requirements(metadata: str) -> tuple[str, ...]:
    """The ``Requires-Dist`` entries of a METADATA text that name torch, as written."""
    from packaging.requirements import InvalidRequirement, Requirement

    out = []
    for line in metadata.splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        text = line.split(":", 1)[1].strip()
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if canonical_name(req.name) == "torch":
            out.append(str(req))
    return tuple(out)


def release_record(
    version: str, files: Iterable[tuple[str, str | None, str | None]], requires_torch: Iterable[str], *, source: str
) -> dict[str, Any]:
    """The JSON record of one release from its files ``(filename, upload_time, requires_python)``."""
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    tags: set[str] = set()
    days: list[str] = []
    rps: set[str] = set()
    sdist = False
    for filename, uploaded, rp in files:
        if uploaded:
            days.append(uploaded[:10])
        if rp:
            rps.add(rp)
        if filename.endswith(".whl"):
            try:
                _, _, _, wtags = parse_wheel_filename(filename)
            except (InvalidWheelFilename, ValueError):
                continue
            tags.update(f"{t.interpreter}-{t.abi}-{t.platform}" for t in wtags)
        elif filename.endswith((".tar.gz", ".zip")):
            sdist = True
    return {
        "version": version,
        "uploaded": min(days) if days else None,
        "requires_python": sorted(rps)[0] if rps else None,
        "requires_torch": list(requires_torch),
        "wheels": sorted(tags),
        "sdist": sdist,
        "source": source,
    }


# --- loading ----------------------------------------------------------------------------------


_EMBEDDED = os.path.join(os.path.dirname(os.path.realpath(__file__)), "data", "stack.json")


def stack_path() -> Path:
    from pathlib import Path

    return Path(_EMBEDDED)


_LOADED: dict[tuple, StackCatalog] = {}  # (the refreshed cache's path, its size and mtime) -> catalog


def load_stack(env: Mapping[str, str] | None = None) -> StackCatalog:
    """The stack catalog in use: the embedded facts, with the releases ``catalog refresh`` read
    into the user cache (``stack.json`` there) added; a damaged cache is ignored.  Loaded once
    per process while that cache file is unchanged (``plan --with`` asks for it more than once)."""
    from torchup.cache import cache_root

    cached = os.path.join(cache_root(env), "stack.json")
    try:
        st = os.stat(cached)
        key: tuple = (cached, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)  # a replaced file: a new inode
    except OSError:
        key = (cached, None, None, None, None)
    if key not in _LOADED:
        data = stack_data(env)
        _LOADED[key] = stack_from_dict(data, origin="embedded" if data.get("refreshed") is None else "embedded+refresh")
    return _LOADED[key]


def stack_data(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The raw JSON the catalog is built from (see ``load_stack``)."""
    from torchup.cache import cache_root

    with open(_EMBEDDED, encoding="utf-8") as fh:
        data = json.load(fh)
    cached = os.path.join(cache_root(env), "stack.json")
    try:
        if os.path.isfile(cached):
            with open(cached, encoding="utf-8") as fh:
                extra = json.load(fh)
        else:
            extra = None
        stack_from_dict(extra or data)  # validate before use
    except (OSError, ValueError, KeyError, TypeError):
        extra = None
    if extra:
        for name, facts in data["packages"].items():
            seen = {r["version"]: r for r in facts.get("releases", ())}
            for r in extra.get("packages", {}).get(name, {}).get("releases", ()):
                seen.setdefault(r["version"], r)
            facts["releases"] = list(seen.values())
        data["refreshed"] = extra.get("read")
    return data


def read_stack_file(path: str | Path, *, origin: str | None = None) -> StackCatalog:
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    return stack_from_dict(data, origin=origin or str(path))


def stack_from_dict(data: Mapping[str, Any], *, origin: str = "embedded") -> StackCatalog:
    if data.get("format") != STACK_FORMAT:
        raise ValueError(f"stack data format {data.get('format')!r} is not {STACK_FORMAT}")
    packages = {}
    for name, p in data["packages"].items():
        if p["binding"] not in BINDINGS:
            raise ValueError(f"packages.{name}.binding: {p['binding']!r} is not one of {', '.join(BINDINGS)}")
        packages[canonical_name(name)] = PackageFacts(
            name=canonical_name(name),
            binding=p["binding"],
            hosts=tuple(p["hosts"]),
            encoding=p["encoding"],
            sources=dict(p.get("sources", {})),
            find_links=p.get("find_links"),
            url=p.get("url"),
            build=p.get("build"),
            table=dict(p.get("table", {})),
            table_sources={
                k: Origin(source=o["source"], confirmed=bool(o.get("confirmed")))
                for k, o in p.get("table_sources", {}).items()
            },
            builds={
                v: IndexBuilds(
                    pypi=b.get("pypi"),
                    pytorch_index=tuple(b.get("pytorch_index", ())),
                    source=b["source"],
                    confirmed=bool(b.get("confirmed")),
                )
                for v, b in p.get("builds", {}).items()
            },
            releases=tuple(
                StackRelease(
                    version=r["version"],
                    uploaded=r.get("uploaded"),
                    requires_python=r.get("requires_python"),
                    requires_torch=tuple(r.get("requires_torch", ())),
                    wheels=tuple(r.get("wheels", ())),
                    sdist=bool(r.get("sdist")),
                    source=r.get("source", "PYPI"),
                )
                for r in p.get("releases", ())
            ),
            listings=tuple(
                Listing(
                    version=x["version"],
                    torch=x["torch"],
                    cuda=x.get("cuda"),
                    pythons=tuple(x["pythons"]),
                    platforms=tuple(x["platforms"]),
                    abi=x.get("abi"),
                    local=x.get("local"),
                    source=x["source"],
                    confirmed=bool(x.get("confirmed")),
                )
                for x in p.get("listings", ())
            ),
        )
    return StackCatalog(read=data.get("read"), packages=packages, origin=origin)
