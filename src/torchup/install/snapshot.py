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
anywhere goes away, and leaves the listed entries alone; a listed file is known by its inode
and by an mtime before the listing (pip rewrites a file in a freed inode of the same number),
so one the install replaced or removed is named, never called restored.  When the scope is not
known, or a distribution in it has no RECORD, everything is mirrored.

Trust: the manifest names paths relative to the prefix, and the prefix's real path, device
and inode; ``load_snapshot`` refuses a snapshot taken in another environment (a copy, a move)
and any path that resolves outside the prefix.  Restoring follows no symbolic link.

Set aside: a distribution the install replaces (``replaces``) is not linked file by file
when it can be set aside whole: each top-level entry it has files in (``torch/``,
``torch-2.9.1+cpu.dist-info``...) is *renamed* into the mirror, and its scripts are unlinked
from the live scripts dir (whose mirror keeps them).  That is the manager's uninstall, done
first and kept: a rename per entry instead of a link per file (the old torch is 24,000
files).  Only whole distributions: every entry must be theirs alone (no other RECORD names
it), hold nothing their RECORD does not list (bytecode aside), and sit on the snapshot's
filesystem; otherwise all of it is linked.  The manifest names the entries before they
move, so a snapshot interrupted between two renames still restores: a name set aside that
is not in the mirror is still live and left alone.  Restoring links set-aside files back,
so the mirror stays whole for a later rollback.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Set as AbstractSet

# shutil and csv are imported where used: install --dry-run reads a RECORD or two and copies
# nothing (shutil brings bz2, lzma and fnmatch; issue 15)
from torchup.errors import EnvironmentProblem
from torchup.install.target import Distribution, TargetEnv
from torchup.metadata import canonical_name, requirement
from torchup.record import field, record

__all__ = [
    "RestoreReport",
    "Snapshot",
    "discard_previous_snapshot",
    "load_snapshot",
    "mark",
    "prefix_identity",
    "restore",
    "snapshot_dir",
    "take_snapshot",
]

SNAPSHOT_FORMAT = 2  # 2: paths relative to the prefix, and the prefix's identity
_UNFINISHED = "UNFINISHED"  # present from the snapshot until the install has ended either way


@record
class Snapshot:
    path: str
    created: str
    prefix: str  # the environment it belongs to; every path below is inside it (pixi's files aside)
    prefix_id: tuple[str, int, int]  # the prefix's realpath, st_dev and st_ino: a copy or a move differs
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
    listed_at: int = 0  # time.time_ns() before the listing (trees/<i>.keep) was taken
    # per root (as a string index): the top-level entries mirrored; a root not named was mirrored whole
    mirrored: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # per root: the top-level entries set aside (renamed into the mirror, not linked)
    moved: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # per root: top-level entries neither mirrored nor listed, which restoring leaves alone
    untouched: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # paths in the first root held as copies (the manager changes them in place)
    copied: tuple[str, ...] = ()
    # files outside the roots kept as copies (a pixi manifest and lock): path -> existed
    kept: dict[str, bool] = field(default_factory=dict)

    def tree(self, i: int) -> str:
        return os.path.join(self.path, "trees", str(i))

    def freeze(self) -> list[str]:
        return sorted(f"{d.name}=={d.version}" for d in self.distributions)


@record
class RestoreReport:
    removed: int = 0  # entries the install had added or replaced, taken away
    restored: int = 0  # entries put back from the snapshot
    errors: tuple[str, ...] = field(default_factory=tuple)
    removing: tuple[str, ...] = ()  # the live paths removed (or, in a dry run, to be removed)

    @property
    def changed(self) -> bool:
        return bool(self.removed or self.restored)


def snapshot_dir(prefix: str) -> str:
    return os.path.join(prefix, ".torchup", "snapshot")


def scope_closure(target: TargetEnv, touches) -> frozenset[str]:
    """Pure: keys of the installed distributions reachable from ``touches`` (project
    names) through installed Requires-Dist (markers ignored: a superset)."""
    by_key = {d.key: d for d in target.distributions}
    todo = [canonical_name(n) for n in touches]
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
                todo.append(canonical_name(requirement(line).name))
            except ValueError:  # packaging's InvalidRequirement
                continue
    return frozenset(k for k in seen if k in by_key)


def _record_rows(dist: Distribution) -> tuple[str, ...] | None:
    """The paths a distribution's RECORD lists (its first column, ``/``-separated, relative
    to site-packages); None when there is no RECORD, or a row cannot be read.

    One pass over the lines (torch 2.13.0's RECORD has 12,248 rows): only a quoted row (a path
    holding a comma) goes through the csv reader."""
    import csv

    info = dist.dist_info
    if not info or not info.endswith(".dist-info"):
        return None
    try:
        with open(os.path.join(info, "RECORD"), encoding="utf-8", newline="") as fh:
            text = fh.read().replace("\\", "/")
    except (OSError, UnicodeDecodeError):
        return None
    lines = text.splitlines()
    if '"' not in text:
        return tuple(filter(None, [line.partition(",")[0] for line in lines]))
    rows = []
    for line in lines:
        if line.startswith('"'):
            try:
                row = next(csv.reader([line]), [""])
            except csv.Error:
                return None
            rows.append(row[0] if row else "")
        else:
            rows.append(line.partition(",")[0])
    return tuple(filter(None, rows))


