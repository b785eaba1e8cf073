"""Build small, real wheels for tests: valid METADATA, WHEEL and RECORD, installable
by the real pip and uv."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import zipfile
from pathlib import Path

__all__ = ["make_wheel", "wheel_metadata"]


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make_wheel(
    directory: Path,
    name: str,
    version: str,
    *,
    tag: str = "py3-none-any",
    requires_dist: list[str] | tuple[str, ...] = (),
    requires_python: str | None = None,
    files: dict[str, str | bytes] | None = None,
    padding: int = 0,
) -> Path:
    """Write ``{name}-{version}-{tag}.whl`` into ``directory`` and return its path.

    The wheel has an importable package ``{name}`` whose ``__version__`` is
    ``version``, plus ``files``; ``padding`` adds that many incompressible bytes
    (to make downloads long enough to cut mid-way).
    """
    directory.mkdir(parents=True, exist_ok=True)
    dist = re.sub(r"[-_.]+", "_", name).lower()
    filename = f"{dist}-{version}-{tag}.whl"
    dist_info = f"{dist}-{version}.dist-info"
    content: dict[str, bytes] = {
        f"{dist}/__init__.py": f"__version__ = {version!r}\n".encode(),
    }
    for path, data in (files or {}).items():
        content[path] = data.encode() if isinstance(data, str) else data
    if padding:
        content[f"{dist}/_padding.bin"] = hashlib.shake_256(filename.encode()).digest(padding)
    content[f"{dist_info}/METADATA"] = wheel_metadata(name, version, requires_dist, requires_python).encode()
    pure = tag.endswith("-none-any")
    wheel_tags = "".join(f"Tag: {t}\n" for t in _expand_tag(tag))
    content[f"{dist_info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: torchup-tests\nRoot-Is-Purelib: {'true' if pure else 'false'}\n{wheel_tags}"
    ).encode()
    record_lines = [f"{path},{_record_hash(data)},{len(data)}" for path, data in content.items()]
    record_lines.append(f"{dist_info}/RECORD,,")
    content[f"{dist_info}/RECORD"] = ("\n".join(record_lines) + "\n").encode()
    out = directory / filename
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path, data in content.items():
            zf.writestr(path, data)
    out.write_bytes(buf.getvalue())
    return out


def wheel_metadata(
    name: str, version: str, requires_dist=(), requires_python: str | None = None
) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Requires-Dist: {req}" for req in requires_dist]
    return "\n".join(lines) + "\n"


def _expand_tag(tag: str) -> list[str]:
    interp, abi, plat = tag.split("-")
    return [f"{i}-{a}-{p}" for i in interp.split(".") for a in abi.split(".") for p in plat.split(".")]
