"""The marshal snapshot of the embedded catalog says exactly what catalog.json says,
and is not used when it was made from other JSON or cannot be read."""

import shutil

import pytest

from torchup.catalog.load import MAX_BYTES, embedded_path, load_catalog, read_catalog_file
from torchup.catalog.snapshot import catalog_from_snapshot, read_snapshot, snapshot_bytes, snapshot_path


def test_the_shipped_snapshot_agrees_with_the_sourced_json():
    from_json = read_catalog_file(embedded_path(), origin="embedded")
    from_snapshot = read_snapshot(embedded_path(), max_bytes=MAX_BYTES)
    assert from_snapshot is not None, "catalog.marshal is missing or stale: run scripts/build_catalog_snapshot.py"
    assert from_snapshot == from_json
    assert [b.__dict__ for r in from_snapshot.releases for b in r.builds] == [
        b.__dict__ for r in from_json.releases for b in r.builds
    ]
    assert load_catalog({}, use_cache=False) == from_json


@pytest.fixture
def copies(tmp_path):
    json_path = tmp_path / "catalog.json"
    shutil.copy(embedded_path(), json_path)
    shutil.copy(snapshot_path(embedded_path()), snapshot_path(json_path))
    return json_path


def test_a_snapshot_of_other_json_is_not_used(copies):
    assert read_snapshot(copies, max_bytes=MAX_BYTES) is not None
    copies.write_bytes(copies.read_bytes().replace(b'"2.5.1"', b'"2.5.9"', 1))  # edited, snapshot not rebuilt
    assert read_snapshot(copies, max_bytes=MAX_BYTES) is None


@pytest.mark.parametrize("damage", [b"", b"\x00garbage", b"\xe3" + b"\x00" * 40], ids=["empty", "garbage", "truncated"])
def test_an_unreadable_snapshot_is_not_used(copies, damage):
    snapshot_path(copies).write_bytes(damage)
    assert read_snapshot(copies, max_bytes=MAX_BYTES) is None


def test_a_missing_snapshot_is_not_used(copies):
    snapshot_path(copies).unlink()
    assert read_snapshot(copies, max_bytes=MAX_BYTES) is None


def test_a_snapshot_round_trips_any_catalog(copies):
    json_bytes = copies.read_bytes()
    catalog = read_catalog_file(copies, origin="embedded")
    again = catalog_from_snapshot(snapshot_bytes(catalog, json_bytes), json_bytes=json_bytes)
    assert again == catalog
    assert catalog_from_snapshot(snapshot_bytes(catalog, json_bytes), json_bytes=json_bytes + b" ") is None


