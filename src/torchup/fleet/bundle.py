"""The probe bundle: one zip file that a node's own ``python3`` runs (``python3 probe.pyz``).

It holds torchup's package and a ``__main__.py`` that unpacks it into a temporary
directory, runs ``torchup.fleet.node`` and removes the directory again: torchup reads its
data files (the target script, the PCI table) by path, which a zip import does not allow.
The node needs Python 3.10 or newer and its standard library, nothing else: the probe imports
no third-party package (tests/test_fleet_gather.py checks the bundle in a bare interpreter).
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

__all__ = ["MAIN", "build_bundle"]

_PACKAGE = Path(__file__).resolve().parent.parent  # src/torchup
_SKIP_DIRS = {"__pycache__"}

# Runs on the node.  Standard library only, and valid on old interpreters, so that a node
# with Python 3.6 is told why rather than failing on syntax.
MAIN = """\
import json, os, shutil, socket, sys, tempfile, zipfile

MARK = "TORCHUP_FLEET_PROBE:"  # torchup.fleet.MARK


def main():
    if sys.version_info < (3, 10):
        node = socket.gethostname()
        for i, arg in enumerate(sys.argv):
            if arg == "--node" and i + 1 < len(sys.argv):
                node = sys.argv[i + 1]
        message = "the node's Python is %d.%d; the torchup probe needs 3.10 or newer" % sys.version_info[:2]
        error = {"code": "python-too-old", "message": message,
                 "hint": "point torchup_python at a newer interpreter on this node"}
        sys.stdout.write(MARK + json.dumps({"node": node, "error": error}) + "\\n")
        return 4
    work = tempfile.mkdtemp(prefix="torchup-fleet-")
    try:
        with zipfile.ZipFile(sys.argv[0]) as zf:
            zf.extractall(work, [n for n in zf.namelist() if n.startswith("torchup/")])
        sys.path.insert(0, work)
        from torchup.fleet.node import main as node_main

        return node_main(sys.argv[1:])
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
"""


def build_bundle(path: str) -> str:
    """Write the bundle to ``path``; return ``path``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("__main__.py", MAIN)
        for directory, dirs, files in os.walk(_PACKAGE):
            dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
            for name in sorted(files):
                if name.endswith((".pyc", ".pyo")):
                    continue
                full = Path(directory) / name
                zf.write(full, "torchup/" + full.relative_to(_PACKAGE).as_posix())
    with open(path, "wb") as fh:
        fh.write(buf.getvalue())
    return path
