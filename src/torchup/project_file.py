"""``plan --write``: merge the rendered project file into ``pyproject.toml`` / ``pixi.toml`` (pixi: into
``[tool.pixi]`` of a ``pyproject.toml`` where there is no ``pixi.toml``) in a directory, after showing
the diff and asking, with a backup.  The merge itself is pure (``torchup.render.merge``); this module is
the edge that reads, asks and writes."""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from pathlib import Path

from torchup.errors import UsageError

__all__ = ["FILE_FOR", "target_for", "write_project"]

# the file each project format is merged into
FILE_FOR = {"uv-project": "pyproject.toml", "poetry-project": "pyproject.toml", "pixi": "pixi.toml"}
BACKUP_SUFFIX = ".torchup-backup"


def target_for(fmt: str, directory: Path) -> tuple[str, tuple[str, ...]]:
    """The file ``fmt`` is merged into, and the table it goes under.  pixi: ``pixi.toml``, but a
    ``pyproject.toml`` without a ``pixi.toml`` gets ``[tool.pixi]`` tables, the manifest pixi itself
    would read there (pixi's manifest discovery: ``pixi.toml`` before ``pyproject.toml`` in the same
    directory; in a pyproject the tables are named ``tool.pixi.<table>``)."""
    if fmt == "pixi" and not (directory / "pixi.toml").exists() and (directory / "pyproject.toml").exists():
        return "pyproject.toml", ("tool", "pixi")
    return FILE_FOR[fmt], ()


def write_project(
    fmt: str, text: str, *, directory: Path, yes: bool, confirm: Callable[[str], bool], show: Callable[[str], None]
) -> str:
    """Merge ``text`` into the format's file in ``directory``; return what happened, in one line.
    ``show`` prints the diff, ``confirm`` asks (skipped with ``yes``).  The previous file is copied
    to ``<file>.torchup-backup`` first, and the new one replaces it in one rename."""
    from torchup.render.merge import merge, torch_requirements

    name, under = target_for(fmt, directory)
    path = directory / name
    try:
        existing = path.read_text(encoding="utf-8") if path.exists() else None
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"cannot read {path}: {err}") from None
    merged = merge(existing, text, path=str(path), under=under)
    if merged == existing:
        return f"{path} already has this configuration: nothing written"
    before = (existing or "").splitlines(keepends=True)
    show(
        "".join(
            difflib.unified_diff(
                before,
                merged.splitlines(keepends=True),
                fromfile=str(path) if existing is not None else "/dev/null",
                tofile=str(path),
            )
        )
    )
    if not yes and not confirm(f"write {path}?"):
        return f"nothing written to {path}"
    backup = None
    try:
        if existing is not None:
            backup = path.with_name(path.name + BACKUP_SUFFIX)
            backup.write_text(existing, encoding="utf-8")
        temporary = path.with_name(f".{path.name}.torchup-new")
        temporary.write_text(merged, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err}", hint="nothing was changed in it") from None
    done = f"wrote {path}" + (f" (the previous one is {backup})" if backup else "")
    pinned = torch_requirements(merged) if under else []
    if pinned:
        done += (
            f"; note: pixi also reads [project] dependencies as PyPI dependencies: {', '.join(pinned)} "
            "there must admit the torch the [tool.pixi] tables install"
        )
    return done
