"""Rebuild src/torchup/doctor/problems.marshal from problems.json beside it.

    python scripts/build_problems_snapshot.py

The marshal file is the problem catalog already decoded, with the literals each of its patterns
needs (torchup/doctor/problems.py): run this after every change to problems.json or to how
explain finds those literals (torchup.doctor.explain.prefilter_index). tests/test_explain.py
fails while it is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from torchup.doctor.explain import prefilter_index  # noqa: E402
from torchup.doctor.problems import DATA_FILE, SNAPSHOT_FILE, load_problems, snapshot_bytes  # noqa: E402


def build(json_path: Path = Path(DATA_FILE), out: Path = Path(SNAPSHOT_FILE)) -> Path:
    json_bytes = json_path.read_bytes()
    problems = load_problems(json.loads(json_bytes))  # every pattern compiled and checked
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(snapshot_bytes(problems, prefilter_index(problems), json_bytes))
    tmp.replace(out)
    return out


if __name__ == "__main__":
    path = build()
    print(f"wrote {path} ({path.stat().st_size} bytes)")