def _top_entries(dist: Distribution, site: str, read=None) -> set[str] | None:
    """The top-level entries of ``site`` holding files of ``dist`` (from its RECORD);
    None when the RECORD cannot be read.  ``read``: how to read a RECORD (a cache)."""
    rows = (read or _record_rows)(dist)
    if rows is None:
        return None
    tops = {row.split("/", 1)[0] for row in rows}
    if dist.dist_info:
        tops.add(os.path.basename(dist.dist_info))
    tops.discard("")  # an absolute path (a row starting with "/")
    tops.discard("..")  # outside site-packages: the scripts dir is mirrored whole
    return tops


def _scoped_tops(
    target: TargetEnv, roots: tuple[str, ...], scope: frozenset[str], read=None
) -> dict[int, set[str]] | None:
    """Per site root index: the top-level entries to mirror; None: mirror everything."""
    out: dict[int, set[str]] = {i: set() for i, r in enumerate(roots) if r in target.site_dirs}
    where = {os.path.realpath(r): i for i, r in enumerate(roots) if i in out}
    for dist in target.distributions:
        if dist.key not in scope:
            continue
        i = where.get(os.path.realpath(os.path.dirname(dist.dist_info or "")))
        if i is None:
            return None  # a distribution in scope outside the site dirs torchup mirrors: be whole
        tops = _top_entries(dist, roots[i], read)
        if tops is None:
            return None
        out[i] |= tops
    return out


def links_out(target: TargetEnv, touches) -> list[tuple[str, str]]:
    """(link, where it resolves) for each symbolic link, in the site-packages entries the
    install can change, that leads outside the prefix: the manager would write or delete
    there, through it, and no snapshot of the prefix would hold what it changed.

    The entries: those of the installed distributions reachable from ``touches`` (project
    names; see ``scope_closure``) per their RECORD, and those named after each project (an
    entry not installed yet, such as a ``torch`` link to a source tree).  The scripts dir is
    not looked at: a venv's ``bin/python`` is such a link, and pip and uv replace a script
    rather than write through it."""
    real_prefix = os.path.realpath(target.prefix)
    scope = scope_closure(target, touches)
    names = {canonical_name(n).replace("-", "_") for n in touches}
    out = []
    for root in _distinct(target.site_dirs):
        tops = set(names)
        for dist in target.distributions:
            if dist.key in scope and os.path.realpath(os.path.dirname(dist.dist_info or "")) == os.path.realpath(root):
                tops |= _top_entries(dist, root) or set()
        for name in sorted(tops):
            out += _links_out_under(os.path.join(root, name), real_prefix)
    return out


def _links_out_under(path: str, real_prefix: str) -> list[tuple[str, str]]:
    """``path`` and everything under it (links not followed): each link resolving outside."""
    out = []
    if os.path.islink(path):
        return [] if _inside(path, real_prefix) else [(path, os.path.realpath(path))]
    stack = [path] if os.path.isdir(path) else []
    while stack:
        try:
            it = os.scandir(stack.pop())
        except OSError:
            continue
        with it:
            for entry in it:
                if entry.is_symlink():
                    if not _inside(entry.path, real_prefix):
                        out.append((entry.path, os.path.realpath(entry.path)))
                elif entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
    return out


def _only_recorded(root: str, name: str, recorded: set[str]) -> bool:
    """Whether every file under the top-level entry ``name`` is one the RECORD lists
    (bytecode caches aside): moving it then takes nothing the manager's uninstall keeps."""
    path = os.path.join(root, name)
    if not os.path.isdir(path) or os.path.islink(path):
        return name in recorded
    stack = [(path, name)]
    while stack:
        p, rel = stack.pop()
        try:
            it = os.scandir(p)
        except OSError:
            return False
        with it:
            for entry in it:
                sub = rel + "/" + entry.name
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        stack.append((entry.path, sub))
                elif sub not in recorded and not entry.name.endswith(".pyc"):
                    return False
    return True


@record
class _Aside:
    """One distribution to set aside: its top-level entries (site root index, name) and
    its live script files."""

    entries: tuple[tuple[int, str], ...]
    scripts: tuple[str, ...]


