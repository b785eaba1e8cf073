"""The marshal snapshot of the embedded catalog says exactly what catalog.json says,
and is not used when it was made from other JSON or cannot be read."""

import shutil

import pytest

from torchup.catalog.load import embedded_path, load_catalog, read_catalog_file
from torchup.catalog.snapshot import catalog_from_snapshot, read_snapshot, snapshot_bytes, snapshot_path


def test_the_shipped_snapshot_agrees_with_the_sourced_json():
    from_json = read_catalog_file(embedded_path(), origin="embedded")
    from_snapshot = read_snapshot(embedded_path())
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
    assert read_snapshot(copies) is not None
    copies.write_bytes(copies.read_bytes().replace(b'"2.5.1"', b'"2.5.9"', 1))  # edited, snapshot not rebuilt
    assert read_snapshot(copies) is None


@pytest.mark.parametrize("damage", [b"", b"\x00garbage", b"\xe3" + b"\x00" * 40], ids=["empty", "garbage", "truncated"])
def test_an_unreadable_snapshot_is_not_used(copies, damage):
    snapshot_path(copies).write_bytes(damage)
    assert read_snapshot(copies) is None


def test_a_missing_snapshot_is_not_used(copies):
    snapshot_path(copies).unlink()
    assert read_snapshot(copies) is None


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
    assert read_snapshot(copies) is None
    monkeypatch.undo()
    data[len(data) // 2] ^= 0x01
    snapshot_path(copies).write_bytes(bytes(data))
    assert read_snapshot(copies) is not None


def test_a_snapshot_made_when_builds_had_other_fields_is_not_used(copies):
    # a refreshed cache outlives an upgrade of torchup: its builds' values must fit this Build
    import marshal
    import zlib

    from torchup.catalog import snapshot

    json_bytes = copies.read_bytes()
    catalog = read_catalog_file(copies, origin="embedded")
    head = len(snapshot._MAGIC) + 4
    top = list(marshal.loads(snapshot_bytes(catalog, json_bytes)[head:]))
    fmt, names = top[0]
    top[0] = (fmt, (*names, "gone_since"))  # the same data, as a torchup with one more build field wrote it
    payload = marshal.dumps(tuple(top), 4)
    older = snapshot._MAGIC + zlib.crc32(payload).to_bytes(4, "little") + payload
    assert catalog_from_snapshot(older, json_bytes=json_bytes) is None
    assert catalog_from_snapshot(snapshot_bytes(catalog, json_bytes), json_bytes=json_bytes) == catalog


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
    assert load_catalog(env) == first == read_snapshot(cache_json, origin=str(cache_json))
    monkeypatch.undo()
    # the JSON changed after (edited by hand): its snapshot no longer counts, and is made again
    cache_json.write_text(cache_json.read_text().replace('"2999-01-01"', '"2999-02-02"', 1))
    assert read_snapshot(cache_json) is None
    assert load_catalog(env).data_date == "2999-02-02" and read_snapshot(cache_json).data_date == "2999-02-02"


def test_a_cache_whose_snapshot_cannot_be_written_still_loads(tmp_path):
    env, cache_json = _refreshed_cache(tmp_path)
    snapshot_path(cache_json).mkdir()  # in the way, for root too (a read-only directory is not, for root)
    assert load_catalog(env).data_date == "2999-01-01"
    assert load_catalog(env).data_date == "2999-01-01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalog.json", "catalog.marshal"]  # no temporary left
    assert snapshot_path(cache_json).is_dir()
