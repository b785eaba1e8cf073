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

Scope: an install of exact pins can only add, replace or remove the projects its
resolution names.  When preflight could tell which those are (``touches``, from the
PEP 658 metadata of the new wheels), only the site-packages top-level entries that
hold files of the installed distributions reachable from them (through installed
Requires-Dist) are mirrored, whole (a namespace directory such as ``nvidia/`` with
everything in it), plus the whole scripts dir.  Every other entry of site-packages
is only *listed* (``trees/<i>.keep``, its paths, bytecode caches aside): restoring
removes whatever is not in the mirror nor in that list, so what the install added
anywhere goes away, and leaves the listed entries alone.  When the scope is not
known, or a distribution in it has no RECORD, everything is mirrored.
"""

from __future__ import annotations

import csv
import json
import os
import re
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
    # keys of the distributions mirrored, None: the whole roots were mirrored
    scope: tuple[str, ...] | None = None
    # per root (as a string index): the top-level entries mirrored; a root not named was mirrored whole
    mirrored: dict[str, tuple[str, ...]] = field(default_factory=dict)

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


def scope_closure(target: TargetEnv, touches) -> frozenset[str]:
    """Pure: keys of the installed distributions reachable from ``touches`` (project
    names) through installed Requires-Dist (markers ignored: a superset)."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    by_key = {d.key: d for d in target.distributions}
    todo = [str(canonicalize_name(n)) for n in touches]
    seen: set[str] = set()
    while todo:
        key = todo.pop()
        if key in seen:
            continue
        seen.add(key)
        dist = by_key.get(key)
        if dist is None:
            continue
        for line in dist.requires:
            try:
                todo.append(str(canonicalize_name(Requirement(line).name)))
            except InvalidRequirement:
                continue
    return frozenset(k for k in seen if k in by_key)


_TOP = re.compile(r'^([^,/"\n][^,/\n]*)[/,]', re.M)
_QUOTED = re.compile(r'^"[^\n]*', re.M)


def _top_entries(dist: Distribution, site: str) -> set[str] | None:
    """The top-level entries of ``site`` holding files of ``dist`` (from its RECORD);
    None when the RECORD cannot be read."""
    info = dist.dist_info
    if not info or not info.endswith(".dist-info"):
        return None
    try:
        with open(os.path.join(info, "RECORD"), encoding="utf-8", newline="") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError):
        return None
    text = text.replace("\\", "/")
    # the first path component of each unquoted row (one regex pass: RECORDs run to 24,000 rows)
    tops = {os.path.basename(info), *_TOP.findall(text)}
    for line in _QUOTED.findall(text):  # a quoted path (it holds a comma): the exact reader
        try:
            row = next(csv.reader([line]), [""])
        except csv.Error:
            return None
        if row and row[0] and not row[0].startswith("/"):
            tops.add(row[0].split("/", 1)[0])
    tops.discard("..")  # outside site-packages: the scripts dir is mirrored whole
    return tops


def _scoped_tops(target: TargetEnv, roots: tuple[str, ...], scope: frozenset[str]) -> dict[int, set[str]] | None:
    """Per site root index: the top-level entries to mirror; None: mirror everything."""
    out: dict[int, set[str]] = {i: set() for i, r in enumerate(roots) if r in target.site_dirs}
    where = {os.path.realpath(r): i for i, r in enumerate(roots) if i in out}
    for dist in target.distributions:
        if dist.key not in scope:
            continue
        i = where.get(os.path.realpath(os.path.dirname(dist.dist_info or "")))
        if i is None:
            return None  # a distribution in scope outside the site dirs torchup mirrors: be whole
        tops = _top_entries(dist, roots[i])
        if tops is None:
            return None
        out[i] |= tops
    return out