def _set_aside(target: TargetEnv, roots: tuple[str, ...], replaces, snapshot_parent: str, read=None) -> list[_Aside]:
    """The distributions in ``replaces`` (keys) that can be set aside whole: every top-level
    entry they have files in is theirs alone (no other distribution's RECORD names it) and
    holds nothing their RECORD does not list, and it is on the snapshot's filesystem (a
    rename).  A distribution that fails any of this is linked as before, all of it: half
    set aside, the manager would see nothing to uninstall in the entries left live."""
    where = {os.path.realpath(r): i for i, r in enumerate(roots) if r in target.site_dirs}
    scripts_dir = os.path.realpath(target.scripts) if target.scripts and target.scripts in roots else None
    try:
        device = os.stat(snapshot_parent).st_dev
    except OSError:
        return []
    owned: dict[int, dict[str, int]] = {}  # root -> top-level name -> how many distributions have files in it
    candidates = []
    for dist in target.distributions:
        i = where.get(os.path.realpath(os.path.dirname(dist.dist_info or "")))
        if i is None:
            continue
        tops = _top_entries(dist, roots[i], read)
        for name in tops or ():
            owned.setdefault(i, {})[name] = owned.get(i, {}).get(name, 0) + 1
        if dist.key in replaces and tops is not None:
            candidates.append((dist, i, tops))
    out = []
    for dist, i, tops in candidates:
        root = roots[i]
        names = sorted(n for n in tops - {"__pycache__"} if os.path.lexists(os.path.join(root, n)))
        rows = (read or _record_rows)(dist) or ()
        recorded = set(rows)
        if (
            not names
            or os.stat(root).st_dev != device
            or any(owned[i][n] > 1 for n in names)
            or not all(_only_recorded(root, n, recorded) for n in names)
        ):
            continue
        scripts = []
        for rel in (r for r in rows if r.startswith("../")):  # outside site-packages: scripts, headers, data
            path = os.path.realpath(os.path.join(root, rel))
            if scripts_dir and target.scripts and os.path.dirname(path) == scripts_dir:
                scripts.append(os.path.join(target.scripts, os.path.basename(path)))
        out.append(_Aside(entries=tuple((i, n) for n in names), scripts=tuple(scripts)))
    return out


def _move_aside(group: _Aside, roots: tuple[str, ...], snap: Snapshot) -> None:
    """Rename the group's entries into the mirror, then unlink its scripts.  If a rename
    fails, put back what was moved and link the group instead (built beside the tree and
    renamed in when complete, so an interrupted copy is never taken for a mirror)."""
    done: list[tuple[int, str]] = []
    try:
        for i, name in group.entries:
            os.rename(os.path.join(roots[i], name), os.path.join(snap.tree(i), name))
            done.append((i, name))
    except OSError:
        for i, name in reversed(done):
            os.rename(os.path.join(snap.tree(i), name), os.path.join(roots[i], name))
        partial = os.path.join(snap.path, "partial")
        for i, name in group.entries:
            _rmtree(partial)
            src = os.path.join(roots[i], name)
            if os.path.isdir(src) and not os.path.islink(src):
                _mirror(src, partial)
            else:
                os.makedirs(snap.path, exist_ok=True)
                _link(src, partial)
            os.rename(partial, os.path.join(snap.tree(i), name))
        return
    for path in group.scripts:
        try:
            os.unlink(path)
        except OSError:  # gone already, or not ours to remove: the manager will see to it
            pass


