"""``torchup catalog refresh``: learn new releases, variants and wheel tags from the
real indexes and merge them over the catalog in use, into the user cache.

Sources
- PyPI's simple API for ``torch`` (PEP 691 JSON, or PEP 503 HTML), at the index
  the installer is configured with: ``--pypi-index``, else ``PIP_INDEX_URL``,
  ``UV_DEFAULT_INDEX``, ``UV_INDEX_URL``, else ``pip config get global.index-url``,
  else pip's own built-in default (asked from pip).  No registry host is written here.
  For a release the catalog does not know, the PEP 658 metadata of its Linux
  wheels tells which CUDA the default build carries.
- PyTorch's per-variant pages ``<index base>/<variant>/torch/`` (PEP 503 HTML;
  default base https://download.pytorch.org/whl, ``--index-base`` /
  ``TORCHUP_INDEX_BASE``).  A missing page (PyTorch's index answers 403) means
  "not on this index" and is reported, not fatal.

Safety: PyPI is the ground.  Any transport failure, HTTP error other than
403/404, a truncated or malformed PyPI page stops the refresh with a
``NetworkError`` naming the page; the old data is kept.  PyTorch's index is a
second source: a page of it that cannot be read is a note, the refresh learns
what PyPI tells, and ``RefreshResult.unconfirmed`` says what it could not learn
or confirm.  A page that lacks some wheels (a partial mirror) removes nothing.
The cache file is written to a temporary file and renamed.

The pure part (``parse_*``, ``merge``) takes text and data; ``refresh_catalog``
does the I/O through ``torchup.http.fetch`` (the one HTTP client) and the
runner.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from torchup.cache import write_atomic
from torchup.catalog.companions import CompanionRelease, pick_companion, pythons_of_tags
from torchup.catalog.load import cache_path, cache_text, keep_snapshot, load_catalog
from torchup.catalog.model import (
    CONFIRMED,
    UNCONFIRMED,
    Build,
    Catalog,
    Companion,
    Provenance,
    Release,
    Wheel,
    platform_floor,
    variant_kind,
    version_tuple,
)
from torchup.errors import NetworkError
from torchup.http import OnBytes, fetch, resolve_pypi_index
from torchup.metadata import requires_dist
from torchup.output import redact_url
from torchup.plan import DEFAULT_INDEX_BASE
from torchup.record import replace

__all__ = [
    "IndexFile",
    "RefreshOptions",
    "RefreshResult",
    "files_by_version",
    "merge",
    "parse_simple_page",
    "refresh_catalog",
    "refresh_stack",
]

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
SRC_INDEX = "PYTORCH-INDEX"
SRC_PYPI = "PYPI-REFRESH"


@dataclass(frozen=True, kw_only=True)
class RefreshOptions:
    index_base: str = DEFAULT_INDEX_BASE
    pypi_index: str | None = None  # None: from the installer's configuration
    variants: tuple[str, ...] = ()  # extra variant pages to read
    timeout: float = 30.0
    today: date | None = None
    on_bytes: OnBytes | None = None  # told of each read of every page (progress on a terminal)


@dataclass(frozen=True, kw_only=True)
class RefreshResult:
    catalog: Catalog
    path: str
    changes: tuple[str, ...]
    notes: tuple[str, ...]  # pages missing on an index, pages that could not be read
    unconfirmed: tuple[str, ...] = ()  # what the refresh could not confirm, in words


@dataclass(frozen=True, kw_only=True)
class IndexFile:
    filename: str
    url: str
    requires_python: str | None = None
    upload_time: str | None = None
    has_metadata: bool = False


# --- parsing (pure) ---------------------------------------------------------------


class PageError(ValueError):
    """A page that is not a simple-API page (truncated, corrupted, something else)."""


def parse_simple_page(body: bytes, content_type: str, base_url: str) -> list[IndexFile]:
    """The files of a PEP 691 JSON or PEP 503 HTML project page.  ``PageError`` when
    the page is truncated or malformed."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PageError("the page is not UTF-8 text (corrupted?)") from None
    if JSON_TYPE in content_type or content_type.startswith("application/json"):
        return _parse_json(text, base_url)
    return _parse_html(text, base_url)


