"""torchup.cache.write_atomic: a cache file (the refreshed catalog, its snapshot, stack.json, and the
embedded snapshot when it is built) is written whole or not at all, with the usual permissions."""

import os
import stat

import pytest

from torchup.cache import write_atomic


def test_a_new_file_gets_the_umasks_permissions_and_the_directory_is_made(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "new" / "catalog.marshal", b"data")
    finally:
        os.umask(old)
    path = tmp_path / "new" / "catalog.marshal"
    assert path.read_bytes() == b"data"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # readable by others, as a shipped file must be
    assert os.listdir(tmp_path / "new") == ["catalog.marshal"]


def test_an_existing_file_is_replaced_whole(tmp_path):
    path = tmp_path / "stack.json"
    path.write_bytes(b"old")
    write_atomic(str(path), b"new contents")
    assert path.read_bytes() == b"new contents"
    assert os.listdir(tmp_path) == ["stack.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "catalog.json"
    path.write_bytes(b"old")

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        write_atomic(path, b"new")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["catalog.json"]


def test_a_directory_in_the_way_is_an_oserror_and_leaves_no_temporary(tmp_path):
    (tmp_path / "catalog.marshal").mkdir()
    with pytest.raises(OSError):
        write_atomic(tmp_path / "catalog.marshal", b"data")
    assert os.listdir(tmp_path) == ["catalog.marshal"]