def take_snapshot(
    target: TargetEnv,
    *,
    plan: dict | None = None,
    log: str | None = None,
    touches=None,
    replaces=frozenset(),
    discard_previous: bool = True,
    whole_prefix: tuple[str, ...] | None = None,
    copied: tuple[str, ...] = (),
    keep_files: tuple[str, ...] = (),
) -> Snapshot:
    """Mirror the target's site dirs and scripts dir; replaces the previous snapshot.

    ``touches``: the projects the install can change (see the module doc); None mirrors all.
    ``replaces``: keys of installed distributions the install will surely replace: set aside.
    ``discard_previous=False`` leaves the previous snapshot in ``<snapshot>.old`` for
    ``discard_previous_snapshot`` to delete later (while the manager runs).
    ``whole_prefix``: mirror the whole prefix instead (a conda install changes more than
    site-packages), all but these top-level names, which restoring leaves alone.
    ``copied``: paths (relative to the prefix) that the manager appends to in place
    (conda's ``conda-meta/history``): copied into the mirror, not linked.
    ``keep_files``: files elsewhere (pixi's manifest and lock) kept as copies; one that does
    not exist yet is removed again by restoring."""
    import shutil

    final = snapshot_dir(target.prefix)
    work = final + ".new"
    if whole_prefix is not None:
        roots: tuple[str, ...] = (target.prefix,)
        touches = replaces = None
    else:
        roots = _distinct(p for p in (*target.site_dirs, target.scripts) if p and os.path.isdir(p))
    identity = prefix_identity(target.prefix)
    outside = [f"{r} (it resolves to {os.path.realpath(r)})" for r in roots if not _inside(r, identity[0])]
    if outside:  # a rollback refuses such a snapshot: refuse it before anything changes
        raise EnvironmentProblem(
            f"the install would write outside the environment {target.prefix}: {outside[0]}",
            details=outside[1:],
            hint="torchup keeps and restores only what is inside the environment; "
            "install into a virtual environment (`--venv DIR`) instead",
            code="outside-prefix",
        )
    _rmtree(work)
    records: dict[str | None, tuple[str, ...] | None] = {}

    def read(dist: Distribution) -> tuple[str, ...] | None:  # each RECORD once (torch 2.13.0's has 12,248 rows)
        if dist.dist_info not in records:
            records[dist.dist_info] = _record_rows(dist)
        return records[dist.dist_info]

    scope = scope_closure(target, touches) if touches is not None else None
    tops = _scoped_tops(target, roots, scope, read) if scope is not None else None
    if tops is None:
        scope = None
    os.makedirs(os.path.dirname(final), exist_ok=True)
    groups = _set_aside(target, roots, frozenset(replaces), os.path.dirname(final), read) if replaces else []
    aside: dict[int, set[str]] = {}
    for group in groups:
        for i, name in group.entries:
            aside.setdefault(i, set()).add(name)
    linked = True
    files = 0
    listed_at = time.time_ns()
    mirrored: dict[str, tuple[str, ...]] = {}
    untouched: dict[str, tuple[str, ...]] = {}
    for i, root in enumerate(roots):
        dst = os.path.join(work, "trees", str(i))
        skip = aside.get(i, set())
        if whole_prefix is not None:
            left = set(whole_prefix)  # whether there now or not: .torchup is created right here
            untouched[str(i)] = tuple(sorted(left))
            n, ok, names = _mirror_some(
                root, dst, _names(root) - left, os.path.join(work, "trees", f"{i}.keep"), skip=left
            )
            mirrored[str(i)] = names
        elif tops is not None and i in tops:
            n, ok, names = _mirror_some(root, dst, tops[i] - skip, os.path.join(work, "trees", f"{i}.keep"), skip=skip)
            mirrored[str(i)] = tuple(sorted({*names, *skip}))
        elif skip:  # mirrored whole but for what is set aside: an empty .keep lists nothing else
            n, ok, names = _mirror_some(
                root, dst, _names(root) - skip, os.path.join(work, "trees", f"{i}.keep"), skip=skip
            )
            mirrored[str(i)] = tuple(sorted({*names, *skip}))
        else:
            n, ok = _mirror(root, dst)
        files += n
        linked = linked and ok
    copies = tuple(rel for rel in copied if whole_prefix is not None and os.path.isfile(os.path.join(roots[0], rel)))
    for rel in copies:  # a link would take the manager's in-place append too
        dst = os.path.join(work, "trees", "0", rel)
        os.unlink(dst)
        shutil.copy2(os.path.join(roots[0], rel), dst)
    kept: dict[str, bool] = {}
    if keep_files:
        os.makedirs(os.path.join(work, "files"))
    for n, path in enumerate(keep_files):
        kept[path] = os.path.isfile(path)
        if kept[path]:
            shutil.copy2(path, os.path.join(work, "files", str(n)))
    snap = Snapshot(
        path=final,
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        prefix=target.prefix,
        prefix_id=identity,
        python=target.executable,
        roots=roots,
        distributions=target.distributions,
        files=files,
        linked=linked,
        plan=plan,
        log=log,
        scope=tuple(sorted(scope)) if scope is not None else None,
        listed_at=listed_at,
        mirrored=mirrored,
        moved={str(i): tuple(sorted(names)) for i, names in aside.items()},
        untouched=untouched,
        copied=copies,
        kept=kept,
    )
    with open(os.path.join(work, "manifest.json"), "w", encoding="utf-8") as fh:
        json.dump(_to_json(snap), fh, indent=1)
    open(os.path.join(work, _UNFINISHED), "w").close()
    old = final + ".old"
    if os.path.exists(final):
        _rmtree(old)
        os.rename(final, old)
    os.rename(work, final)
    if discard_previous:
        _rmtree(old)
    # from here the manifest names every entry set aside: move them (the manager's uninstall)
    for group in groups:
        _move_aside(group, roots, snap)
    return snap


def _distinct(paths) -> tuple[str, ...]:
    """The paths, each directory once (a venv's lib64 is often a link to lib: purelib and
    platlib are then one directory under two names)."""
    seen: set[str] = set()
    out = []
    for p in paths:
        real = os.path.realpath(p)
        if real not in seen:
            seen.add(real)
            out.append(p)
    return tuple(out)


def discard_previous_snapshot(prefix: str) -> None:
    """Delete the snapshot ``take_snapshot(discard_previous=False)`` left behind."""
    _rmtree(snapshot_dir(prefix) + ".old")


def prefix_identity(prefix: str) -> tuple[str, int, int]:
    """What tells this environment from a copy of it (``cp -a``) or the same one moved:
    its real path, and its directory's device and inode."""
    st = os.stat(prefix)
    return os.path.realpath(prefix), st.st_dev, st.st_ino


