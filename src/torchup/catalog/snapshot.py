"""The embedded catalog in the form that loads fastest: ``data/catalog.marshal``.

``data/catalog.json`` is the sourced data (docs/catalog.md; ``scripts/build_catalog.py``
writes it).  Parsing its 170 KB and building the objects costs several milliseconds on
every ``plan``; this file holds the same catalog already decoded into plain tuples and
dicts (``marshal``, the format of the standard library's own ``.pyc`` files), shared
wheels and provenances stored once, so loading is one ``marshal.loads`` and one object
per build.  It records the size and CRC-32 of the ``catalog.json`` it was made from:
when they differ (the JSON was edited and this file not rebuilt), or the file is missing
or unreadable by this Python, torchup reads the JSON instead.  Rebuild it with
``python scripts/build_catalog_snapshot.py`` (``build_catalog.py`` does it too);
tests/test_catalog_snapshot.py proves it agrees with the JSON.

A refreshed catalog in the user's cache directory gets the same: ``catalog.marshal`` beside
its ``catalog.json``, written by the refresh (and by the first load that finds it missing or
stale), so that a refresh does not make every later ``plan`` parse the JSON again (~30 ms).
Such a file is the user's, not shipped and tested: its bytes carry a CRC-32 of their own,
checked before ``marshal`` reads them, so a damaged file is passed over, never loaded.
"""

from __future__ import annotations

import marshal
import os
import stat
import zlib

from torchup.catalog.model import Build, Catalog, Companion, PlatformNote, Provenance, Release, Wheel
from torchup.record import fields

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

__all__ = [
    "SNAPSHOT_FORMAT",
    "catalog_from_snapshot",
    "read_snapshot",
    "snapshot_bytes",
    "snapshot_path",
    "write_snapshot",
]

SNAPSHOT_FORMAT = 4  # 2: the platform notes; 3: the header with the CRC-32 of the marshal bytes;
# 4: the layout names the fields of every record class stored, not only Build's
_MAGIC = b"torchup-catalog\n"  # then the CRC-32 of the rest (4 bytes, little-endian), then marshal
_BUILD_REFS = ("wheels", "provenance")  # stored as indexes into the shared tables


def _layout() -> tuple:
    """What a snapshot's tuples and dicts mean: the format and the fields of each record class
    it stores.  A refreshed cache outlives an upgrade of torchup; a snapshot written by one whose
    classes had other fields is not read (its tuples would unpack wrongly, or a build lack one)."""
    return (SNAPSHOT_FORMAT, *(fields(c) for c in (Build, Release, Companion, PlatformNote, Wheel, Provenance)))


def snapshot_path(json_path: Path) -> Path:
    return json_path.with_suffix(".marshal")


def _source_id(json_bytes: bytes) -> tuple[int, int]:
    return len(json_bytes), zlib.crc32(json_bytes)


class _Tables:
    def __init__(self) -> None:
        self.index: dict[Any, int] = {}
        self.items: list[Any] = []

    def add(self, item: Any) -> int:
        at = self.index.get(item)
        if at is None:
            at = self.index[item] = len(self.items)
            self.items.append(item)
        return at


def snapshot_bytes(catalog: Catalog, json_bytes: bytes) -> bytes:
    """The snapshot of ``catalog``, made from the JSON file whose bytes are ``json_bytes``."""
    provs, prov_maps, wheels, wheel_sets = _Tables(), _Tables(), _Tables(), _Tables()

    def prov_map(mapping) -> int:
        return prov_maps.add(tuple((k, provs.add((p.source, p.confidence))) for k, p in mapping.items()))

    releases = []
    for rel in catalog.releases:
        builds = []
        for b in rel.builds:
            values = {name: getattr(b, name) for name in fields(Build) if name not in _BUILD_REFS}
            values["wheels"] = wheel_sets.add(tuple(wheels.add((w.python, w.abi, w.platform)) for w in b.wheels))
            values["provenance"] = prov_map(b.provenance)
            builds.append(values)
        companions = tuple(
            (
                c.name,
                c.version,
                c.matched,
                c.pythons,
                c.requires_torch,
                c.note,
                provs.add((c.provenance.source, c.provenance.confidence)),
            )
            for c in rel.companions
        )
        releases.append(
            (
                rel.version,
                rel.released,
                rel.requires_python,
                rel.notes,
                prov_map(rel.provenance),
                companions,
                tuple(builds),
            )
        )
    platforms = tuple(
        (p.os, p.arch, p.note, provs.add((p.provenance.source, p.provenance.confidence))) for p in catalog.platforms
    )
    data = (
        _layout(),
        _source_id(json_bytes),
        catalog.data_date,
        catalog.format,
        tuple(catalog.sources.items()),
        tuple(provs.items),
        tuple(prov_maps.items),
        tuple(wheels.items),
        tuple(wheel_sets.items),
        tuple(releases),
        platforms,
    )
    payload = marshal.dumps(_shared(data, {}), 4)
    return _MAGIC + zlib.crc32(payload).to_bytes(4, "little") + payload


