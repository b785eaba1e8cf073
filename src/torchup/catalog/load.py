"""Loading the catalog: the snapshot embedded in the package, or a newer refreshed cache.

``load_catalog()`` is the one entry point.  The embedded snapshot is
``torchup/catalog/data/catalog.json``; ``torchup catalog refresh`` writes
``catalog.json`` in the user cache directory (``TORCHUP_CACHE_DIR``, else
``$XDG_CACHE_HOME/torchup``, else ``~/.cache/torchup``; on Windows
``%LOCALAPPDATA%\\torchup``).  The cache is used when it is readable, was learnt on
top of this very embedded snapshot (``made_from``, see ``embedded_id``) and its
``data_date`` is not older than the embedded one; a broken cache, or one another
torchup made, is ignored with a warning on the returned catalog, never an error.

The file format is documented in ``docs/catalog.md``.  In short: the JSON is
compact -- keys that are null, empty or false are left out, a build's wheels
are ``{platform tag: ["cp312", "cp37/cp37m", ...]}`` (``python/abi`` when the
ABI tag differs), and a provenance is ``"KEY"`` (confirmed) or ``"?KEY"``
(unconfirmed), ``KEY`` being described in ``sources``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache

from torchup import boundedjson
from torchup.cache import cache_dir, cache_root
from torchup.catalog.model import (
    CONFIRMED,
    UNCONFIRMED,
    Build,
    Catalog,
    Companion,
    PlatformNote,
    Provenance,
    Release,
    Wheel,
)
from torchup.errors import InputError

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

__all__ = [
    "CATALOG_FORMAT",
    "STALE_DAYS",
    "cache_dir",
    "cache_path",
    "cache_text",
    "catalog_from_dict",
    "catalog_to_dict",
    "embedded_path",
    "keep_snapshot",
    "load_catalog",
    "read_catalog_file",
]

CATALOG_FORMAT = 1
STALE_DAYS = 60  # suggest `torchup catalog refresh` when the data is older than this
# Limits on a catalog file: the embedded one is under 200 KB and nests 7 deep; these are far above.
MAX_BYTES = 32 << 20
MAX_DEPTH = 16


_EMBEDDED = os.path.join(os.path.dirname(os.path.realpath(__file__)), "data", "catalog.json")


def embedded_path() -> Path:
    from pathlib import Path

    return Path(_EMBEDDED)


def cache_path(env: Mapping[str, str] | None = None) -> Path:
    return cache_dir(env) / "catalog.json"


def load_catalog(env: Mapping[str, str] | None = None, *, use_cache: bool = True) -> Catalog:
    """The catalog torchup should use: the refreshed cache when present and not
    older than the embedded snapshot, else the embedded snapshot."""
    path = os.path.join(cache_root(env), "catalog.json")  # a string: pathlib costs a plan ~5 ms to import
    if not use_cache or not os.path.exists(path):
        return _embedded()  # the common case
    if not os.path.isfile(path):  # a directory, a FIFO, a device: reading it could wait or never end
        return _with_warning(_embedded(), f"ignored the refreshed catalog {path}: not a regular file")
    cache_date, made_from = _cache_head(path)
    if made_from is not None and made_from != embedded_id():
        if cache_date is not None and cache_date <= (_embedded_date() or ""):
            return _embedded()  # this torchup's own data is as new: nothing is lost
        # learnt on top of another torchup's snapshot: the facts this one ships (sources,
        # corrections, new builds) would be hidden behind it
        return _with_warning(
            _embedded(),
            f"ignored the refreshed catalog {path}: it was made on top of another torchup's catalog; "
            "run 'torchup catalog refresh' to learn the newest releases again",
        )
    try:
        cached = _read_cache(path)
    except InputError as err:
        return _with_warning(_embedded(), f"ignored the refreshed catalog {path}: {err.message}")
    embedded_date = _embedded_date()
    if embedded_date is not None and cached.data_date >= embedded_date:
        return cached  # parsed once: the embedded snapshot is not needed
    embedded = _embedded()
    if cached.data_date < embedded.data_date:
        return embedded  # this torchup ships newer data than the old refresh
    return cached


def cache_text(catalog: Catalog) -> str:
    """The refreshed cache's file text: the compact JSON, with ``made_from`` (``embedded_id``) right
    after ``format`` and ``data_date``, where ``load_catalog`` reads it without parsing the rest."""
    data = catalog_to_dict(catalog)
    head = {"format": data.pop("format"), "data_date": data.pop("data_date"), "made_from": embedded_id()}
    return json.dumps({**head, **data}, separators=(",", ":")) + "\n"


@lru_cache(maxsize=1)
def embedded_id() -> str:
    """Which embedded catalog this is (``length:crc32`` of its JSON): a refresh records it in
    the cache (``made_from``), so a torchup with other embedded facts does not take that cache."""
    import zlib

    try:
        with open(_EMBEDDED, "rb") as fh:
            data = fh.read()
    except OSError:
        return "unreadable"
    return f"{len(data)}:{zlib.crc32(data):08x}"


def _cache_head(path) -> tuple[str | None, str | None]:
    """``(data_date, made_from)`` from the head of a refreshed cache (``cache_text`` writes them
    first); ``made_from`` is ``"none"`` for a cache written before torchup recorded it."""
    import re

    try:
        with open(path, "rb") as fh:
            head = fh.read(256).decode("utf-8", "replace")
    except OSError:
        return None, None
    m = re.match(
        r'\{\s*"format"\s*:\s*\d+\s*,\s*"data_date"\s*:\s*"([^"]{1,32})"(?:\s*,\s*"made_from"\s*:\s*"([^"]{1,64})")?',
        head,
    )
    if m is None:
        return None, None  # not written by a refresh: the full read judges it
    return m.group(1), m.group(2) or "none"


def _embedded() -> Catalog:
    """The embedded catalog: from its marshal snapshot (about a millisecond) when that was made
    from the JSON beside it, else from the JSON (catalog/snapshot.py)."""
    from torchup.catalog.snapshot import read_snapshot

    return read_snapshot(_EMBEDDED, max_bytes=MAX_BYTES) or read_catalog_file(embedded_path(), origin="embedded")


def _embedded_date() -> str | None:
    """The embedded snapshot's data_date, read from its first bytes (the build
    script writes ``format`` and ``data_date`` first); None if not found there."""
    import re

    try:
        with open(_EMBEDDED, "rb") as fh:
            head = fh.read(256).decode("utf-8", "replace")
    except OSError:
        return None
    m = re.match(r'\{"format":\d+,"data_date":"(\d{4}-\d\d-\d\d)"', head)
    return m.group(1) if m else None


def _with_warning(catalog: Catalog, warning: str) -> Catalog:
    from torchup.record import replace

    return replace(catalog, warnings=(*catalog.warnings, warning))


def read_catalog_file(path: str | Path, *, origin: str | None = None) -> Catalog:
    """Parse one catalog file; ``InputError`` when it is unreadable, malformed or beyond the
    limits (``MAX_*``: a refreshed cache is rewritten by hand or damaged, never trusted)."""
    return _parse_catalog(path, _read_limited(path), origin=origin)


def keep_snapshot(path: str | Path, *, quiet: bool = False) -> Catalog:
    """Parse the refreshed cache ``path`` and write its marshal snapshot beside it, so that the
    next load takes about a millisecond instead of parsing the JSON (catalog/snapshot.py).
    ``InputError`` when the JSON cannot be read; ``OSError`` when the snapshot cannot be
    written, unless ``quiet`` (a read-only directory: the catalog is the same without it)."""
    from torchup.catalog.snapshot import write_snapshot

    raw = _read_limited(path)
    catalog = _parse_catalog(path, raw, origin=str(path))
    try:
        write_snapshot(path, catalog, raw)  # of these very bytes: a later change to the JSON voids it
    except OSError:
        if not quiet:
            raise
    return catalog


def _read_cache(path: str | Path) -> Catalog:
    """The refreshed cache: from its snapshot when that was made from this very JSON, else from
    the JSON, writing the snapshot for the next time."""
    from torchup.catalog.snapshot import read_snapshot

    return read_snapshot(path, max_bytes=MAX_BYTES, origin=str(path)) or keep_snapshot(path, quiet=True)


def _read_limited(path: str | Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read catalog {path}: {exc}") from None
    if len(raw) > MAX_BYTES:
        raise InputError(f"cannot read catalog {path}: over {MAX_BYTES >> 20} MB")
    return raw


def _parse_catalog(path: str | Path, raw: bytes, *, origin: str | None) -> Catalog:
    try:
        text = raw.decode("utf-8")
        # the embedded snapshot ships with torchup and is tested: only other files pay for the checks
        data = json.loads(text) if os.fspath(path) == _EMBEDDED else boundedjson.loads(text, max_depth=MAX_DEPTH)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read catalog {path}: {exc}") from None
    return catalog_from_dict(data, origin=origin or str(path))


# --- the compact JSON form ----------------------------------------------------


_OPTIONAL_TEXT = (
    "released",
    "requires_python",
    "glibc_min",
    "macos_min",
    "local_label",
    "index_suffix",
    "cuda",
    "rocm",
    "cudnn",
)


class _Decoder:
    """Builds the dataclasses, sharing equal Wheel / Provenance objects (speed, memory)."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self._wheels: dict[tuple[str, str], Wheel] = {}
        self._wheel_sets: dict[str, tuple[Wheel, ...]] = {}
        self._provs: dict[str, Provenance] = {}
        self._prov_maps: dict[tuple, dict[str, Provenance]] = {}

    def prov(self, text: str) -> Provenance:
        p = self._provs.get(text)
        if p is None:
            if text.startswith("?"):
                p = Provenance(source=text[1:], confidence=UNCONFIRMED)
            else:
                p = Provenance(source=text, confidence=CONFIRMED)
            self._provs[text] = p
        return p

    def provs(self, raw: Mapping[str, str] | None) -> Mapping[str, Provenance]:
        key = tuple((raw or {}).items())
        got = self._prov_maps.get(key)
        if got is None:  # equal maps are shared: they are never mutated
            got = self._prov_maps[key] = {k: self.prov(v) for k, v in key}
        return got

    def wheels(self, raw: Mapping[str, list[str]] | None) -> tuple[Wheel, ...]:
        key = repr(raw)
        got = self._wheel_sets.get(key)
        if got is None:
            got = self._wheel_sets[key] = self._make_wheels(raw)
        return got

    def _make_wheels(self, raw: Mapping[str, list[str]] | None) -> tuple[Wheel, ...]:
        out = []
        for platform, pys in (raw or {}).items():
            for py in pys:
                w = self._wheels.get((platform, py))
                if w is None:
                    interp, _, abi = py.partition("/")
                    w = Wheel(python=interp, abi=abi or interp, platform=platform)
                    self._wheels[(platform, py)] = w
                out.append(w)
        return tuple(out)

    def build(self, version: str, released: str | None, rp: str | None, b: Mapping[str, Any]) -> Build:
        fields = {
            "torch": version,
            "variant": b["variant"],
            "os": b["os"],
            "arch": b["arch"],
            "wheels": self.wheels(b.get("wheels")),
            "released": b.get("released", released),
            "requires_python": b.get("requires_python", rp),
            "glibc_min": b.get("glibc_min"),
            "macos_min": b.get("macos_min"),
            "pypi_default": bool(b.get("pypi_default", False)),
            "local_label": b.get("local_label"),
            "index_suffix": b.get("index_suffix"),
            "cuda": b.get("cuda"),
            "rocm": b.get("rocm"),
            "cudnn": b.get("cudnn"),
            "sass": tuple(b.get("sass", ())),
            "ptx": tuple(b.get("ptx", ())),
            "arch_specific": tuple(b.get("arch_specific", ())),
            "gfx": tuple(b.get("gfx", ())),
            "notes": tuple(b.get("notes", ())),
            "provenance": self.provs(b.get("prov")),
        }
        for key in ("variant", "os", "arch"):
            if not isinstance(fields[key], str):
                raise TypeError(f"{key} is not a string")
        for key in _OPTIONAL_TEXT:  # compared and parsed as versions later: a number here would be a crash there
            if fields[key] is not None and not isinstance(fields[key], str):
                raise TypeError(f"{key} is not a string")
        for key in ("sass", "ptx", "arch_specific"):  # sorted and compared as numbers later
            bad = next((cc for cc in fields[key] if not _is_compute_capability(cc)), None)
            if bad is not None:
                raise ValueError(f"{key} holds {bad!r}, not a compute capability like '8.6'")
        # Every field is given, so the dataclass __init__ (one frozen setattr per
        # field) is skipped: this halves the load time of the snapshot.
        build = object.__new__(Build)
        build.__dict__.update(fields)
        return build

    def companion(self, c: Mapping[str, Any]) -> Companion:
        return Companion(
            name=c["name"],
            version=c.get("version"),
            matched=bool(c.get("matched", False)),
            pythons=tuple(c.get("pythons", ())),
            requires_torch=c.get("requires_torch"),
            note=c.get("note"),
            provenance=self.prov(c.get("prov", "?unknown")),
        )

    def release(self, r: Mapping[str, Any]) -> Release:
        version = r["version"]
        if not isinstance(version, str):
            raise TypeError("version is not a string")
        released = r.get("released")
        rp = r.get("requires_python")
        return Release(
            version=version,
            released=released,
            requires_python=rp,
            builds=tuple(self.build(version, released, rp, b) for b in r.get("builds", ())),
            companions=tuple(self.companion(c) for c in r.get("companions", ())),
            notes=tuple(r.get("notes", ())),
            provenance=self.provs(r.get("prov")),
        )