def _inside(path: str, real_prefix: str) -> bool:
    """Whether ``path`` resolves (symbolic links followed) to ``real_prefix`` or below it."""
    real = os.path.realpath(path)
    return real == real_prefix or real.startswith(real_prefix.rstrip(os.sep) + os.sep)


_PIXI_FILES = ("pixi.toml", "pyproject.toml", "pixi.lock")


def load_snapshot(prefix: str) -> Snapshot | None:
    """The snapshot of the last install into ``prefix``; None when there is none.

    Its manifest names paths relative to ``prefix`` and is trusted only as far as it stays
    there: ``EnvironmentProblem`` when it was taken in another environment (this one is a copy
    of it, or was moved) or names a path that resolves outside the prefix (an edited or
    damaged manifest)."""
    path = os.path.join(snapshot_dir(prefix), "manifest.json")
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise _bad_manifest(prefix, [f"it cannot be read: {exc}"]) from None
    if not isinstance(raw, dict) or raw.get("torchup_snapshot") != SNAPSHOT_FORMAT:
        version = raw.get("torchup_snapshot") if isinstance(raw, dict) else None
        raise _bad_manifest(
            prefix, [f"it is in format {version!r}, not {SNAPSHOT_FORMAT}: another version of torchup wrote it"]
        )
    try:
        where = raw["prefix"]
        recorded = (str(where[0]), int(where[1]), int(where[2]))
        rel_roots = [str(r) for r in raw["roots"]]
    except (KeyError, TypeError, ValueError, IndexError):
        raise _bad_manifest(prefix, ["its 'prefix' or 'roots' is missing or malformed"]) from None
    identity = prefix_identity(prefix)
    if recorded != identity:
        raise EnvironmentProblem(
            f"the snapshot in {snapshot_dir(prefix)} belongs to another environment: " + _elsewhere(recorded, identity),
            hint=f"roll back where the snapshot was taken, if it is still there; here it cannot be trusted and "
            f"nothing was changed: delete {snapshot_dir(prefix)} to drop it",
            code="snapshot-elsewhere",
        )
    roots = tuple(os.path.normpath(os.path.join(prefix, r)) for r in rel_roots)
    copied = tuple(str(c) for c in raw.get("copied") or ())
    kept = {os.path.normpath(os.path.join(prefix, str(k))): bool(v) for k, v in (raw.get("kept") or {}).items()}
    names = {
        key: {str(k): tuple(str(n) for n in v) for k, v in (raw.get(key) or {}).items()}
        for key in ("mirrored", "moved", "untouched")
    }
    problems = _manifest_problems(identity[0], prefix, rel_roots, roots, copied, kept, names)
    if problems:
        raise _bad_manifest(prefix, problems)
    try:
        return _snapshot_from(raw, prefix, identity, roots, copied, kept, names)
    except (KeyError, TypeError, ValueError):
        raise _bad_manifest(prefix, ["a field is missing or malformed"]) from None


def _elsewhere(recorded: tuple[str, int, int], identity: tuple[str, int, int]) -> str:
    """How the environment the snapshot was taken in relates to this one, in words."""
    if recorded[0] == identity[0]:
        return f"{identity[0]} is no longer the directory it was taken in (it was replaced by a copy or recreated)"
    if os.path.exists(recorded[0]):
        return f"it was taken in {recorded[0]}, and this environment ({identity[0]}) is a copy of that one"
    return f"it was taken in {recorded[0]}, which is gone: this environment ({identity[0]}) was moved or copied"


def _snapshot_from(raw: dict, prefix: str, identity, roots, copied, kept, names) -> Snapshot:
    return Snapshot(
        path=snapshot_dir(prefix),
        created=raw["created"],
        prefix=prefix,
        prefix_id=identity,
        python=raw["python"],
        roots=roots,
        distributions=tuple(
            Distribution(name=d["name"], version=d["version"], installer=d.get("installer"), origin=d.get("origin"))
            for d in raw["distributions"]
        ),
        files=raw["files"],
        linked=raw["linked"],
        plan=raw.get("plan"),
        log=raw.get("log"),
        scope=tuple(raw["scope"]) if raw.get("scope") is not None else None,
        listed_at=int(raw["listed_at"]),
        mirrored=names["mirrored"],
        moved=names["moved"],
        untouched=names["untouched"],
        copied=copied,
        kept=kept,
        status="installing" if os.path.exists(os.path.join(snapshot_dir(prefix), _UNFINISHED)) else "done",
    )


