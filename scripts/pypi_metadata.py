"""Read PyPI facts for the catalog maintainer scripts (not part of the package).

The index URL is never written here: it is taken from ``PIP_INDEX_URL``, then
``pip config get global.index-url``, then pip's own built-in default (read from
the installed pip), in that order -- the index pip itself would use.

Per-file core metadata: PEP 658 ``.metadata`` files are used when the index
offers them; otherwise the wheel's METADATA is read with HTTP range requests
(the zip central directory at the end of the file, then the one member), so a
900 MB wheel costs a few hundred kilobytes.  Answers are cached on disk
(``--cache DIR``) so a re-run is offline and fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
import urllib.request
import zlib
from pathlib import Path

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


def index_url() -> str:
    """The simple-API base pip uses here (no trailing slash)."""
    url = os.environ.get("PIP_INDEX_URL")
    if not url:
        out = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
            capture_output=True, text=True, timeout=60,
        )
        url = out.stdout.strip() if out.returncode == 0 else ""
    if not url:
        from pip._internal.models.index import PyPI  # pip's built-in default index

        url = PyPI.simple_url
    return url.rstrip("/")


class Fetcher:
    def __init__(self, cache: Path, *, offline: bool = False) -> None:
        self.cache = cache
        self.offline = offline
        cache.mkdir(parents=True, exist_ok=True)

    def _cached(self, key: str, produce) -> bytes:
        path = self.cache / hashlib.sha256(key.encode()).hexdigest()[:32]
        if path.exists():
            return path.read_bytes()
        if self.offline:
            raise RuntimeError(f"not cached and --offline: {key}")
        data = produce()
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return data

    def get(self, url: str, *, headers: dict | None = None, cache: bool = True) -> bytes:
        def produce() -> bytes:
            req = urllib.request.Request(url, headers=headers or {})
            with urllib.request.urlopen(req, timeout=120) as resp:
                return resp.read()

        if not cache:
            return produce()
        return self._cached(url + json.dumps(headers or {}, sort_keys=True), produce)

    def project(self, base: str, name: str, *, fresh: bool = False) -> dict:
        """The PEP 691 JSON page of a project."""
        data = self.get(f"{base}/{name}/", headers={"Accept": SIMPLE_JSON}, cache=not fresh)
        return json.loads(data)

    def wheel_metadata(self, file: dict) -> str:
        """The METADATA text of one wheel (PEP 658 file, else range requests)."""
        url = file["url"].split("#")[0]

        def produce() -> bytes:
            if file.get("core-metadata") or file.get("dist-info-metadata"):
                with urllib.request.urlopen(url + ".metadata", timeout=120) as resp:
                    return resp.read()
            return _ranged_member(url, lambda n: n.endswith(".dist-info/METADATA") and n.count("/") == 1)

        return self._cached("METADATA " + url, produce).decode("utf-8")


    def wheel_arch_flags(self, file: dict) -> list[str]:
        """The CUDA arch flag strings compiled into a torch wheel: the
        ``CUDA_ARCH_FLAGS`` literal that ``torch._C._cuda_getArchFlags()`` returns
        lives in ``torch/lib/libtorch_python.so`` (``torch_python.dll`` on Windows);
        read it by range requests.  A CPU build has none (an empty list)."""
        import re

        url = file["url"].split("#")[0]

        def produce() -> bytes:
            member = "torch/lib/torch_python.dll" if "-win" in url.rsplit("/", 1)[-1] else "torch/lib/libtorch_python.so"
            data = _ranged_member(url, lambda n: n == member)
            found = sorted(set(re.findall(rb"(?:sm_\d+[af]?|compute_\d+[af]?)(?: (?:sm_\d+[af]?|compute_\d+[af]?))+", data)))
            return b"\n".join(found)

        text = self._cached("ARCHFLAGS " + url, produce).decode()
        return [line for line in text.splitlines() if line]


def _range(url: str, spec: str) -> bytes:
    req = urllib.request.Request(url, headers={"Range": f"bytes={spec}"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        if resp.status != 206:
            raise RuntimeError(f"{url}: server ignored the Range header")
        return resp.read()


def _ranged_member(url: str, want) -> bytes:
    """One member of a remote zip, read with HTTP range requests."""
    tail = _range(url, "-65536")
    eocd = tail.rfind(b"PK\x05\x06")
    if eocd < 0:
        raise RuntimeError(f"{url}: no end-of-central-directory record")
    cd_size, cd_offset = struct.unpack("<II", tail[eocd + 12 : eocd + 20])
    if cd_offset == 0xFFFFFFFF or cd_size == 0xFFFFFFFF:  # zip64
        loc = tail.rfind(b"PK\x06\x07")
        (z64_off,) = struct.unpack("<Q", tail[loc + 8 : loc + 16])
        rec = _range(url, f"{z64_off}-{z64_off + 56 - 1}")
        cd_size, cd_offset = struct.unpack("<QQ", rec[40:56])
    cd = _range(url, f"{cd_offset}-{cd_offset + cd_size - 1}")
    pos = 0
    while pos < len(cd) and cd[pos : pos + 4] == b"PK\x01\x02":
        method = struct.unpack("<H", cd[pos + 10 : pos + 12])[0]
        csize, usize = struct.unpack("<II", cd[pos + 20 : pos + 28])
        nlen, xlen, clen = struct.unpack("<HHH", cd[pos + 28 : pos + 34])
        (local,) = struct.unpack("<I", cd[pos + 42 : pos + 46])
        name = cd[pos + 46 : pos + 46 + nlen].decode("utf-8")
        extra = cd[pos + 46 + nlen : pos + 46 + nlen + xlen]
        pos += 46 + nlen + xlen + clen
        if not want(name):
            continue
        if local == 0xFFFFFFFF or csize == 0xFFFFFFFF:
            vals = []
            i = 0
            while i < len(extra):
                hid, hlen = struct.unpack("<HH", extra[i : i + 4])
                if hid == 1:
                    vals = [struct.unpack("<Q", extra[i + 4 + 8 * k : i + 12 + 8 * k])[0] for k in range(hlen // 8)]
                i += 4 + hlen
            it = iter(vals)
            if usize == 0xFFFFFFFF:
                usize = next(it)
            if csize == 0xFFFFFFFF:
                csize = next(it)
            if local == 0xFFFFFFFF:
                local = next(it)
        head = _range(url, f"{local}-{local + 30 - 1}")
        lnlen, lxlen = struct.unpack("<HH", head[26:30])
        start = local + 30 + lnlen + lxlen
        body = _range(url, f"{start}-{start + csize - 1}")
        if method == 8:
            return zlib.decompress(body, -15)
        if method == 0:
            return body
        raise RuntimeError(f"{url}: {name} uses zip method {method}")
    raise RuntimeError(f"{url}: member not found")