def _is_compute_capability(value: Any) -> bool:
    """``"8.6"``, ``"9.0a"``, ``"12.0f"``: ASCII digits, a dot, digits, an optional family letter."""
    if not isinstance(value, str) or not value.isascii():
        return False
    major, dot, minor = (value[:-1] if value.endswith(("a", "f")) else value).partition(".")
    return bool(dot) and major.isdigit() and minor.isdigit() and len(value) <= 8


def catalog_from_dict(data: Any, *, origin: str = "embedded") -> Catalog:
    """Decode the compact JSON form; ``InputError`` naming the bad part when malformed."""
    if not isinstance(data, dict):
        raise InputError(f"catalog {origin}: the top level is not an object")
    if data.get("format") != CATALOG_FORMAT:
        raise InputError(
            f"catalog {origin}: format {data.get('format')!r} is not the one this torchup reads ({CATALOG_FORMAT})",
            hint="run `torchup catalog refresh` again",
        )
    if not isinstance(data.get("data_date"), str) or not isinstance(data.get("releases"), list) or not data["releases"]:
        raise InputError(f"catalog {origin}: data_date or releases missing")
    dec = _Decoder(origin)
    releases = []
    for i, raw in enumerate(data["releases"]):
        try:
            releases.append(dec.release(raw))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise InputError(f"catalog {origin}: releases[{i}] is malformed ({type(exc).__name__}: {exc})") from None
    from torchup.catalog.model import version_tuple

    releases.sort(key=lambda r: version_tuple(r.version))
    sources = data.get("sources") or {}
    if not isinstance(sources, dict):
        raise InputError(f"catalog {origin}: sources is not an object")
    platforms = []
    for i, raw in enumerate(data.get("platforms") or ()):
        try:
            platforms.append(
                PlatformNote(os=raw["os"], arch=raw["arch"], note=raw["note"], provenance=dec.prov(raw["prov"]))
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise InputError(f"catalog {origin}: platforms[{i}] is malformed ({type(exc).__name__}: {exc})") from None
    return Catalog(
        releases=tuple(releases),
        data_date=data["data_date"],
        origin=origin,
        sources=dict(sources),
        format=CATALOG_FORMAT,
        platforms=tuple(platforms),
    )


def _prov_text(p: Provenance) -> str:
    return p.source if p.confidence == CONFIRMED else "?" + p.source


def _wheels_dict(wheels: tuple[Wheel, ...]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for w in wheels:
        out.setdefault(w.platform, []).append(w.python if w.abi == w.python else f"{w.python}/{w.abi}")
    return out


def catalog_to_dict(catalog: Catalog) -> dict[str, Any]:
    """The compact JSON form (the inverse of ``catalog_from_dict``)."""

    def compact(d: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if v not in (None, False, (), [], {}, "")}

    releases = []
    for rel in catalog.releases:
        builds = []
        for b in rel.builds:
            builds.append(
                compact(
                    {
                        "variant": b.variant,
                        "os": b.os,
                        "arch": b.arch,
                        "wheels": _wheels_dict(b.wheels),
                        "released": b.released if b.released != rel.released else None,
                        "requires_python": b.requires_python if b.requires_python != rel.requires_python else None,
                        "glibc_min": b.glibc_min,
                        "macos_min": b.macos_min,
                        "pypi_default": b.pypi_default,
                        "local_label": b.local_label,
                        "index_suffix": b.index_suffix,
                        "cuda": b.cuda,
                        "rocm": b.rocm,
                        "cudnn": b.cudnn,
                        "sass": list(b.sass),
                        "ptx": list(b.ptx),
                        "arch_specific": list(b.arch_specific),
                        "gfx": list(b.gfx),
                        "notes": list(b.notes),
                        "prov": {k: _prov_text(v) for k, v in b.provenance.items()},
                    }
                )
            )
        comps = [
            compact(
                {
                    "name": c.name,
                    "version": c.version,
                    "matched": c.matched,
                    "pythons": list(c.pythons),
                    "requires_torch": c.requires_torch,
                    "note": c.note,
                    "prov": _prov_text(c.provenance),
                }
            )
            for c in rel.companions
        ]
        releases.append(
            compact(
                {
                    "version": rel.version,
                    "released": rel.released,
                    "requires_python": rel.requires_python,
                    "notes": list(rel.notes),
                    "prov": {k: _prov_text(v) for k, v in rel.provenance.items()},
                    "companions": comps,
                    "builds": builds,
                }
            )
        )
    out: dict[str, Any] = {
        "format": CATALOG_FORMAT,
        "data_date": catalog.data_date,
        "sources": dict(catalog.sources),
        "releases": releases,
    }
    if catalog.platforms:
        out["platforms"] = [
            {"os": p.os, "arch": p.arch, "note": p.note, "prov": _prov_text(p.provenance)} for p in catalog.platforms
        ]
    return out