def _manifest_problems(real_prefix: str, prefix: str, rel_roots, roots, copied, kept, names) -> list[str]:
    """Every path of a manifest that leaves the prefix (symbolic links followed), each as a sentence."""
    problems = []
    for rel, root in zip(rel_roots, roots):
        if os.path.isabs(rel) or not _inside(root, real_prefix):
            problems.append(f"root {rel!r} is outside the environment")
    for i in range(len(roots)):
        tree = os.path.join(snapshot_dir(prefix), "trees", str(i))
        if not _inside(tree, real_prefix):
            problems.append(f"trees/{i} resolves outside the environment, to {os.path.realpath(tree)}")
    for key, per_root in names.items():
        for i, entries in per_root.items():
            if not i.isdigit() or int(i) >= len(roots):
                problems.append(f"{key} names root {i!r}, which does not exist")
            bad = [n for n in entries if n in ("", ".", "..") or "/" in n or os.sep in n]
            problems += [f"{key} names {n!r}, which is not an entry of a directory" for n in bad]
    for rel in copied:
        if os.path.isabs(rel) or not roots or not _inside(os.path.join(roots[0], rel), real_prefix):
            problems.append(f"copied file {rel!r} is outside the environment")
    # a kept file is inside the prefix (the guard's pip.conf and constraints), or it is pixi's
    # manifest or lock, the only files kept outside it: <workspace>/.pixi/envs/<env>
    workspace = os.path.dirname(os.path.dirname(os.path.dirname(os.path.normpath(prefix))))
    for path in kept:
        if os.path.isabs(path) and _inside(path, real_prefix):
            continue
        if os.path.dirname(path) != workspace or os.path.basename(path) not in _PIXI_FILES:
            problems.append(
                f"kept file {path} is neither inside the environment nor its pixi workspace's manifest or lock"
            )
    return problems


def _bad_manifest(prefix: str, problems: list[str]) -> EnvironmentProblem:
    return EnvironmentProblem(
        f"the snapshot's manifest in {snapshot_dir(prefix)} cannot be trusted: {problems[0]}",
        details=problems[1:],
        hint=f"nothing was changed; it was edited, damaged or written by another torchup: delete "
        f"{snapshot_dir(prefix)} to drop it (the environment stays as it is)",
        code="snapshot-invalid",
    )


def mark(snap: Snapshot, status: str) -> Snapshot:
    """Record that the install the snapshot belongs to has ended ("installed", "restored",
    "rolled back").  Only "unfinished or not" is kept, as the presence of an empty marker
    file: removing it needs no free space, which matters after a disk-full failure."""
    from torchup.record import replace

    try:
        os.unlink(os.path.join(snap.path, _UNFINISHED))
    except FileNotFoundError:
        pass
    return replace(snap, status=status)


def restore(snap: Snapshot, *, dry_run: bool = False) -> RestoreReport:
    """Make every live root equal to its mirror again (``dry_run``: change nothing, and
    report what that would take)."""
    removed = restored = 0
    errors: list[str] = []
    removing: list[str] = []
    for i, root in enumerate(snap.roots):
        names = snap.mirrored.get(str(i))
        keep = None
        moved = snap.moved.get(str(i), ())
        # set aside but not in the mirror: never moved (the snapshot was stopped first), so
        # still live as before the install.  What was moved is linked back by the sync, and
        # stays in the mirror for a later rollback.
        leave = frozenset(n for n in moved if not os.path.lexists(os.path.join(snap.tree(i), n)))
        leave |= frozenset(snap.untouched.get(str(i), ()))
        if names is not None:
            try:
                with open(snap.tree(i) + ".keep", encoding="utf-8", errors="surrogateescape") as fh:
                    listed = dict(p.rsplit("\t", 1) for p in fh.read().split("\0") if p)
                keep = (frozenset(names) - leave, listed)
            except OSError as exc:  # without the list, nothing outside the mirror can be told apart
                errors.append(f"cannot read the snapshot's listing of {root}: {exc.strerror or exc}")
                continue
        copies = frozenset(os.path.normpath(c) for c in snap.copied) if i == 0 else frozenset()
        r, s = _sync(
            snap.tree(i),
            root,
            snap.linked,
            errors,
            keep,
            leave,
            copies,
            dry=dry_run,
            removing=removing,
            since=snap.listed_at,
        )
        removed += r
        restored += s
    for n, (path, existed) in enumerate(snap.kept.items()):
        if dry_run:
            continue  # a rollback says what it does with them itself (save_edited_files)
        r, s = _put_back(os.path.join(snap.path, "files", str(n)) if existed else None, path, errors)
        removed += r
        restored += s
    return RestoreReport(removed=removed, restored=restored, errors=tuple(errors), removing=tuple(removing))


def keep_installed_files(snap: Snapshot) -> None:
    """After a successful install: list every path of each root as the install left it
    (``trees/<i>.after``), and copy each kept file likewise (``files/<n>.after``), so that a
    rollback can tell what was added or edited since from what the install did."""
    import shutil

    for i, root in enumerate(snap.roots):
        try:
            with open(snap.tree(i) + ".after", "w", encoding="utf-8", errors="surrogateescape") as fh:
                fh.write("\0".join(_paths(root, frozenset(snap.untouched.get(str(i), ())))))
        except OSError:  # without it a rollback cannot tell; it removes what the install did not add unasked
            pass
    for n, path in enumerate(snap.kept):
        try:
            if os.path.isfile(path):
                shutil.copy2(path, os.path.join(snap.path, "files", f"{n}.after"))
        except OSError:  # without the copy a rollback keeps the file as it finds it (see below)
            pass