def _shared(value: Any, seen: dict) -> Any:
    """``value`` with every equal string, number and tuple in it made one object: marshal writes
    an object met twice once and refers to it after, so loading makes one object where the JSON
    repeated a value (a version, a variant, a list of architectures) hundreds of times."""
    if isinstance(value, dict):
        return {_shared(k, seen): _shared(v, seen) for k, v in value.items()}
    if isinstance(value, tuple):
        value = tuple(_shared(v, seen) for v in value)
    elif isinstance(value, list):
        return [_shared(v, seen) for v in value]
    try:
        return seen.setdefault((type(value), value), value)
    except TypeError:  # unhashable (a tuple holding a dict): kept as it is
        return value


def catalog_from_snapshot(data: bytes, *, json_bytes: bytes | None = None, origin: str = "embedded") -> Catalog | None:
    """The catalog in ``data``; ``None`` when it is not a snapshot this torchup reads, or was
    made from other JSON than ``json_bytes`` (when given)."""
    head = len(_MAGIC) + 4
    if data[: len(_MAGIC)] != _MAGIC or data[len(_MAGIC) : head] != zlib.crc32(data[head:]).to_bytes(4, "little"):
        return None  # not a snapshot, an older format, or damaged bytes: marshal never sees them
    try:
        top = marshal.loads(data[head:])
        fmt, source, data_date, catalog_format, sources, provs, prov_maps, wheels, wheel_sets, releases, platforms = top
        # a build's values become its __dict__: a snapshot made by a torchup whose records had
        # other fields (a refreshed cache outlives an upgrade) would make builds without an attribute
        if fmt != _layout() or (json_bytes is not None and tuple(source) != _source_id(json_bytes)):
            return None
        return _decode(
            data_date, catalog_format, sources, provs, prov_maps, wheels, wheel_sets, releases, platforms, origin
        )
    except (ValueError, EOFError, TypeError, KeyError, IndexError):  # a layout its header did not announce
        return None


def _decode(data_date, catalog_format, sources, provs, prov_maps, wheels, wheel_sets, releases, platforms, origin):
    prov_objs = [Provenance(source=s, confidence=c) for s, c in provs]
    map_objs = [{k: prov_objs[i] for k, i in pairs} for pairs in prov_maps]
    wheel_objs = [Wheel(python=p, abi=a, platform=pl) for p, a, pl in wheels]
    set_objs = [tuple(wheel_objs[i] for i in ids) for ids in wheel_sets]
    new, set_dict = object.__new__, object.__setattr__
    out = []
    for version, released, rp, notes, prov, companions, builds in releases:
        made = []
        for values in builds:
            # every field is in ``values``, a dict of its own: it becomes the record's ``__dict__``
            # (its __init__, one checked setattr per field, and a copy of the dict are skipped)
            values["wheels"] = set_objs[values["wheels"]]
            values["provenance"] = map_objs[values["provenance"]]
            build = new(Build)
            set_dict(build, "__dict__", values)
            made.append(build)
        out.append(
            Release(
                version=version,
                released=released,
                requires_python=rp,
                builds=tuple(made),
                companions=tuple(
                    Companion(
                        name=n, version=v, matched=m, pythons=py, requires_torch=rt, note=note, provenance=prov_objs[p]
                    )
                    for n, v, m, py, rt, note, p in companions
                ),
                notes=notes,
                provenance=map_objs[prov],
            )
        )
    return Catalog(
        releases=tuple(out),
        data_date=data_date,
        origin=origin,
        sources=dict(sources),
        format=catalog_format,
        platforms=tuple(
            PlatformNote(os=os_, arch=arch, note=note, provenance=prov_objs[p]) for os_, arch, note, p in platforms
        ),
    )


def read_snapshot(json_path: str | Path, *, max_bytes: int, origin: str = "embedded") -> Catalog | None:
    """The snapshot beside ``json_path`` when it was made from that very file; else ``None``.
    Either file over ``max_bytes``, or not a regular file (a FIFO, a device), gives ``None``
    unread: the JSON's own reading then applies its limits and says what is wrong."""
    json_file = os.fspath(json_path)
    data = _read_regular(os.path.splitext(json_file)[0] + ".marshal", max_bytes)
    if data is None:
        return None
    json_bytes = _read_regular(json_file, max_bytes)
    if json_bytes is None:
        return None
    return catalog_from_snapshot(data, json_bytes=json_bytes, origin=origin)


def _read_regular(path: str, max_bytes: int) -> bytes | None:
    try:
        # O_NONBLOCK: opening a FIFO nobody writes to returns at once (then fstat turns it down)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with open(fd, "rb") as fh:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size > max_bytes:
                return None
            data = fh.read(max_bytes + 1)
    except OSError:
        return None
    return data if len(data) <= max_bytes else None


def write_snapshot(json_path: str | Path, catalog: Catalog, json_bytes: bytes) -> str:
    """Write the snapshot of ``catalog`` (parsed from ``json_bytes``, the bytes of ``json_path``)
    beside that file, whole or not at all; returns its path.  ``OSError`` when it cannot."""
    from torchup.cache import write_atomic

    out = os.path.splitext(os.fspath(json_path))[0] + ".marshal"
    write_atomic(out, snapshot_bytes(catalog, json_bytes))
    return out
