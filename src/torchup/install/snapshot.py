"""Snapshot the target environment before an install and put it back after a failure.

How: the directories an install writes (site-packages and the scripts dir) are
mirrored as a tree of *hard links* under ``<prefix>/.torchup/snapshot/``.  That
costs one ``link()`` per file and no data (measured in ``bench/bench_install.py``).
pip and uv never rewrite an installed file in place: they unlink or rename the
old one and write a new file, so the linked inode keeps the old bytes.

Restoring syncs each live tree back to its mirror: entries the install added
are removed, entries whose inode differs are linked back.  It works the same
after a clean failure, a half-finished install (SIGKILL, disk full) or a
successful install (``torchup install --rollback``), and does nothing when
nothing changed.  When the filesystem refuses hard links, files are copied
(with their times) and compared by size and mtime instead.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from dataclasses import dataclass, field

from torchup.install.target import Distribution, TargetEnv

__all__ = ["Snapshot", "RestoreReport", "take_snapshot", "load_snapshot", "restore", "snapshot_dir", "mark"]

SNAPSHOT_FORMAT = 1
_UNFINISHED = "UNFINISHED"  # present from the snapshot until the install has ended either way


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    path: str
    created: str
    python: str
    roots: tuple[str, ...]  # live directories mirrored, in order: trees/0, trees/1, ...
    distributions: tuple[Distribution, ...]
    files: int
    linked: bool  # hard links (True) or copies
    plan: dict | None = None
    log: str | None = None
    status: str = "installing"  # "installing" until the install ended; then "done"

    def tree(self, i: int) -> str:
        return os.path.join(self.path, "trees", str(i))

    def freeze(self) -> list[str]:
        return sorted(f"{d.name}=={d.version}" for d in self.distributions)


@dataclass(frozen=True, kw_only=True)
class RestoreReport:
    removed: int = 0  # entries the install had added or replaced, taken away
    restored: int = 0  # entries put back from the snapshot
    errors: tuple[str, ...] = field(default_factory=tuple)

    @property
    def changed(self) -> bool:
        return bool(self.removed or self.restored)


def snapshot_dir(prefix: str) -> str:
    return os.path.join(prefix, ".torchup", "snapshot")


def take_snapshot(target: TargetEnv, *, plan: dict | None = None, log: str | None = None) -> Snapshot:
    """Mirror the target's site dirs and scripts dir; replaces the previous snapshot."""
    final = snapshot_dir(target.prefix)
    work = final + ".new"
    _rmtree(work)
    roots = tuple(p for p in (*target.site_dirs, target.scripts) if p and os.path.isdir(p))
    linked = True
    files = 0
    for i, root in enumerate(roots):
        n, ok = _mirror(root, os.path.join(work, "trees", str(i)))
        files += n
        linked = linked and ok
    snap = Snapshot(
        path=final,
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        python=target.executable,
        roots=roots,
        distributions=target.distributions,
        files=files,
        linked=linked,
        plan=plan,
        log=log,
    )
    with open(os.path.join(work, "manifest.json"), "w", encoding="utf-8") as fh:
        json.dump(_to_json(snap), fh, indent=1)
    open(os.path.join(work, _UNFINISHED), "w").close()
    old = final + ".old"
    if os.path.exists(final):
        _rmtree(old)
        os.rename(final, old)
    os.rename(work, final)
    _rmtree(old)
    return snap


def load_snapshot(prefix: str) -> Snapshot | None:
    path = os.path.join(snapshot_dir(prefix), "manifest.json")
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except (OSError, ValueError):
        return None
    if raw.get("torchup_snapshot") != SNAPSHOT_FORMAT:
        return None
    return Snapshot(
        path=snapshot_dir(prefix),
        created=raw["created"],
        python=raw["python"],
        roots=tuple(raw["roots"]),
        distributions=tuple(
            Distribution(name=d["name"], version=d["version"], installer=d.get("installer"), origin=d.get("origin"))
            for d in raw["distributions"]
        ),
        files=raw["files"],
        linked=raw["linked"],
        plan=raw.get("plan"),
        log=raw.get("log"),
        status="installing" if os.path.exists(os.path.join(snapshot_dir(prefix), _UNFINISHED)) else "done",
    )


def mark(snap: Snapshot, status: str) -> Snapshot:
    """Record that the install the snapshot belongs to has ended ("installed", "restored",
    "rolled back").  Only "unfinished or not" is kept, as the presence of an empty marker
    file: removing it needs no free space, which matters after a disk-full failure."""
    from dataclasses import replace

    try:
        os.unlink(os.path.join(snap.path, _UNFINISHED))
    except FileNotFoundError:
        pass
    return replace(snap, status=status)