def added_since(snap: Snapshot, removing) -> list[str] | None:
    """Of the paths a restore removes (``removing``), those that were not there when the install
    ended: added since by someone else, each named once (a directory, not also what it holds).
    None when the install did not end well (nothing was listed then: all of it is the install's)."""
    after: set[str] = set()
    for i, root in enumerate(snap.roots):
        try:
            with open(snap.tree(i) + ".after", encoding="utf-8", errors="surrogateescape") as fh:
                after |= {os.path.join(root, p) for p in fh.read().split("\0") if p}
        except OSError:
            return None
    new = sorted(
        p for p in removing if p not in after and "__pycache__" not in p.split(os.sep) and not p.endswith(".pyc")
    )  # bytecode written since by importing is not the user's
    tops = set(new)
    return [p for p in new if os.path.dirname(p) not in tops]


def save_edited_files(snap: Snapshot) -> list[tuple[str, str]]:
    """Before a rollback: each kept file changed since the install (it differs from the copy
    ``keep_installed_files`` made, or there is none, and from the one before the install) is
    copied to ``<file>.before-rollback``, so that the rollback loses none of the user's edits.
    Returns (file, its copy) for each."""
    import shutil

    saved = []
    for n, (path, existed) in enumerate(snap.kept.items()):
        if not os.path.isfile(path):
            continue
        files = os.path.join(snap.path, "files")
        if _same_file(os.path.join(files, f"{n}.after"), path) or (
            existed and _same_file(os.path.join(files, str(n)), path)
        ):
            continue
        copy = path + ".before-rollback"
        k = 1
        while os.path.lexists(copy):
            k += 1
            copy = f"{path}.before-rollback-{k}"
        shutil.copy2(path, copy)
        saved.append((path, copy))
    return saved


def _same_file(a: str, b: str) -> bool:
    try:
        with open(a, "rb") as fa, open(b, "rb") as fb:
            return fa.read() == fb.read()
    except OSError:
        return False


def _put_back(copy: str | None, path: str, errors: list[str]) -> tuple[int, int]:
    """Make the file ``path`` what the snapshot kept of it (``copy``; None: it did not exist).
    A symbolic link is written through, and stays a link."""
    import shutil

    if copy is not None and os.path.islink(path):
        path = os.path.realpath(path)
    try:
        if copy is None:
            if os.path.lexists(path):
                os.unlink(path)
                return 1, 0
            return 0, 0
        if os.path.isfile(path) and _same_file(copy, path):
            return 0, 0
        tmp = path + ".torchup-restore"
        shutil.copy2(copy, tmp)
        os.replace(tmp, path)
        return 0, 1
    except OSError as exc:
        errors.append(f"cannot restore {path}: {exc.strerror or exc}")
        return 0, 0


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


def _names(root: str) -> set[str]:
    return set(os.listdir(root))


def _mirror_some(
    src: str, dst: str, names: set[str], keep_path: str, skip: AbstractSet[str] = frozenset()
) -> tuple[int, bool, tuple[str, ...]]:
    """Mirror the top-level entries ``names`` of ``src`` whole; list the paths of every
    other entry (bytecode caches aside) in ``keep_path``, but for ``skip`` (set aside by
    the caller).  Returns (files, all linked, the names mirrored)."""
    count = 0
    linked = True
    done: list[str] = []
    keep: list[str] = []
    os.makedirs(dst, exist_ok=True)
    with os.scandir(src) as it:
        entries = list(it)
    for entry in entries:
        target = os.path.join(dst, entry.name)
        if entry.name in skip:
            continue
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


def _paths(root: str, leave: frozenset[str] = frozenset()) -> list[str]:
    """Every path under ``root``, relative, but for bytecode caches and the top-level names
    ``leave``: names only, no stat (the file type comes with the directory entry)."""
    out: list[str] = []
    stack = [("", root)]
    while stack:
        rel, path = stack.pop()
        try:
            it = os.scandir(path)
        except OSError:
            continue
        with it:
            for entry in it:
                if entry.name == "__pycache__" or (not rel and entry.name in leave):
                    continue
                sub = os.path.join(rel, entry.name) if rel else entry.name
                out.append(sub)
                if entry.is_dir(follow_symlinks=False):
                    stack.append((sub, entry.path))
    return out


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


def _replaced(st: os.stat_result, inode: str, since: int) -> bool:
    """Whether a listed file (listed with ``inode`` at ``since``, in ns) is not the one listed.
    The inode alone does not tell: pip deletes a file it overwrites and writes it anew, and
    the filesystem gives the new file the number just freed.  But a file written since the
    listing has an mtime after it (pip and uv write the time of writing, not the wheel's), and
    comparing it with the listing's time needs no stat while listing (a stat per listed file
    made listing 30,000 files 2 to 7 times slower, see docs/install.md)."""
    return str(st.st_ino) != inode or st.st_mtime_ns > since