def take_snapshot(target: TargetEnv, *, plan: dict | None = None, log: str | None = None,
                  touches=None) -> Snapshot:
    """Mirror the target's site dirs and scripts dir; replaces the previous snapshot.

    ``touches``: the projects the install can change (see the module doc); None mirrors all."""
    final = snapshot_dir(target.prefix)
    work = final + ".new"
    _rmtree(work)
    roots = tuple(p for p in (*target.site_dirs, target.scripts) if p and os.path.isdir(p))
    scope = scope_closure(target, touches) if touches is not None else None
    tops = _scoped_tops(target, roots, scope) if scope is not None else None
    if tops is None:
        scope = None
    linked = True
    files = 0
    mirrored: dict[str, tuple[str, ...]] = {}
    for i, root in enumerate(roots):
        dst = os.path.join(work, "trees", str(i))
        if tops is not None and i in tops:
            n, ok, names = _mirror_some(root, dst, tops[i], os.path.join(work, "trees", f"{i}.keep"))
            mirrored[str(i)] = names
        else:
            n, ok = _mirror(root, dst)
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
        scope=tuple(sorted(scope)) if scope is not None else None,
        mirrored=mirrored,
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
        scope=tuple(raw["scope"]) if raw.get("scope") is not None else None,
        mirrored={str(k): tuple(v) for k, v in (raw.get("mirrored") or {}).items()},
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
        names = snap.mirrored.get(str(i))
        keep = None
        if names is not None:
            try:
                with open(snap.tree(i) + ".keep", encoding="utf-8", errors="surrogateescape") as fh:
                    listed = dict(p.rsplit("\t", 1) for p in fh.read().split("\0") if p)
                keep = (frozenset(names), {p: int(ino) for p, ino in listed.items()})
            except OSError as exc:  # without the list, nothing outside the mirror can be told apart
                errors.append(f"cannot read the snapshot's listing of {root}: {exc.strerror or exc}")
                continue
        r, s = _sync(snap.tree(i), root, snap.linked, errors, keep)
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


def _mirror_some(src: str, dst: str, names: set[str], keep_path: str) -> tuple[int, bool, tuple[str, ...]]:
    """Mirror the top-level entries ``names`` of ``src`` whole; list the paths of every
    other entry (bytecode caches aside) in ``keep_path``.  Returns (files, all linked,
    the names mirrored)."""
    count = 0
    linked = True
    done: list[str] = []
    keep: list[str] = []
    os.makedirs(dst, exist_ok=True)
    with os.scandir(src) as it:
        entries = list(it)
    for entry in entries:
        target = os.path.join(dst, entry.name)
        if entry.name not in names:
            keep.append(f"{entry.name}\t{entry.inode()}")
            if entry.is_dir(follow_symlinks=False):
                _listing(entry.path, entry.name, keep)
            continue
        done.append(entry.name)
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), target)
        elif entry.is_dir():
            os.mkdir(target)
            n, ok = _mirror(entry.path, target)
            count += n
            linked = linked and ok
        else:
            count += 1
            if not _link(entry.path, target):
                linked = False
    with open(keep_path, "w", encoding="utf-8", errors="surrogateescape") as fh:
        fh.write("\0".join(keep))
    return count, linked, tuple(sorted(done))


def _listing(path: str, rel: str, out: list[str]) -> None:
    """Append ``relative path<TAB>inode`` of everything under ``path`` (``__pycache__`` dirs
    skipped) to ``out``."""
    stack = [(path, rel)]
    while stack:
        p, r = stack.pop()
        try:
            it = os.scandir(p)
        except OSError:
            continue
        with it:
            for entry in it:
                if entry.name == "__pycache__":
                    continue
                sub = r + os.sep + entry.name
                out.append(f"{sub}\t{entry.inode()}")
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, sub))


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


def _sync(mirror: str, live: str, linked: bool, errors: list[str],
          keep: tuple[frozenset[str], dict[str, int]] | None = None) -> tuple[int, int]:
    """Make ``live`` equal to ``mirror``.  With ``keep`` (names mirrored, paths listed) the
    mirror holds only some top-level entries: listed paths outside them are left alone
    (and bytecode caches in them), anything else not in the mirror is removed; a listed
    file the install replaced cannot be put back and is reported."""
    want = _entries(mirror)
    have = _entries(live)
    removed = restored = 0
    # deepest first, so a directory is emptied before it is removed
    for rel in sorted(have, key=lambda p: p.count(os.sep), reverse=True):
        st = have[rel]
        w = want.get(rel)
        if keep is not None and w is None:
            top, _, rest = rel.partition(os.sep)
            if top not in keep[0] and (rel in keep[1] or "__pycache__" in rel.split(os.sep)):
                if rel in keep[1] and keep[1][rel] != st.st_ino and not stat.S_ISDIR(st.st_mode):
                    errors.append(f"{os.path.join(live, rel)} was replaced by the install and is outside "
                                  "the snapshot's scope: it cannot be put back")
                continue
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
        "scope": list(snap.scope) if snap.scope is not None else None,
        "mirrored": {k: list(v) for k, v in snap.mirrored.items()},
    }
