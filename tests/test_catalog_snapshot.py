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