def _link(src: str, dst: str) -> bool:
    import shutil

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


def _sync(
    mirror: str,
    live: str,
    linked: bool,
    errors: list[str],
    keep: tuple[frozenset[str], dict[str, str]] | None = None,
    leave: frozenset[str] = frozenset(),
    copies: frozenset[str] = frozenset(),
    dry: bool = False,
    removing: list[str] | None = None,
    since: int = 0,
) -> tuple[int, int]:
    """Make ``live`` equal to ``mirror`` (``dry``: only count what that takes).  Each path
    removed (or, ``dry``, to be removed) is appended to ``removing``.  With ``keep`` (names mirrored, paths listed) the
    mirror holds only some top-level entries: listed paths outside them are left alone
    (and bytecode caches in them), anything else not in the mirror is removed; a listed
    file the install replaced cannot be put back and is reported.  Top-level names in
    ``leave`` are not looked at; paths in ``copies`` are compared and put back as copies."""
    import shutil

    want = _entries(mirror)
    have = _entries(live)
    if leave:
        have = {rel: st for rel, st in have.items() if rel.partition(os.sep)[0] not in leave}
    removed = restored = 0
    taken: set[str] = set()
    # deepest first, so a directory is emptied before it is removed
    for rel in sorted(have, key=lambda p: p.count(os.sep), reverse=True):
        st = have[rel]
        w = want.get(rel)
        if keep is not None and w is None:
            top = rel.partition(os.sep)[0]
            if top not in keep[0] and (rel in keep[1] or "__pycache__" in rel.split(os.sep)):
                if rel in keep[1] and not stat.S_ISDIR(st.st_mode) and _replaced(st, keep[1][rel], since):
                    errors.append(
                        f"{os.path.join(live, rel)} was replaced since the snapshot and is outside "
                        "its scope: it cannot be put back"
                    )
                continue
        if w is not None and _same(
            w, st, linked and rel not in copies, os.path.join(mirror, rel), os.path.join(live, rel)
        ):
            continue
        if w is not None and stat.S_ISDIR(w.st_mode) and stat.S_ISDIR(st.st_mode):
            continue
        try:
            path = os.path.join(live, rel)
            if dry:
                pass
            elif stat.S_ISDIR(st.st_mode):
                shutil.rmtree(path)
            elif os.path.lexists(path):
                os.unlink(path)
            removed += 1
            taken.add(rel)
            if removing is not None:
                removing.append(path)
        except OSError as exc:
            errors.append(f"cannot remove {os.path.join(live, rel)}: {exc.strerror or exc}")
    if keep is not None:
        gone = [rel for rel in keep[1] if rel not in have and rel.partition(os.sep)[0] not in leave | keep[0]]
        errors += [
            f"{os.path.join(live, rel)} was removed since the snapshot and is outside its scope: it cannot be put back"
            for rel in sorted(gone)
        ]
    for rel in sorted(want, key=lambda p: p.count(os.sep)):
        w = want[rel]
        src, dst = os.path.join(mirror, rel), os.path.join(live, rel)
        if os.path.lexists(dst) and rel not in taken:
            continue
        try:
            if dry:
                pass
            elif stat.S_ISLNK(w.st_mode):
                os.symlink(os.readlink(src), dst)
            elif stat.S_ISDIR(w.st_mode):
                os.mkdir(dst)
            elif linked and rel not in copies:
                os.link(src, dst)
            else:
                shutil.copy2(src, dst)
            restored += 1
        except OSError as exc:
            errors.append(f"cannot restore {dst}: {exc.strerror or exc}")
    return removed, restored


def _rmtree(path: str) -> None:
    import shutil

    if os.path.lexists(path):
        shutil.rmtree(path, ignore_errors=True)


def _to_json(snap: Snapshot) -> dict:
    return {
        "torchup_snapshot": SNAPSHOT_FORMAT,
        "created": snap.created,
        "prefix": list(snap.prefix_id),
        "python": snap.python,
        # relative to the prefix: a copy of the environment does not point back into the original
        "roots": [os.path.relpath(os.path.realpath(r), snap.prefix_id[0]) for r in snap.roots],
        "distributions": [d.to_json() for d in snap.distributions],
        "files": snap.files,
        "linked": snap.linked,
        "plan": snap.plan,
        "log": snap.log,
        "scope": list(snap.scope) if snap.scope is not None else None,
        "listed_at": snap.listed_at,
        "mirrored": {k: list(v) for k, v in snap.mirrored.items()},
        "moved": {k: list(v) for k, v in snap.moved.items()},
        "untouched": {k: list(v) for k, v in snap.untouched.items()},
        "copied": list(snap.copied),
        "kept": {os.path.relpath(p, snap.prefix): v for p, v in snap.kept.items()},
    }
