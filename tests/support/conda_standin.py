#!/usr/bin/env python3
"""A stand-in for conda / mamba / micromamba and pixi, for tests of ``torchup install --manager conda|pixi``.

No real conda can run here: the tools and conda-forge are out of this machine's reach.
This script keeps to the contract torchup relies on, and acts out the failure modes
read in the tools' sources (see tests/fixtures/SOURCES.md, "conda stand-in"):

- it accepts only ``install -y -p PREFIX --override-channels -c conda-forge SPEC...``
  (the flags all of conda 23-26, mamba 1/2 and micromamba 1/2 accept) and writes its argv
  to ``$CONDA_STANDIN_ARGV``;
- it installs by unlinking the old package's files and writing new files, with one
  ``conda-meta/<name>-<version>-<build>.json`` record per package and a section in
  ``conda-meta/history``, as conda and libmamba do;
- ``$CONDA_STANDIN_MODE`` picks an outcome:
  ``ok``; ``download-fails`` (exit 1, prefix untouched: downloads come before linking);
  ``half-linked`` (old files unlinked, some new ones written, exit 1: libmamba before
  2.7.0 does not roll a failed link step back); ``half-linked-exit-0`` (the same, exit 0:
  mamba 1.x can exit 0 after a libmamba error); ``cpu-instead`` (installs a CPU build and
  exits 0);
- as pixi (``pixi add --manifest-path MANIFEST SPEC...``) it adds the specs to the manifest,
  writes ``pixi.lock`` and installs ``.pixi/envs/default``; ``solve-fails`` changes nothing,
  ``download-fails`` puts the manifest back but leaves the new lock (pixi's order of work).
"""

from __future__ import annotations

import json
import os
import sys
import time


def _record(prefix: str, name: str, version: str, build: str, files: list[str]) -> None:
    meta = os.path.join(prefix, "conda-meta")
    with open(os.path.join(meta, f"{name}-{version}-{build}.json"), "w") as fh:
        json.dump({"name": name, "version": version, "build": build, "files": files,
                   "url": f"https://conda.anaconda.org/conda-forge/linux-64/{name}-{version}-{build}.conda"}, fh)


def _write(prefix: str, rel: str, text: str) -> None:
    path = os.path.join(prefix, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.lexists(path):
        os.unlink(path)  # never in place: the old file may be linked elsewhere
    with open(path, "w") as fh:
        fh.write(text)


def _install(prefix: str, specs: list[str], argv: list[str], mode: str) -> int:
    """Unlink the old pytorch, link the new one, record it: what both kinds of tool do."""
    want = dict(s.split("==", 1) if "==" in s else s.split("=", 1) for s in specs)
    version = want.get("pytorch-gpu") or want.get("pytorch-cpu") or want["pytorch"]
    cuda = want.get("cuda-version")
    build = f"cuda{cuda.replace('.', '')}_generic_py311_h0_201" if cuda and mode != "cpu-instead" else "cpu_generic_py311_h0_0"
    meta = os.path.join(prefix, "conda-meta")
    old = [fn for fn in os.listdir(meta) if fn.startswith("pytorch-") and fn.endswith(".json")]
    print("Preparing transaction: done\nVerifying transaction: done\nExecuting transaction: ", end="", flush=True)
    for fn in old:  # unlink the old package
        with open(os.path.join(meta, fn)) as f:
            for rel in json.load(f).get("files", []):
                if os.path.lexists(os.path.join(prefix, rel)):
                    os.unlink(os.path.join(prefix, rel))
        os.unlink(os.path.join(meta, fn))
    lib = os.path.join(prefix, "lib")
    site = os.path.join("lib", next(d for d in sorted(os.listdir(lib)) if d.startswith("python3")), "site-packages")
    files = [os.path.join(site, "torch", "__init__.py"), os.path.join(site, "torch", "version.py")]
    _write(prefix, files[0], f"__version__ = '{version}'\n")
    if mode.startswith("half-linked"):
        print("\nerror: libmamba could not link lib/libtorch_cuda.so: No space left on device", file=sys.stderr)
        return 0 if mode == "half-linked-exit-0" else 1
    _write(prefix, files[1], f"__version__ = '{version}'\n")
    _record(prefix, "pytorch", version, build, files)
    if cuda:
        _write(prefix, os.path.join("lib", "libcudart.so.12"), "cudart\n")
        _record(prefix, "cuda-version", cuda, "h0_3", [])
    with open(os.path.join(meta, "history"), "a") as fh:
        fh.write(time.strftime("==> %Y-%m-%d %H:%M:%S <==\n") + f"# cmd: {' '.join(argv)}\n"
                 + "".join(f"-conda-forge/linux-64::{fn[:-5]}\n" for fn in old)
                 + f"+conda-forge/linux-64::pytorch-{version}-{build}\n")
    print("done")
    return 0


def _pixi_add(argv: list[str], mode: str) -> int:
    """``pixi add --manifest-path M SPEC...``: edit the manifest, solve, write the lock, install
    the default environment; on a failure after the solve the manifest is put back but the
    new lock stays (pixi's ``update_dependencies``)."""
    if argv[2:3] != ["--manifest-path"]:
        print(f"error: unexpected arguments {argv[1:]}", file=sys.stderr)
        return 2
    manifest, specs = argv[3], argv[4:]
    root = os.path.dirname(manifest)
    with open(manifest) as fh:
        original = fh.read()
    if mode == "solve-fails":
        print("Error:   x failed to solve the conda requirements of 'default' 'linux-64'", file=sys.stderr)
        return 1
    with open(manifest, "a") as fh:
        fh.write("".join(f'{n} = "{v}"\n' for n, v in (s.split("=", 1) if "==" not in s else
                                                         (s.split("==")[0], "==" + s.split("==")[1]) for s in specs)))
    with open(os.path.join(root, "pixi.lock"), "w") as fh:
        fh.write("version: 6\n# solved: " + " ".join(specs) + "\n")
    if mode == "download-fails":
        with open(manifest, "w") as fh:  # pixi reverts the manifest, not the lock
            fh.write(original)
        print("Error:   x failed to fetch pytorch-2.14.1: connection reset", file=sys.stderr)
        return 1
    return _install(os.path.join(root, ".pixi", "envs", "default"), specs, argv, mode)


def main(argv: list[str]) -> int:
    with open(os.environ["CONDA_STANDIN_ARGV"], "w") as fh:
        json.dump(argv, fh)
    mode = os.environ.get("CONDA_STANDIN_MODE", "ok")
    if argv[1:2] == ["add"]:
        return _pixi_add(argv, mode)
    head = argv[1:9]
    if argv[1:2] != ["install"] or head[1:3] != ["-y", "-p"] or head[4:7] != ["--override-channels", "-c", "conda-forge"]:
        print(f"error: unexpected arguments {argv[1:]}", file=sys.stderr)
        return 2
    prefix, specs = argv[4], argv[8:]
    print("Channels:\n - conda-forge\nPlatform: linux-64\nSolving environment: done")
    if mode == "download-fails":
        print("CondaHTTPError: HTTP 000 CONNECTION FAILED for url "
              "<https://conda.anaconda.org/conda-forge/linux-64/repodata.json>", file=sys.stderr)
        return 1
    return _install(prefix, specs, argv, mode)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
