"""Where torchup keeps what it may reuse: the refreshed catalog (``catalog.json``) and the
target interpreters' facts (``targets/``)."""

from __future__ import annotations

import os
from collections.abc import Mapping

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["cache_dir", "cache_root"]


def cache_root(env: Mapping[str, str] | None = None) -> str:
    """The cache directory (created by whoever writes there first, not here)."""
    env = os.environ if env is None else env
    if env.get("TORCHUP_CACHE_DIR"):
        return env["TORCHUP_CACHE_DIR"]
    if env.get("XDG_CACHE_HOME"):
        return os.path.join(env["XDG_CACHE_HOME"], "torchup")
    if os.name == "nt" and env.get("LOCALAPPDATA"):
        return os.path.join(env["LOCALAPPDATA"], "torchup")
    return os.path.join(env.get("HOME") or os.path.expanduser("~"), ".cache", "torchup")


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``cache_root`` as a ``Path`` (pathlib is imported only here: plan's start-up does without it)."""
    from pathlib import Path

    return Path(cache_root(env))