def restore(snap: Snapshot) -> RestoreReport:
    """Make every live root equal to its mirror again."""
    removed = restored = 0
    errors: list[str] = []
    for i, root in enumerate(snap.roots):
        r, s = _sync(snap.tree(i), root, snap.linked, errors)
        removed += r
        restored += s
    return RestoreReport(removed=removed, restored=restored, errors=tuple(errors))


# --- mirroring ------------------------------------------------------------------
def _mirror(src: str, dst: str) -> tuple[int, bool]:
    """Hard-link the tree ``src`` into ``dst``; return (files, all linked)."""
    count = 0
    linked = True
    os.makedirs(dst, exist_ok=True)
    stack = [(src, dst)]
    while stack:
        s_dir, d_dir = stack.pop()
        with os.scandir(s_dir) as it:
            for entry in it:
                target = os.path.join(d_dir, entry.name)
                if entry.is_symlink():
                    os.symlink(os.readlink(entry.path), target)
                elif entry.is_dir():
                    os.mkdir(target)
                    stack.append((entry.path, target))
                else:
                    count += 1
                    if not _link(entry.path, target):
                        linked = False
    return count, linked


def _link(src: str, dst: str) -> bool:
    try:
        os.link(src, dst)
        return True
    except OSError:  # another filesystem, an immutable file, a link limit: copy instead
        shutil.copy2(src, dst)
        return False


def _entries(root: str) -> dict[str, os.stat_result]:
    """Every path under ``root`` (relative) with its lstat."""
    out: dict[str, os.stat_result] = {}
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            it = os.scandir(os.path.join(root, rel) if rel else root)
        except OSError:
            continue
        with it:
            for entry in it:
                path = os.path.join(rel, entry.name) if rel else entry.name
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                out[path] = st
                if stat.S_ISDIR(st.st_mode):
                    stack.append(path)
    return out


def _same(a: os.stat_result, b: os.stat_result, linked: bool, pa: str, pb: str) -> bool:
    if stat.S_IFMT(a.st_mode) != stat.S_IFMT(b.st_mode):
        return False
    if stat.S_ISDIR(a.st_mode):
        return True
    if stat.S_ISLNK(a.st_mode):
        return os.readlink(pa) == os.readlink(pb)
    if linked:
        return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
    return (a.st_size, a.st_mtime_ns) == (b.st_size, b.st_mtime_ns)


def _sync(mirror: str, live: str, linked: bool, errors: list[str]) -> tuple[int, int]:
    want = _entries(mirror)
    have = _entries(live)
    removed = restored = 0
    # deepest first, so a directory is emptied before it is removed
    for rel in sorted(have, key=lambda p: p.count(os.sep), reverse=True):
        st = have[rel]
        w = want.get(rel)
        if w is not None and _same(w, st, linked, os.path.join(mirror, rel), os.path.join(live, rel)):
            continue
        if w is not None and stat.S_ISDIR(w.st_mode) and stat.S_ISDIR(st.st_mode):
            continue
        try:
            path = os.path.join(live, rel)
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(path)
            elif os.path.lexists(path):
                os.unlink(path)
            removed += 1
        except OSError as exc:
            errors.append(f"cannot remove {os.path.join(live, rel)}: {exc.strerror or exc}")
    for rel in sorted(want, key=lambda p: p.count(os.sep)):
        w = want[rel]
        src, dst = os.path.join(mirror, rel), os.path.join(live, rel)
        if os.path.lexists(dst):
            continue
        try:
            if stat.S_ISLNK(w.st_mode):
                os.symlink(os.readlink(src), dst)
            elif stat.S_ISDIR(w.st_mode):
                os.mkdir(dst)
            elif linked:
                os.link(src, dst)
            else:
                shutil.copy2(src, dst)
            restored += 1
        except OSError as exc:
            errors.append(f"cannot restore {dst}: {exc.strerror or exc}")
    return removed, restored


def _rmtree(path: str) -> None:
    if os.path.lexists(path):
        shutil.rmtree(path, ignore_errors=True)


def _to_json(snap: Snapshot) -> dict:
    return {
        "torchup_snapshot": SNAPSHOT_FORMAT,
        "created": snap.created,
        "python": snap.python,
        "roots": list(snap.roots),
        "distributions": [d.to_json() for d in snap.distributions],
        "files": snap.files,
        "linked": snap.linked,
        "plan": snap.plan,
        "log": snap.log,
    }
