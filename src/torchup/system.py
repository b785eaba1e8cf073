"""The seam between torchup and the host: one system root for files, one
environment, one command runner.

``TORCHUP_SYSROOT`` re-roots every absolute path a probe reads, so a whole
captured machine can be replayed from a directory.  Tests build a ``System``
over a fake root and a ``PATH`` whose first entries are fake tools.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from torchup.record import field, record
from torchup.runner import Runner

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["System", "system_from_env"]


@record
class System:
    root: str = "/"
    env: Mapping[str, str] = field(default_factory=dict)
    runner: Runner = field(default_factory=Runner)
    # started early for the command: the target Python's facts (torchup.target.prestart_target_probe)
    # or verify's check (torchup.verify.prestart_verify); None: nothing
    target_probe: Any = None

    def with_target_probe(self, probe: Any) -> System:
        return System(root=self.root, env=self.env, runner=self.runner, target_probe=probe)

    def path(self, path: str) -> str:
        """Map an absolute host path into the system root."""
        if self.root in ("", "/"):
            return path
        return os.path.join(self.root, path.lstrip("/"))

    def read_text(self, path: str, *, limit: int = 1 << 20) -> str | None:
        """Text of a file under the root, or None when it cannot be read."""
        try:
            with open(self.path(path), "rb") as fh:
                data = fh.read(limit)
        except OSError:
            return None
        return data.decode("utf-8", errors="replace")

    def exists(self, path: str) -> bool:
        return os.path.exists(self.path(path))

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(self.path(path)))
        except OSError:
            return []

    def readlink(self, path: str) -> str | None:
        try:
            return os.readlink(self.path(path))
        except OSError:
            return None


def system_from_env(env: Mapping[str, str] | None = None) -> System:
    env = dict(os.environ if env is None else env)
    root = env.get("TORCHUP_SYSROOT") or "/"
    return System(root=root, env=env, runner=Runner(env))
