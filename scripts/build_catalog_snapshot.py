"""Rebuild src/torchup/catalog/data/catalog.marshal from catalog.json beside it.

    python scripts/build_catalog_snapshot.py

The marshal file is the embedded catalog already decoded (torchup/catalog/snapshot.py):
run this after every change to catalog.json (scripts/build_catalog.py runs it itself).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from torchup.catalog.load import embedded_path, read_catalog_file  # noqa: E402
from torchup.catalog.snapshot import write_snapshot  # noqa: E402


def build(json_path: Path = embedded_path()) -> Path:
    json_bytes = json_path.read_bytes()
    catalog = read_catalog_file(json_path, origin="embedded")
    return Path(write_snapshot(json_path, catalog, json_bytes))


if __name__ == "__main__":
    path = build()
    print(f"wrote {path} ({path.stat().st_size} bytes)")
