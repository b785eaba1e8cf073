"""Where torchup keeps what it may reuse: the refreshed catalog (``catalog.json``, its snapshot
``catalog.marshal`` and ``stack.json``) and the target interpreters' facts (``targets/``); and how
such a file is written whole."""

from __future__ import annotations

import os
from collections.abc import Mapping

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["cache_dir", "cache_root", "write_atomic"]


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


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Put ``data`` at ``path`` whole or not at all: written to a temporary file beside it,
    flushed to disk, then renamed over it, so a reader finds the old file or the new one (the
    directory is made when missing).  The file gets the usual permissions (0666 less the umask;
    ``tempfile.mkstemp`` would make it 0600, unreadable to others where torchup's own data is
    built).  When anything fails the temporary file is removed and the ``OSError`` raised."""
    directory = os.path.dirname(os.fspath(path)) or "."
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".torchup-{os.getpid()}-{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