def _parse_json(text: str, base_url: str) -> list[IndexFile]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise PageError(f"the JSON page does not parse ({exc}); truncated or corrupted") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), list) or "meta" not in data:
        raise PageError("the JSON page has no 'meta' and 'files' (not a PEP 691 project page)")
    out = []
    from urllib.parse import urljoin

    for f in data["files"]:
        if not isinstance(f, dict) or not isinstance(f.get("filename"), str) or not isinstance(f.get("url"), str):
            raise PageError("a file entry of the JSON page has no filename or url")
        out.append(
            IndexFile(
                filename=f["filename"],
                url=urljoin(base_url, f["url"]),
                requires_python=f.get("requires-python") or None,
                upload_time=f.get("upload-time") or None,
                has_metadata=bool(f.get("core-metadata") or f.get("dist-info-metadata")),
            )
        )
    return out


def _parse_html(text: str, base_url: str) -> list[IndexFile]:
    import html
    from html.parser import HTMLParser
    from urllib.parse import unquote, urljoin

    head = text.lstrip()[:64].lower()
    if not (head.startswith("<!doctype html") or head.startswith("<html")):
        raise PageError("the page does not start like an HTML index page (corrupted, or not an index)")
    if "</html>" not in text[-64:].lower():
        raise PageError("the HTML page ends before </html> (truncated)")

    class _Links(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.links: list[tuple[dict[str, str | None], str]] = []
            self._attrs: dict[str, str | None] | None = None
            self._text: list[str] = []

        def handle_starttag(self, tag, attrs):
            if tag == "a":
                self._attrs = dict(attrs)
                self._text = []

        def handle_data(self, data):
            if self._attrs is not None:
                self._text.append(data)

        def handle_endtag(self, tag):
            if tag == "a" and self._attrs is not None:
                self.links.append((self._attrs, "".join(self._text).strip()))
                self._attrs = None

    parser = _Links()
    parser.feed(text)
    out = []
    for attrs, label in parser.links:
        href = attrs.get("href") or ""
        url = urljoin(base_url, href)
        filename = label or unquote(href.split("#")[0].rsplit("/", 1)[-1])
        rp = attrs.get("data-requires-python")
        meta = attrs.get("data-core-metadata") or attrs.get("data-dist-info-metadata")
        out.append(
            IndexFile(
                filename=unquote(filename),
                url=url,
                requires_python=html.unescape(rp) if rp else None,
                has_metadata=bool(meta) and meta != "false",
            )
        )
    return out


def files_by_version(files: list[IndexFile]) -> dict[str, dict[str, Any]]:
    """Group torch wheels: ``{version: {"label": local label or None, "wheels":
    {(os, arch): {(py, abi, platform)}}, "requires_python", "date", "files"}}``."""
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    out: dict[str, dict[str, Any]] = {}
    for f in files:
        if not f.filename.endswith(".whl"):
            continue
        try:
            name, version, _build, tags = parse_wheel_filename(f.filename)
        except (InvalidWheelFilename, ValueError):
            continue
        if name != "torch" or version.is_prerelease or version.is_devrelease:
            continue
        key = version.public
        entry = out.setdefault(
            key, {"label": version.local, "wheels": {}, "requires_python": set(), "date": None, "files": []}
        )
        entry["files"].append(f)
        if f.requires_python:
            entry["requires_python"].add(f.requires_python)
        if f.upload_time:
            day = f.upload_time[:10]
            entry["date"] = min(entry["date"] or day, day)
        for t in tags:
            try:
                os_, arch, _ = platform_floor(t.platform)
            except ValueError:
                continue
            py = t.interpreter + ("t" if t.abi.endswith("t") and t.abi.startswith("cp3") else "")
            entry["wheels"].setdefault((os_, arch), set()).add((py, t.abi, t.platform))
    return out


# --- merging (pure) ------------------------------------------------------------------


def _py_key(tag: str) -> tuple:
    digits = re.sub(r"\D", "", tag)
    return int(digits[:1] or 0), int(digits[1:] or 0), tag.endswith("t")


def _wheels(triples: set[tuple[str, str, str]]) -> tuple[Wheel, ...]:
    return tuple(
        Wheel(python=p, abi=a, platform=pl) for p, a, pl in sorted(triples, key=lambda w: (_py_key(w[0]), w[2]))
    )


def _glibc(triples: set[tuple[str, str, str]]) -> str | None:
    floors = [platform_floor(pl)[2] for _, _, pl in triples]
    known = [f for f in floors if f]
    if not known:
        return None
    lo = min(known)
    return f"{lo[0]}.{lo[1]}" if lo >= (2, 28) else "2.17"


def _template(catalog: Catalog, version: str, variant: str, os_: str, arch: str) -> Build | None:
    """The same variant on the same platform in the newest older release (arch lists etc.)."""
    for rel in reversed(catalog.releases):
        if version_tuple(rel.version) >= version_tuple(version):
            continue
        for b in rel.builds:
            if b.variant == variant and b.os == os_ and b.arch == arch:
                return b
    return None


def _new_build(
    catalog: Catalog,
    version: str,
    variant: str,
    os_: str,
    arch: str,
    triples,
    *,
    source: str,
    pypi_default: bool,
    cuda: str | None = None,
) -> Build:
    tmpl = _template(catalog, version, variant, os_, arch)
    guess = Provenance(source="PATTERN", confidence=UNCONFIRMED)
    seen = Provenance(source=source, confidence=CONFIRMED)
    prov: dict[str, Provenance] = {"exists": seen, "wheels": seen}
    kind = variant_kind(variant)
    fields: dict[str, Any] = {}
    if kind == "cuda":
        m = re.fullmatch(r"cu(\d+)(\d)", variant)
        fields["cuda"] = cuda or (f"{m.group(1)}.{m.group(2)}" if m else None)
        prov["cuda"] = seen
        if tmpl is not None:
            fields.update(sass=tmpl.sass, ptx=tmpl.ptx, arch_specific=tmpl.arch_specific)
            prov["arches"] = guess
    if kind == "rocm":
        fields["rocm"] = variant[4:]
        prov["rocm"] = seen
        if tmpl is not None:
            fields["gfx"] = tmpl.gfx
            prov["gfx"] = guess
    glibc = _glibc(triples) if os_ == "linux" else None
    if glibc:
        prov["glibc_min"] = seen if glibc == "2.28" else guess
    macos = None
    if os_ == "macos":
        floors = [platform_floor(pl)[2] for _, _, pl in triples]
        lo = min(f for f in floors if f)
        macos = f"{lo[0]}.{lo[1]}"
        prov["macos_min"] = seen
    if pypi_default:
        prov["pypi_default"] = seen
    return Build(
        torch=version,
        variant=variant,
        os=os_,
        arch=arch,
        wheels=_wheels(triples),
        glibc_min=glibc,
        macos_min=macos,
        pypi_default=pypi_default,
        local_label=None if os_ == "macos" else variant,
        index_suffix=variant,
        notes=("learnt by `torchup catalog refresh`; arch lists copied from the previous release (unconfirmed)",),
        provenance=prov,
        **fields,
    )


def merge(
    catalog: Catalog,
    pypi: Mapping[str, dict[str, Any]],
    index: Mapping[str, Mapping[str, dict[str, Any]]],
    *,
    pypi_cuda: Mapping[tuple[str, str, str], str | None] | None = None,
    companions: Mapping[str, tuple[Companion, ...]] | None = None,
    today: str,
) -> tuple[Catalog, list[str]]:
    """Merge what the indexes show over ``catalog``.

    ``pypi``: ``files_by_version`` of PyPI's torch page.  ``index``: variant ->
    ``files_by_version`` of ``<base>/<variant>/torch/``.  ``pypi_cuda``:
    (version, os, arch) -> CUDA major.minor of the PyPI build (from its metadata;
    None for a CPU build), for releases the catalog does not know.
    ``companions``: version -> companions found on PyPI for a new release.
    Returns the new catalog and the list of changes, in words."""
    companions = companions or {}
    pypi_cuda = pypi_cuda or {}
    changes: list[str] = []
    releases = {r.version: r for r in catalog.releases}
    for version in sorted(set(pypi) | {v for pages in index.values() for v in pages}, key=version_tuple):
        if version_tuple(version) < (1, 13):
            continue
        rel = releases.get(version)
        builds = list(rel.builds) if rel else []
        info = pypi.get(version)
        if rel is None:
            if info is None:
                continue  # only on PyTorch's index (not a PyPI release): not added
            changes.append(f"new release {version} (PyPI)")
            for (os_, arch), triples in sorted(info["wheels"].items()):
                cuda = pypi_cuda.get((version, os_, arch))
                variant = f"cu{cuda.replace('.', '')}" if cuda else "cpu"
                builds.append(
                    _new_build(
                        catalog, version, variant, os_, arch, triples, source=SRC_PYPI, pypi_default=True, cuda=cuda
                    )
                )
        elif info is not None:
            for (os_, arch), triples in sorted(info["wheels"].items()):
                for i, b in enumerate(builds):
                    if b.os == os_ and b.arch == arch and b.pypi_default:
                        have = {(w.python, w.abi, w.platform) for w in b.wheels}
                        new = triples - have
                        if new:
                            builds[i] = replace(b, wheels=_wheels(have | triples))
                            changes.append(
                                f"{version} PyPI {os_} {arch}: new wheels "
                                + ", ".join(sorted(f"{p}-{pl}" for p, _, pl in new))
                            )
        for variant, pages in index.items():
            page = pages.get(version)
            if page is None:
                continue
            for (os_, arch), triples in sorted(page["wheels"].items()):
                match = [i for i, b in enumerate(builds) if b.variant == variant and b.os == os_ and b.arch == arch]
                if not match:
                    builds.append(
                        _new_build(catalog, version, variant, os_, arch, triples, source=SRC_INDEX, pypi_default=False)
                    )
                    changes.append(f"{version}: new build {variant} for {os_} {arch} (PyTorch index)")
                    continue
                i = match[0]
                b = builds[i]
                have = {(w.python, w.abi, w.platform) for w in b.wheels}
                prov = dict(b.provenance)
                confirm = Provenance(source=SRC_INDEX, confidence=CONFIRMED)
                updated = False
                if not b.fact("exists").confirmed:
                    prov["exists"] = confirm
                    updated = True
                    changes.append(f"{version} {variant} {os_} {arch}: confirmed on the PyTorch index")
                if not b.pypi_default and triples - have:
                    changes.append(
                        f"{version} {variant} {os_} {arch}: wheels added as on the index: "
                        + ", ".join(sorted(f"{p}-{pl}" for p, _, pl in triples - have))
                    )
                    glibc = _glibc(triples | have) if os_ == "linux" else None
                    b = replace(b, wheels=_wheels(triples | have), glibc_min=glibc or b.glibc_min)
                    updated = True
                # the page confirms the wheels only when it lists every one the catalog has: a page
                # without some (a partial mirror) says nothing about PyTorch, so nothing is dropped
                if not b.pypi_default and not b.fact("wheels").confirmed and have <= triples:
                    prov["wheels"] = confirm
                    updated = True
                if updated:
                    builds[i] = replace(b, provenance=prov)
        if rel is None:
            rel = Release(
                version=version,
                released=info.get("date") if info else None,
                requires_python=next(iter(info["requires_python"]), None)
                if info and len(info["requires_python"]) == 1
                else None,
                provenance={"released": Provenance(source=SRC_PYPI, confidence=CONFIRMED)},
                companions=_companions_of_new(version, companions.get(version, ())),
                notes=("learnt by `torchup catalog refresh`",),
            )
            builds = [replace(b, released=rel.released, requires_python=rel.requires_python) for b in builds]
        releases[version] = replace(rel, builds=tuple(builds))
    ordered = tuple(sorted(releases.values(), key=lambda r: version_tuple(r.version)))
    sources = dict(catalog.sources)
    sources.setdefault(SRC_INDEX, "PyTorch's per-variant index pages, read by `torchup catalog refresh`")
    sources.setdefault(SRC_PYPI, "PyPI's simple API and PEP 658 metadata, read by `torchup catalog refresh`")
    sources.setdefault("PATTERN", "inferred from the neighbouring releases; no source seen")
    return replace(catalog, releases=ordered, data_date=today, sources=sources), changes


def _companions_of_new(version: str, found: tuple[Companion, ...]) -> tuple[Companion, ...]:
    """Companions of a release learnt by refresh: those found on PyPI, else unknown with a note."""
    out = []
    for name in ("torchvision", "torchaudio"):
        hit = next((c for c in found if c.name == name), None)
        if hit is None:
            hit = Companion(
                name=name,
                version=None,
                matched=False,
                note=f"no {name} release on PyPI admits torch {version} (checked by `torchup catalog refresh`)",
                provenance=Provenance(source=SRC_PYPI, confidence=UNCONFIRMED),
            )
        out.append(hit)
    return tuple(out)


# --- I/O ---------------------------------------------------------------------------------


class _Unread(Exception):
    """A page that could not be read: ``why`` names the page and the failure."""

    def __init__(self, why: str, hint: str | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.hint = hint


def _page(
    url: str, env: Mapping[str, str], timeout: float, *, json_ok: bool, on_bytes: OnBytes | None = None
) -> list[IndexFile] | None:
    """Files of one project page; None when the page is missing (403/404).  ``_Unread`` when
    it cannot be read: a transport failure, another HTTP error, a cut, truncated or malformed page."""
    accept = f"{JSON_TYPE}, text/html;q=0.1" if json_ok else "text/html"
    resp = fetch(url, timeout=timeout, env=env, accept=accept, on_bytes=on_bytes)
    if resp.status in (403, 404):
        return None
    if not resp.ok:
        why = resp.failure or f"HTTP {resp.status}"
        raise _Unread(
            f"could not read {url}: {why}{(' (' + resp.detail + ')') if resp.detail else ''}",
            "check the network, or point --index-base / TORCHUP_INDEX_BASE (or --pypi-index) at a reachable mirror, then retry",
        )
    length = resp.headers.get("Content-Length") or resp.headers.get("content-length")
    if length and length.isdigit() and int(length) != len(resp.body):
        raise _Unread(f"{url} was cut off ({len(resp.body)} of {length} bytes)")
    ctype = resp.headers.get("Content-Type") or resp.headers.get("content-type") or "text/html"
    try:
        return parse_simple_page(resp.body, ctype, url)
    except PageError as exc:
        raise _Unread(f"{url}: {exc}", "the index answered something that is not a package page; retry later") from None


def _pypi_page(
    url: str, env: Mapping[str, str], timeout: float, on_bytes: OnBytes | None = None
) -> list[IndexFile] | None:
    """A PyPI page: everything rests on it, so a page that cannot be read stops the refresh."""
    try:
        return _page(url, env, timeout, json_ok=True, on_bytes=on_bytes)
    except _Unread as exc:
        raise NetworkError(f"{exc.why}; the catalog was not changed", hint=exc.hint) from None


def _pypi_cuda(files: list[IndexFile], env, timeout, on_bytes=None) -> dict[tuple[str, str], str | None]:
    """CUDA of the default Linux builds from their PEP 658 metadata."""
    out: dict[tuple[str, str], str | None] = {}
    by_platform: dict[tuple[str, str], IndexFile] = {}
    for f in files:
        for os_arch in (("linux", "x86_64"), ("linux", "aarch64")):
            if f.filename.endswith(f"{os_arch[1]}.whl") and "linux" in f.filename and f.has_metadata:
                by_platform.setdefault(os_arch, f)
    for (os_, arch), f in by_platform.items():
        resp = fetch(f.url.split("#")[0] + ".metadata", timeout=timeout, env=env, accept="*/*", on_bytes=on_bytes)
        if not resp.ok:
            continue
        env_m = {
            "platform_system": "Linux",
            "platform_machine": arch,
            "sys_platform": "linux",
            "python_version": "3.12",
            "python_full_version": "3.12.0",
            "implementation_name": "cpython",
            "os_name": "posix",
            "platform_python_implementation": "CPython",
            "extra": "",
        }
        cuda = None
        for req in requires_dist(resp.body.decode("utf-8", "replace"), env_m):
            pins = [s.version for s in req.specifier if s.operator == "=="]
            if pins and (req.name == "cuda-toolkit" or req.name.startswith("nvidia-cuda-runtime")):
                cuda = ".".join(pins[0].split(".")[:2])
        out[(os_, arch)] = cuda
    return out


def _find_companions(
    pypi_url: str, new: Mapping[str, str | None], env, timeout, on_bytes=None
) -> dict[str, tuple[Companion, ...]]:
    """For new torch releases (version -> release date): torchvision / torchaudio by the rule the
    snapshot uses (``torchup.catalog.companions``), from the PEP 658 metadata of their five newest
    releases."""
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename
    from packaging.version import Version

    out: dict[str, list[Companion]] = {v: [] for v in new}
    for name in ("torchvision", "torchaudio"):
        files = _pypi_page(f"{pypi_url}/{name}/", env, timeout, on_bytes) or []
        by_version: dict[Version, list[tuple[IndexFile, Any]]] = {}
        for f in files:
            try:
                _, ver, _, tags = parse_wheel_filename(f.filename)
            except (InvalidWheelFilename, ValueError):
                continue
            if not ver.is_prerelease:
                by_version.setdefault(ver, []).append((f, tags))
        seen = []
        for ver in sorted(by_version, reverse=True)[:5]:
            group = by_version[ver]
            meta_file = next((f for f, _ in group if f.has_metadata), None)
            if meta_file is None:
                continue
            resp = fetch(
                meta_file.url.split("#")[0] + ".metadata", timeout=timeout, env=env, accept="*/*", on_bytes=on_bytes
            )
            if not resp.ok:
                continue
            spec = None
            for req in requires_dist(resp.body.decode("utf-8", "replace"), {}):
                if req.name == "torch":
                    spec = str(req.specifier) or None
            days = [f.upload_time[:10] for f, _ in group if f.upload_time]
            seen.append(
                CompanionRelease(
                    version=str(ver),
                    released=min(days) if days else None,
                    requires_torch=spec,
                    pythons=pythons_of_tags(t for _, tags in group for t in tags),
                )
            )
        for torch_v, torch_day in new.items():
            hit = pick_companion(name, torch_v, torch_day, seen, source=SRC_PYPI)
            if hit is not None:
                out[torch_v].append(hit)
    return {v: tuple(cs) for v, cs in out.items()}


def _variants_to_read(catalog: Catalog, extra: tuple[str, ...]) -> list[str]:
    recent = catalog.releases[-3:]
    names: dict[str, None] = {}
    for rel in recent:
        for b in rel.builds:
            names.setdefault(b.variant, None)
    cudas = sorted(int(v[2:]) for v in names if re.fullmatch(r"cu\d+", v))
    if cudas:
        names.setdefault(f"cu{cudas[-1] + 2}", None)  # the next CUDA minor PyTorch would name
    for v in extra:
        names.setdefault(v, None)
    return list(names)


def refresh_catalog(
    env: Mapping[str, str], options: RefreshOptions, run: Callable[[list[str]], str | None]
) -> RefreshResult:
    """Read the indexes, merge, write the cache atomically.  Raises ``NetworkError``
    (nothing written) when a page cannot be read."""
    base = options.index_base.rstrip("/")
    current = load_catalog(env)
    pypi_url, _how = (
        (options.pypi_index.rstrip("/"), "--pypi-index") if options.pypi_index else resolve_pypi_index(env, run)
    )
    notes: list[str] = []
    pypi_files = _pypi_page(f"{pypi_url}/torch/", env, options.timeout, options.on_bytes)
    if pypi_files is None:
        raise NetworkError(
            f"{pypi_url}/torch/ is missing (HTTP 403/404); the catalog was not changed",
            hint="check --pypi-index / the installer's index URL",
        )
    pypi = files_by_version(pypi_files)
    if not pypi:
        raise NetworkError(f"{pypi_url}/torch/ lists no torch wheels; the catalog was not changed")
    known = set(current.versions())
    unconfirmed: list[str] = []
    pypi_cuda: dict[tuple[str, str, str], str | None] = {}
    for version, info in pypi.items():
        if version not in known and version_tuple(version) >= (1, 13):
            read = _pypi_cuda(info["files"], env, options.timeout, options.on_bytes)
            for (os_, arch), cuda in read.items():
                pypi_cuda[(version, os_, arch)] = cuda
            for os_, arch in [k for k in info["wheels"] if k[0] == "linux" and k not in read]:
                # without the metadata pins a CUDA build cannot be told from a CPU one: learn nothing of it
                del info["wheels"][(os_, arch)]
                unconfirmed.append(
                    f"torch {version} on PyPI for linux {arch}: its metadata could not be read, "
                    "so which build PyPI serves (CUDA or CPU) is unknown; that build was not added"
                )
    new = {v: info.get("date") for v, info in pypi.items() if v not in known and version_tuple(v) >= (1, 13)}
    companions = _find_companions(pypi_url, new, env, options.timeout, options.on_bytes) if new else {}
    index: dict[str, dict[str, dict[str, Any]]] = {}
    unread: list[str] = []
    for variant in _variants_to_read(current, options.variants):
        try:
            files = _page(f"{base}/{variant}/torch/", env, options.timeout, json_ok=False, on_bytes=options.on_bytes)
        except _Unread as exc:
            unread.append(variant)  # PyTorch's index is a second source: go on with what PyPI tells
            notes.append(exc.why)
            continue
        if files is None:
            notes.append(f"{redact_url(base)}/{variant}/torch/ is not on the index (HTTP 403/404)")
            continue
        pages = files_by_version(files)
        for entry in pages.values():
            if entry["label"] not in (None, variant):
                entry["wheels"] = {}
        index[variant] = pages
    today = (options.today or date.today()).isoformat()
    merged, changes = merge(current, pypi, index, pypi_cuda=pypi_cuda, companions=companions, today=today)
    unconfirmed += _unconfirmed_after(merged, new, unread, base)
    path = cache_path(env)
    # with made_from: the embedded catalog it was learnt on top of
    write_atomic(path, cache_text(merged).encode("utf-8"))
    keep_snapshot(path, quiet=True)  # what later loads read: a millisecond instead of parsing the JSON
    stack_changes, stack_notes = refresh_stack(pypi_url, env, options.timeout, today, path.parent / "stack.json")
    changes += stack_changes
    notes += stack_notes
    merged = replace(merged, origin=str(path))
    notes += _keep_variant_metadata(merged, base, env, options.timeout, path.parent)
    return RefreshResult(
        catalog=merged, path=str(path), changes=tuple(changes), notes=tuple(notes), unconfirmed=tuple(unconfirmed)
    )


def _keep_variant_metadata(
    catalog: Catalog, base: str, env: Mapping[str, str], timeout: float, directory: Path
) -> list[str]:
    """PyTorch's wheel-variant metadata of the newest release (2.10 and later have variant wheels),
    kept in the cache for ``plan``'s uv wheel-variant alternative; what went wrong is a note."""
    from torchup.catalog.variants import read_variant_metadata, save_variant_metadata

    versions = [v for v in catalog.versions() if version_tuple(v) >= (2, 10)]
    if not versions:
        return []
    newest = max(versions, key=version_tuple)
    found = read_variant_metadata(base, newest, env=env, timeout=timeout)
    if isinstance(found, str):
        return [found]
    try:
        save_variant_metadata(directory, newest, found)
    except OSError as err:
        return [f"could not keep the wheel-variant metadata of torch {newest}: {err}"]
    return []


def _unconfirmed_after(catalog: Catalog, new: Mapping[str, str | None], unread: list[str], base: str) -> list[str]:
    """What a refresh could not confirm, in words: PyTorch's pages it could not read, and for
    each new release the builds only PyTorch's index would show and the copied arch lists."""
    out = []
    if unread:
        out.append(
            f"PyTorch's index ({base}) could not be read for {', '.join(unread)}: the builds of those variants "
            "were neither learnt nor confirmed; the catalog keeps what it knew of them"
        )
    for version in sorted(new, key=version_tuple):
        rel = catalog.release(version)
        if rel is None:
            continue
        if unread:
            learnt = sorted({b.variant for b in rel.builds})
            out.append(
                f"torch {version}: only the builds seen were learnt ({', '.join(learnt)}); its other builds on "
                "PyTorch's index are unknown until a refresh reads that index"
            )
        copied = sorted({b.variant for b in rel.builds if "arches" in b.unconfirmed() or "gfx" in b.unconfirmed()})
        if copied:
            out.append(
                f"torch {version}: the GPU architecture lists of {', '.join(copied)} are copied from the previous "
                "release, not confirmed"
            )
    return out


def refresh_stack(
    pypi_url: str, env: Mapping[str, str], timeout: float, today: str, path: Path
) -> tuple[list[str], list[str]]:
    """Learn the PyPI releases of the stack packages (``torchup.catalog.stack``) the data lacks:
    their wheels' tags from the PEP 691 page, their torch requirement from one wheel's PEP 658
    metadata.  A page or a metadata file that cannot be read is a note; what was known is kept.
    Returns (changes, notes)."""
    from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename
    from packaging.version import InvalidVersion

    from torchup.catalog.stack import release_record, stack_data, torch_requirements

    pypi_url = pypi_url.rstrip("/")
    data = stack_data(env)
    data.pop("refreshed", None)
    changes: list[str] = []
    notes: list[str] = []
    for name, facts in data["packages"].items():
        if "pypi" not in facts["hosts"]:
            continue
        project = facts.get("pypi_name", name)
        try:
            files = _page(f"{pypi_url}/{project}/", env, timeout, json_ok=True)
        except _Unread as exc:
            notes.append(f"{exc.why}: the facts on {name} are kept as they were")
            continue
        if files is None:
            notes.append(f"{redact_url(pypi_url)}/{project}/ is not on that index: the facts on {name} are kept")
            continue
        known = {r["version"] for r in facts["releases"]}
        oldest = min((r.get("uploaded") or "9999" for r in facts["releases"]), default="0000")
        groups: dict[str, list[IndexFile]] = {}
        for f in files:
            try:
                if f.filename.endswith(".whl"):
                    parsed = parse_wheel_filename(f.filename)[1]
                else:
                    parsed = parse_sdist_filename(f.filename)[1]
            except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion, ValueError):
                continue
            if not (parsed.is_prerelease or parsed.is_devrelease) and str(parsed) not in known:
                groups.setdefault(str(parsed), []).append(f)
        for version, group in groups.items():
            if min((f.upload_time or "9999")[:10] for f in group) < oldest:
                continue  # older than what the data records on purpose
            wheels = sorted(
                (f for f in group if f.filename.endswith(".whl")),
                key=lambda f: ("linux" not in f.filename or "x86_64" not in f.filename, f.filename),
            )
            reqs: tuple[str, ...] = ()
            if wheels:
                meta = next((f for f in wheels if f.has_metadata), None)
                resp = (
                    fetch(meta.url.split("#")[0] + ".metadata", timeout=timeout, env=env, accept="*/*")
                    if meta
                    else None
                )
                if resp is None or not resp.ok:
                    notes.append(f"{name} {version}: its metadata could not be read; not added")
                    continue
                reqs = torch_requirements(resp.body.decode("utf-8", "replace"))
            record = release_record(
                version, [(f.filename, f.upload_time, f.requires_python) for f in group], reqs, source=SRC_PYPI
            )
            facts["releases"].append(record)
            changes.append(f"{name} {version}: torch {', '.join(reqs) or '(no requirement)'} (stack)")
    data["read"] = today
    write_atomic(path, (json.dumps(data, separators=(",", ":")) + "\n").encode("utf-8"))
    return changes, notes
