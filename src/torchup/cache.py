"""Where torchup keeps what it may reuse: the refreshed catalog (``catalog.json``) and the
target interpreters' facts (``targets/``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """The cache directory (created by whoever writes there first, not here)."""
    env = os.environ if env is None else env
    if env.get("TORCHUP_CACHE_DIR"):
        return Path(env["TORCHUP_CACHE_DIR"])
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]) / "torchup"
    if os.name == "nt" and env.get("LOCALAPPDATA"):
        return Path(env["LOCALAPPDATA"]) / "torchup"
    return Path(env.get("HOME") or os.path.expanduser("~")) / ".cache" / "torchup"