def test_damaged_bytes_are_passed_over_before_marshal_reads_them(copies, monkeypatch):
    import marshal

    data = bytearray(snapshot_path(copies).read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of the payload
    snapshot_path(copies).write_bytes(bytes(data))

    def never(*args):
        raise AssertionError("marshal read damaged bytes")

    monkeypatch.setattr(marshal, "loads", never)
    assert read_snapshot(copies, max_bytes=MAX_BYTES) is None
    monkeypatch.undo()
    data[len(data) // 2] ^= 0x01
    snapshot_path(copies).write_bytes(bytes(data))
    assert read_snapshot(copies, max_bytes=MAX_BYTES) is not None


def test_a_snapshot_made_when_builds_had_other_fields_is_not_used(copies):
    # a refreshed cache outlives an upgrade of torchup: its builds' values must fit this Build
    import marshal
    import zlib

    from torchup.catalog import snapshot

    json_bytes = copies.read_bytes()
    catalog = read_catalog_file(copies, origin="embedded")
    head = len(snapshot._MAGIC) + 4
    top = list(marshal.loads(snapshot_bytes(catalog, json_bytes)[head:]))
    layout = list(top[0])
    layout[1] = (*layout[1], "gone_since")  # the same data, as a torchup with one more build field wrote it
    top[0] = tuple(layout)
    payload = marshal.dumps(tuple(top), 4)
    older = snapshot._MAGIC + zlib.crc32(payload).to_bytes(4, "little") + payload
    assert catalog_from_snapshot(older, json_bytes=json_bytes) is None
    assert catalog_from_snapshot(snapshot_bytes(catalog, json_bytes), json_bytes=json_bytes) == catalog


def _resealed(top):
    import marshal
    import zlib

    from torchup.catalog import snapshot

    payload = marshal.dumps(tuple(top), 4)
    return snapshot._MAGIC + zlib.crc32(payload).to_bytes(4, "little") + payload


def _top(catalog, json_bytes):
    import marshal

    from torchup.catalog import snapshot

    return list(marshal.loads(snapshot_bytes(catalog, json_bytes)[len(snapshot._MAGIC) + 4 :]))


def test_the_header_names_the_fields_of_every_record_it_stores(copies):
    # a torchup whose releases (or companions, wheels...) had another field writes another header,
    # even where its builds did not change
    from torchup.catalog import snapshot
    from torchup.catalog.model import Companion, PlatformNote, Provenance, Release, Wheel
    from torchup.record import fields

    json_bytes = copies.read_bytes()
    catalog = read_catalog_file(copies, origin="embedded")
    layout = _top(catalog, json_bytes)[0]
    for cls in (Release, Companion, PlatformNote, Wheel, Provenance):
        assert fields(cls) in layout[2:]
    for at in range(2, len(layout)):
        top = _top(catalog, json_bytes)
        changed = list(layout)
        changed[at] = (*changed[at], "added_later")
        top[0] = tuple(changed)
        assert catalog_from_snapshot(_resealed(top), json_bytes=json_bytes) is None
    assert layout[0] == snapshot.SNAPSHOT_FORMAT


def test_a_snapshot_whose_tuples_do_not_fit_its_header_is_passed_over(copies, tmp_path):
    # the header matches, the releases have one more item (a layout change nobody announced):
    # the catalog is read from the JSON, no command fails
    json_bytes = copies.read_bytes()
    catalog = read_catalog_file(copies, origin="embedded")
    for damage in ("release", "wheel_set", "platform"):
        top = _top(catalog, json_bytes)
        if damage == "release":
            top[9] = tuple((*r, "extra") for r in top[9])
        elif damage == "wheel_set":
            top[8] = tuple((10**6,) for _ in top[8])  # indexes past the wheel table
        else:
            top[10] = tuple(p[:2] for p in top[10])
        assert catalog_from_snapshot(_resealed(top), json_bytes=json_bytes) is None, damage
        snapshot_path(copies).write_bytes(_resealed(top))
        assert read_snapshot(copies, max_bytes=MAX_BYTES) is None


def test_a_refreshed_cache_with_a_snapshot_that_does_not_fit_loads_from_its_json(tmp_path):
    env, cache_json = _refreshed_cache(tmp_path)
    first = load_catalog(env)  # writes the snapshot
    json_bytes = cache_json.read_bytes()
    top = _top(first, json_bytes)
    top[9] = tuple((*r, "extra") for r in top[9])
    snapshot_path(cache_json).write_bytes(_resealed(top))
    assert load_catalog(env) == first


def test_files_over_the_limit_or_not_regular_are_not_read(copies, tmp_path):
    import os

    size = copies.stat().st_size
    assert read_snapshot(copies, max_bytes=size) is not None
    assert read_snapshot(copies, max_bytes=size - 1) is None  # the JSON is over the limit
    assert read_snapshot(copies, max_bytes=snapshot_path(copies).stat().st_size - 1) is None  # the snapshot is
    fifo = tmp_path / "fifo" / "catalog.json"
    fifo.parent.mkdir()
    shutil.copy(snapshot_path(copies), snapshot_path(fifo))
    os.mkfifo(fifo)  # nobody writes: reading it would wait for ever
    assert read_snapshot(fifo, max_bytes=MAX_BYTES) is None


def _refreshed_cache(tmp_path):
    """A cache as a refresh leaves it, newer than the embedded data, without its snapshot yet
    (written by a torchup from before snapshots, or the snapshot was deleted)."""
    from torchup.catalog.load import cache_text

    catalog = load_catalog({}, use_cache=False)
    text = cache_text(catalog).replace(f'"data_date":"{catalog.data_date}"', '"data_date":"2999-01-01"', 1)
    (tmp_path / "catalog.json").write_text(text)
    return {"TORCHUP_CACHE_DIR": str(tmp_path)}, tmp_path / "catalog.json"


def test_a_refreshed_cache_is_parsed_once_then_read_from_its_snapshot(tmp_path, monkeypatch):
    from torchup import boundedjson

    env, cache_json = _refreshed_cache(tmp_path)
    first = load_catalog(env)
    assert first.data_date == "2999-01-01" and first.origin == str(cache_json)
    assert snapshot_path(cache_json).exists()

    def never(*args, **kwargs):
        raise AssertionError("the cache's JSON was parsed again")

    monkeypatch.setattr(boundedjson, "loads", never)
    assert load_catalog(env) == first == read_snapshot(cache_json, max_bytes=MAX_BYTES, origin=str(cache_json))
    monkeypatch.undo()
    # the JSON changed after (edited by hand): its snapshot no longer counts, and is made again
    cache_json.write_text(cache_json.read_text().replace('"2999-01-01"', '"2999-02-02"', 1))
    assert read_snapshot(cache_json, max_bytes=MAX_BYTES) is None
    assert load_catalog(env).data_date == "2999-02-02"  # parsed, and its snapshot written again
    assert read_snapshot(cache_json, max_bytes=MAX_BYTES).data_date == "2999-02-02"


def test_a_cache_whose_snapshot_cannot_be_written_still_loads(tmp_path):
    env, cache_json = _refreshed_cache(tmp_path)
    snapshot_path(cache_json).mkdir()  # in the way, for root too (a read-only directory is not, for root)
    assert load_catalog(env).data_date == "2999-01-01"
    assert load_catalog(env).data_date == "2999-01-01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalog.json", "catalog.marshal"]  # no temporary left
    assert snapshot_path(cache_json).is_dir()


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_refreshed_cache_that_is_not_a_regular_file_is_named_and_passed_over(tmp_path, kind):
    import os

    cache_json = tmp_path / "catalog.json"
    if kind == "fifo":
        os.mkfifo(cache_json)  # nobody writes: a read would wait for ever
    else:
        cache_json.mkdir()
    catalog = load_catalog({"TORCHUP_CACHE_DIR": str(tmp_path)})
    assert catalog.origin == "embedded"
    assert catalog.warnings == (f"ignored the refreshed catalog {cache_json}: not a regular file",)


@pytest.mark.parametrize("arch", [["abc"], ["8.6", 8.9], ["\u0668.\u0666"], ["8.6aa"]])
def test_a_refreshed_cache_with_an_arch_list_that_is_not_compute_capabilities_is_ignored(tmp_path, arch):
    # sass ["abc"] in a cache (rewritten by hand) made `matrix --gpu` an internal error (a sweep, 2026-12-04)
    import json

    from torchup.catalog.load import cache_text

    catalog = load_catalog({}, use_cache=False)
    data = json.loads(cache_text(catalog).replace(f'"data_date":"{catalog.data_date}"', '"data_date":"2999-01-01"', 1))
    next(b for r in data["releases"] for b in r["builds"] if b.get("sass"))["sass"] = arch
    (tmp_path / "catalog.json").write_text(json.dumps(data))
    loaded = load_catalog({"TORCHUP_CACHE_DIR": str(tmp_path)})
    assert loaded.origin == "embedded" and "not a compute capability" in loaded.warnings[0], loaded.warnings
