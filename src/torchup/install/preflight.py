"""Preflight: everything checked before the environment is touched.

Pure judges over plain data (``pep668_problem``, ``writable_problem``,
``replacing``, ``dependents_at_risk``, ``disk_problems``, ``index_problem``)
plus the few reads that feed them (free space, index pages).  A problem is a
``TorchupError`` carrying the message and the fix; notes are sentences.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping

from torchup.errors import EnvironmentProblem, NetworkError, TorchupError
from torchup.http import DEADLINE, Client, Response, proxies_for, resolve_pypi_index, strip_credentials
from torchup.install import conda as _conda
from torchup.install import index_check
from torchup.install.target import TargetEnv
from torchup.metadata import canonical_name, leading_name, requirement, requires_dist
from torchup.output import redact_url
from torchup.plan import Plan
from torchup.record import record
from torchup.wheeltags import parse_wheel_name

__all__ = [
    "TORCH_FAMILY",
    "DiskNeed",
    "Preflight",
    "dependents_at_risk",
    "disk_need",
    "disk_problems",
    "find_wheel",
    "index_problem",
    "index_problems",
    "links_out_problem",
    "pep668_problem",
    "replacing",
    "run_preflight",
    "writable_problem",
]

TORCH_FAMILY = ("torch", "torchvision", "torchaudio")
INDEX_TIMEOUT_S = 15.0
# Unpacked size / wheel size of torch 2.13.0+cpu cp311 manylinux_2_28 x86_64, measured on
# /opt/wheels (191,794,682 bytes -> 699,298,109 bytes in 12,248 files: 3.65x); rounded up,
# and .pyc files come on top.
UNPACK_FACTOR = 4.5
MARGIN = 1.25  # on top of every estimate: the estimate leaves out small unpinned dependencies


@record
class DiskNeed:
    download: int  # bytes of wheels fetched (temp dir)
    unpacked: int  # bytes written into site-packages
    cache: int  # bytes kept in the manager's cache
    wheels: tuple[str, ...] = ()  # the files the estimate counts


@record
class Preflight:
    problems: tuple[TorchupError, ...]
    notes: tuple[str, ...]
    replacing: str | None
    at_risk: tuple[str, ...]
    need: DiskNeed | None
    # every project the install can add, replace or remove, as far as the wheels' metadata
    # tells (the snapshot is scoped to it); None: not known, snapshot everything
    touches: frozenset[str] | None = None
    # why ``touches`` is not known, when the index's metadata was read and fell short (shown
    # with the snapshot: a whole snapshot is safe, but slower, and the log says why)
    scope_unknown: str | None = None
    # installed distributions the install will surely replace: an exact pin (the plan's, or one
    # in the new wheels' metadata) that the installed version does not satisfy
    replaces: frozenset[str] = frozenset()

    @property
    def ok(self) -> bool:
        return not self.problems


# --- pure judges ----------------------------------------------------------------
def venv_command(python: str, where: str = ".venv") -> str:
    return f"{shlex.quote(python)} -m venv {shlex.quote(where)}"


def pep668_problem(target: TargetEnv, *, torchup_args: str = "") -> TorchupError | None:
    """A system Python marked EXTERNALLY-MANAGED (PEP 668) is not ours to change."""
    if not target.externally_managed:
        return None
    marker = target.externally_managed.get("path", "EXTERNALLY-MANAGED")
    first = (target.externally_managed.get("message") or "").strip().splitlines()
    return EnvironmentProblem(
        f"{target.executable} is a system Python marked externally-managed (PEP 668, {marker}); "
        "torchup will not install into it",
        details=first[:1],
        hint=f"install into a virtual environment: `{venv_command(target.executable)}` then "
        f"`torchup install --python .venv/bin/python{torchup_args}`, or let torchup create it: "
        f"`torchup install --venv .venv{torchup_args}`",
        code="externally-managed",
    )


def writable_problem(target: TargetEnv) -> TorchupError | None:
    """Every directory the install writes must accept a new file (no sudo, ever)."""
    if not target.not_writable:
        return None
    details = [f"{path}: {why}" for path, why in sorted(target.not_writable.items())]
    return EnvironmentProblem(
        f"the environment of {target.executable} cannot be written",
        details=details,
        hint="torchup never uses sudo: install into a virtual environment you own "
        f"(`{venv_command(target.executable)}`, or `torchup install --venv DIR`), "
        "or fix the permissions / read-only mount of the directories above",
        code="not-writable",
    )


def links_out_problem(target: TargetEnv, touches) -> TorchupError | None:
    """A symbolic link, in what the install can change, that leads out of the environment:
    pip would write through it and uv delete through it, where no snapshot reaches."""
    from torchup.install.snapshot import links_out

    links = links_out(target, touches)
    if not links:
        return None
    where = [f"{link} -> {real}" for link, real in links]
    return EnvironmentProblem(
        f"{links[0][0]} is a symbolic link to {links[0][1]}, outside the environment {target.prefix}: the install "
        "would change files there that torchup cannot snapshot or restore",
        details=[f"also: {w}" for w in where[1:10]] + ([f"and {len(where) - 10} more"] if len(where) > 10 else []),
        hint="replace the link with a real copy (or remove it) before installing, or install into a fresh "
        "environment with --venv DIR",
        code="link-outside-env",
    )


def replacing(target: TargetEnv, plan: Plan) -> str | None:
    """'replacing torch 2.9.1+cpu with 2.14.1+cu126', or None when torch is absent or the same."""
    parts = []
    for name, new in (("torch", plan.torch), ("torchvision", plan.torchvision), ("torchaudio", plan.torchaudio)):
        old = target.find(name)
        if old is not None and new and not _same_version(old.version, new):
            parts.append(f"{name} {old.version} with {new}")
    return ("replacing " + ", ".join(parts)) if parts else None


def replaced_keys(target: TargetEnv, pins, *, family=()) -> frozenset[str]:
    """Pure: keys of the installed distributions the install replaces.

    ``pins`` ((name, version) pairs, from the new wheels' metadata): replaced when the
    installed version does not satisfy ``==version``, by the PEP 440 rule the managers use
    (``==2.14.1`` accepts ``2.14.1+cpu``, so the manager keeps it).  ``family`` (the plan's
    torch, torchvision, torchaudio): replaced whenever the installed build is not the one
    planned, ``2.14.1+cpu`` for a plan of PyPI's ``2.14.1`` included: set aside, it no
    longer satisfies the pin, and the manager installs the planned build."""
    out = set()
    for name, version in family:
        have = target.find(name)
        if have is not None and version and not _same_version(have.version, version):
            out.add(have.key)
    for name, version in pins:
        have = target.find(name)
        if have is None or not version:
            continue
        try:
            req = requirement(f"{name}=={version}")
        except ValueError:  # packaging's InvalidRequirement
            continue
        if not _accepts(req, have.version):
            out.add(have.key)
    return frozenset(out)


def _same_version(a: str, b: str) -> bool:
    """Equal as PEP 440 versions, local labels included (``2.14.1+cpu`` != ``2.14.1``)."""
    from packaging.version import InvalidVersion, Version

    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def dependents_at_risk(target: TargetEnv, plan: Plan) -> list[str]:
    """Installed packages whose requirements on the torch family the plan breaks."""
    from packaging.version import InvalidVersion, Version

    new = {"torch": plan.torch, "torchvision": plan.torchvision, "torchaudio": plan.torchaudio}
    env = dict(target.markers, extra="")
    out = []
    for dist in target.distributions:
        if dist.key in new:
            continue
        for text in dist.requires:
            if not new.get(leading_name(text)):
                continue  # not on the family (or no requirement at all): parsed no further
            try:
                req = requirement(text)
            except ValueError:  # packaging's InvalidRequirement
                continue
            name = canonical_name(req.name)
            version = new.get(name)
            if not version:
                continue
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            try:
                ok = req.specifier.contains(Version(version), prereleases=True)
            except InvalidVersion:
                continue
            if not ok:
                out.append(
                    f"{dist.name} {dist.version} requires {name}{req.specifier}; the plan installs {name} {new[name]}"
                )
    return out


def disk_need(sizes: Mapping[str, int]) -> DiskNeed:
    """Bytes needed for wheels of the given sizes: downloaded, unpacked and cached."""
    total = sum(sizes.values())
    return DiskNeed(
        download=int(total * MARGIN),
        unpacked=int(total * UNPACK_FACTOR * MARGIN),
        cache=int(total * MARGIN),
        wheels=tuple(sorted(sizes)),
    )


def disk_problems(need: DiskNeed, places: Mapping[str, tuple[str, int, int]]) -> list[TorchupError]:
    """``places``: role ("site", "temp", "cache") -> (path, device id, free bytes).
    Roles on the same device add up."""
    by_dev: dict[int, list[tuple[str, str, int]]] = {}
    amount = {"site": need.unpacked, "temp": need.download, "cache": need.cache}
    for role, (path, dev, free) in places.items():
        by_dev.setdefault(dev, []).append((role, path, free))
    out: list[TorchupError] = []
    for roles in by_dev.values():
        wanted = sum(amount[r] for r, _, _ in roles)
        free = min(f for _, _, f in roles)
        if free < wanted:
            where = ", ".join(f"{r} {p}" for r, p, _ in roles)
            out.append(
                EnvironmentProblem(
                    f"not enough free disk: the install needs about {_gb(wanted)} on the filesystem of "
                    f"{where}, which has {_gb(free)} free",
                    hint="free some space, point TMPDIR or the package manager's cache "
                    "(PIP_CACHE_DIR / UV_CACHE_DIR) at a larger disk, or create the venv there (--venv DIR)",
                    code="disk-full",
                )
            )
    return out


def index_problem(resp: Response, what: str, env: Mapping[str, str]) -> TorchupError | None:
    """Why ``what`` (PyTorch's index, the default index) cannot be used, with a hint."""
    if resp.ok:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(strip_credentials(resp.url)[0])
    used = proxies_for(env, parts.scheme, parts.netloc) if parts.scheme else {}
    proxy = [
        k
        for k in (f"{parts.scheme}_proxy", f"{parts.scheme.upper()}_PROXY", "all_proxy", "ALL_PROXY")
        if used and env.get(k)
    ]
    proxy_hint = (
        f"the proxy from ${proxy[0]} is used; check it (NO_PROXY names the hosts that go direct)"
        if proxy
        else "behind a proxy? set HTTPS_PROXY (pip and uv read it too)"
    )
    if resp.failure == DEADLINE:
        hint = "torchup's --timeout covers the index checks too: raise it, or use a faster mirror with --index-base"
    elif resp.failure == "certificate":
        hint = (
            "a proxy or firewall re-signs TLS: point PIP_CERT / SSL_CERT_FILE at its CA bundle "
            "(uv: --native-tls or SSL_CERT_FILE)"
        )
    elif resp.status in (401, 403, 407):
        hint = f"the server refused access ({resp.status}); {proxy_hint}, or use a mirror with --index-base"
    elif resp.status is not None and resp.status >= 500:
        hint = "the index is failing on its side; try again later, or use a mirror with --index-base"
    elif resp.status is not None:
        hint = "the index does not have this page; is --index-base right?"
    else:
        hint = f"{proxy_hint}; offline? use a mirror with --index-base"
    why = resp.failure or f"HTTP {resp.status}"
    return NetworkError(
        f"{what} did not answer: {redact_url(resp.url)}: {why}"
        + (f" ({resp.detail})" if resp.detail and resp.detail not in why else ""),
        hint=hint,
        code="index-timeout" if resp.failure == DEADLINE else "index-unreachable",
    )


_HREF = re.compile(r"""href=["']([^"']+)["']""", re.I)


def find_wheel(page: str, base_url: str, project: str, version: str, markers: Mapping[str, str]) -> str | None:
    """The URL of the wheel of ``project==version`` that fits the target, from a PEP 503 page."""
    from urllib.parse import urljoin

    from packaging.version import Version

    py = "cp" + markers.get("python_version", "").replace(".", "")
    machine = markers.get("platform_machine", "")
    want = Version(version)
    best = None
    for href in _HREF.findall(page):
        url = urljoin(base_url, href)
        filename = url.split("#")[0].rsplit("/", 1)[-1]
        from urllib.parse import unquote

        filename = unquote(filename)
        if not filename.endswith(".whl"):
            continue
        try:
            name, ver, _, tags = parse_wheel_name(filename)
        except ValueError:
            continue
        if name != canonical_name(project) or Version(ver) != want:
            continue
        if any(
            interpreter in (py, "py3") and (plat == "any" or plat.endswith(machine)) for interpreter, _, plat in tags
        ):
            best = url.split("#")[0]
            break
    return best


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


# --- reads ------------------------------------------------------------------------
def _free(path: str) -> tuple[str, int, int]:
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    st = os.statvfs(probe)
    return path, os.stat(probe).st_dev, st.f_bavail * st.f_frsize


def cache_dir(manager: str, env: Mapping[str, str]) -> str:
    home = env.get("HOME") or os.path.expanduser("~")
    xdg = env.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    if manager == "uv":
        return env.get("UV_CACHE_DIR") or os.path.join(xdg, "uv")
    return env.get("PIP_CACHE_DIR") or os.path.join(xdg, "pip")


def index_pages(plan: Plan, client: Client) -> dict[str, Response]:
    """The index pages of the plan's torch family (``{"torch": page, ...}``), fetched together.
    They depend on the plan alone, so ``install`` asks for them while it inspects the target."""
    if not plan.index_url:
        return {}
    base = plan.index_url.rstrip("/") + "/"
    names = [n for n, v in zip(TORCH_FAMILY, (plan.torch, plan.torchvision, plan.torchaudio)) if v]
    return dict(zip(names, client.fetch_all([("GET", base + n + "/") for n in names])))


def _sizes(
    plan: Plan, target: TargetEnv, client: Client, pages: Mapping[str, Response] | None
) -> tuple[dict[str, int], frozenset[str] | None, list[tuple[str, str]], str | None]:
    """Sizes of the torch-family wheels and their exactly pinned dependencies, from
    the index: HEAD Content-Length, and PEP 658 metadata for the pins.  Requests go
    out concurrently, in two rounds (the family, then its pinned dependencies).

    Also what the install can touch (``touches``): the family and every project named in
    the Requires-Dist of the new family wheels and of the new or changed pinned wheels.
    None when that is not known for sure: a wheel without metadata, a required project
    that is not installed and not pinned (its own dependencies are unknown), or an
    installed one whose version the new requirement does not accept (it would be
    replaced by a version whose dependencies are unknown).

    And the exact pins found in that metadata whose installed version differs, and why
    ``touches`` is None (a sentence), when it is."""

    if not plan.index_url:
        return {}, None, [], None
    base = plan.index_url.rstrip("/") + "/"
    family = [(n, v) for n, v in zip(TORCH_FAMILY, (plan.torch, plan.torchvision, plan.torchaudio)) if v]
    sizes: dict[str, int] = {}
    env_m = dict(target.markers, extra="")
    touches: set[str] | None = {canonical_name(n) for n, _ in family}
    unknown: list[str] = []  # why touches became None, the first reason

    def wheels_of(pairs: list[tuple[str, str]], known: dict[str, Response]) -> list[str]:
        todo = [(n, v) for n, v in pairs if n not in known]
        pages = client.fetch_all([("GET", base + n + "/") for n, _ in todo])
        known.update({n: p for (n, _), p in zip(todo, pages)})
        urls = []
        for name, version in pairs:
            page = known[name]
            if page.ok:
                url = find_wheel(page.body.decode("utf-8", "replace"), page.url, name, version, target.markers)
                if url:
                    urls.append(url)
        return urls

    def head(urls: list[str], meta_urls: list[str]) -> list[Response]:
        asks = [("HEAD", u) for u in urls] + [("GET", u + ".metadata") for u in meta_urls]
        answers = client.fetch_all(asks)
        for url, resp in zip(urls, answers):
            try:
                sizes[url.rsplit("/", 1)[-1]] = int(resp.headers.get("Content-Length", ""))
            except ValueError:
                pass
        return answers[len(urls) :]

    def scan(metas: list[Response], expected: int, pinned: set[str]) -> list[tuple[str, str]]:
        """Add what ``metas`` require to ``touches``; return their changed exact pins."""
        nonlocal touches
        if len(metas) != expected or not all(m.ok for m in metas):
            failed = [
                f"{m.url}: {m.failure or f'HTTP {m.status}'} {m.detail or ''}".rstrip() for m in metas if not m.ok
            ]
            unknown.append(
                failed[0] if failed else f"{expected - len(metas)} of {expected} wheels not found on their index pages"
            )
            touches = None
        out: list[tuple[str, str]] = []
        for meta in metas:
            if not meta.ok:
                continue
            for req in requires_dist(meta.body.decode("utf-8", "replace"), env_m):
                key = canonical_name(req.name)
                exact = [s.version for s in req.specifier if s.operator in ("==", "===") and "*" not in s.version]
                have = target.find(req.name)
                if touches is not None:
                    touches.add(key)
                    if have is None and not exact and key not in pinned:
                        unknown.append(f"{req.name} is required, not installed and not pinned")
                        touches = None
                    elif have is not None and not _accepts(req, have.version) and not exact:
                        unknown.append(f"{req.name} {have.version} is installed and {req} asks for another")
                        touches = None
                if exact and key not in pinned and (have is None or have.version != exact[0]):
                    out.append((req.name, exact[0]))
                    pinned.add(key)
        return out

    family_urls = wheels_of(family, dict(pages or {}))
    metas = head(family_urls, family_urls)
    changed = scan(metas, len(family), set())
    pins = [(n, v) for n, v in changed if target.find(n) is None]  # new downloads: counted for disk
    known: dict[str, Response] = {}
    pin_urls = wheels_of(changed, known)
    pin_metas = head(wheels_of(pins, known), pin_urls if touches is not None else [])
    if touches is not None:
        changed += scan(pin_metas, len(changed), {canonical_name(n) for n, _ in changed})
    return sizes, (frozenset(touches) if touches is not None else None), changed, (unknown[0] if unknown else None)


def _accepts(req, version: str) -> bool:
    from packaging.version import InvalidVersion

    try:
        return req.specifier.contains(version, prereleases=True)
    except InvalidVersion:
        return False


def platform_problem(plan: Plan, target: TargetEnv) -> TorchupError | None:
    """A plan (from a file) made for another OS, architecture or Python than the target
    interpreter's: its wheels cannot install there, and a manager would fail or pick something
    else.  Pure; a field the plan or the target does not state is not compared."""
    from torchup.errors import UsageError
    from torchup.machine import normalise_arch, normalise_os

    markers = target.markers
    have = {
        "OS": normalise_os(markers.get("sys_platform", "")),
        "architecture": normalise_arch(markers.get("platform_machine", "")),
        "Python": markers.get("python_version", "") + ("t" if "t" in target.platform.get("abiflags", "") else ""),
    }
    want = {
        "OS": normalise_os(plan.os or ""),
        "architecture": normalise_arch(plan.arch or ""),
        "Python": plan.python or "",
    }
    wrong = [
        f"{what} {want[what]} (the target's is {have[what]})"
        for what in want
        if want[what] and have[what] and want[what] != have[what]
    ]
    if not wrong:
        return None
    return UsageError(
        f"the plan was made for another machine than the target {target.executable}: " + ", ".join(wrong),
        hint=f"plan for this target: torchup plan --json --python {shlex.quote(target.executable)} > plan.json",
    )


def run_preflight(
    plan: Plan,
    target: TargetEnv,
    *,
    manager: str,
    env: Mapping[str, str],
    check_network: bool = True,
    torchup_args: str = "",
    runner=None,
    argv: list[str] | None = None,
    pages: Mapping[str, Response] | None = None,
    deadline: float | None = None,
) -> Preflight:
    """Every check, collected (not stopped at the first problem).  ``argv``: the manager's
    command, whose every requirement the index must have for this target; ``pages``: the
    family's index pages when already fetched (``index_pages``); ``deadline``: a
    ``time.monotonic()`` value no index request outlives."""
    problems: list[TorchupError] = []
    notes: list[str] = []
    for p in (
        platform_problem(plan, target),
        pep668_problem(target, torchup_args=torchup_args),
        writable_problem(target),
    ):
        if p is not None:
            problems.append(p)
    client = Client(env, timeout=INDEX_TIMEOUT_S, deadline=deadline)
    pages = dict(pages or {})
    conda = manager in _conda.CONDA_MANAGERS or manager == "pixi"
    if conda:  # they read conda-forge, not the wheel indexes
        if check_network:
            notes.append(
                f"{manager} contacts conda-forge and sizes the download itself: "
                "torchup did not check the network or the free disk"
            )
        check_network = False
    if manager == "pixi":
        p = _pixi_problem(plan, target)
        if p is not None:
            problems.append(p)
    elif _in_pixi_workspace(target.prefix):
        notes.append(
            f"{target.prefix} is a pixi environment: the next `pixi install` there puts back what its "
            "pixi.toml says; --manager pixi records the change in the workspace instead"
        )
    if check_network:
        problems += index_problems(
            plan, target, argv=argv, env=env, client=client, pages=pages, runner=runner, notes=notes
        )
        if plan.stack and not conda:
            problems += stack_problems(plan, target, env=env, client=client, runner=runner, notes=notes)
    need = None
    touches = None
    scope_unknown = None
    pinned: list[tuple[str, str]] = []
    if check_network and not any(isinstance(p, NetworkError) for p in problems):
        sizes, touches, pinned, scope_unknown = _sizes(plan, target, client, pages)
        if client.remaining() <= 0:  # some sizes and metadata never came: say so, not "ok"
            problems.append(
                NetworkError(
                    "the index checks did not finish within --timeout (the wheel sizes and "
                    f"metadata from {redact_url(plan.index_url or '')} were still coming)",
                    hint="raise --timeout, or use a faster mirror with --index-base",
                    code="index-timeout",
                )
            )
        elif sizes:
            need = disk_need(sizes)
            places = {
                "site": _free(target.site_dirs[0]) if target.site_dirs else _free(target.prefix),
                "temp": _free(env.get("TMPDIR") or "/tmp"),
                "cache": _free(cache_dir(manager, env)),
            }
            problems += disk_problems(need, places)
        else:
            notes.append("the index did not say how large the wheels are: free disk was not checked")
    if plan.stack:  # the stack's own dependencies are not read: whatever the managers resolve
        touches = None
        scope_unknown = "the dependencies of the packages built against torch are not read"
    if not conda:
        p = links_out_problem(target, touches if touches is not None else TORCH_FAMILY)
        if p is not None:
            problems.append(p)
    return Preflight(
        problems=tuple(problems),
        notes=tuple(notes),
        replacing=_conda.replacing(plan, _conda.read_records(target.prefix)) if conda else replacing(target, plan),
        at_risk=tuple(dependents_at_risk(target, plan)),
        need=need,
        touches=touches,
        scope_unknown=scope_unknown if touches is None else None,
        replaces=replaced_keys(
            target,
            [*pinned, *((p.name, p.version) for p in plan.stack)],
            family=list(zip(TORCH_FAMILY, (plan.torch, plan.torchvision, plan.torchaudio))),
        ),
    )


def index_problems(
    plan: Plan,
    target: TargetEnv,
    *,
    argv: list[str] | None,
    env: Mapping[str, str],
    client: Client,
    pages: dict[str, Response],
    runner=None,
    notes: list[str] | None = None,
) -> list[TorchupError]:
    """The index the install reads (PyTorch's, or the configured default one, found with
    ``runner``): does it answer, and has it every requirement of ``argv`` for ``target``?
    Pages fetched land in ``pages``."""
    index_url = plan.index_url
    if plan.index_url:
        if "torch" not in pages:
            pages["torch"] = client.fetch(plan.index_url.rstrip("/") + "/torch/")
        p = index_problem(pages["torch"], "PyTorch's index", env)
    elif runner is not None:
        index_url, p = _default_index_problem(env, client, runner, [] if notes is None else notes)
    else:
        p = None
    if p is not None:
        return [p]
    if not (index_url and argv):
        return []
    # the stack's packages are checked at their own sources (``stack_problems``): a page of links or
    # a wheel URL is not on this index at all
    skip = {canonical_name(p.name) for p in plan.stack}
    return _requirement_problems(argv, target, index_url, client, pages, env, skip=skip)


def stack_problems(
    plan: Plan,
    target: TargetEnv,
    *,
    env: Mapping[str, str],
    client: Client,
    runner=None,
    notes: list[str] | None = None,
) -> list[TorchupError]:
    """Every package of the plan's stack that its source cannot give this target: its index, its
    page of links (PyG's), its wheel URL (a release asset), or the configured default index."""
    from urllib.parse import unquote

    default = None
    if any(not (p.index_url or p.find_links or p.url) for p in plan.stack) and runner is not None:
        default, problem = _default_index_problem(env, client, runner, [] if notes is None else notes)
        if problem is not None:
            return [problem]
    asks: list[tuple[str, str]] = []
    for pin in plan.stack:
        if pin.url:
            asks.append(("HEAD", pin.url))
        elif pin.find_links:
            asks.append(("GET", pin.find_links))
        else:
            base = pin.index_url or default or ""
            asks.append(("GET", base.rstrip("/") + "/" + pin.name + "/"))
    accepted = index_check.target_tags(target.markers, target.platform)
    where = (
        f"Python {target.version} on {target.platform.get('platform') or target.markers.get('platform_machine', '?')}"
    )
    hint = "nothing was downloaded or changed; plan again (another version of the package, or another torch)"
    out: list[TorchupError] = []
    for pin, (_, url), page in zip(plan.stack, asks, client.fetch_all(asks)):
        if not pin.url and not (pin.index_url or pin.find_links or default):
            continue  # no default index known: said in the notes already
        if pin.url:
            name = unquote(pin.url.split("#")[0].rsplit("/", 1)[-1])
            if not page.ok:
                problem = index_problem(page, f"the wheel of {pin.name}", env)
                out.append(problem or NetworkError(f"the wheel of {pin.name} ({redact_url(pin.url)}) is not there"))
                continue
            try:
                tags = parse_wheel_name(name)[3]
            except ValueError:
                continue  # not a wheel's name: the manager finds out what it is
            if accepted is not None and not (tags & accepted):
                out.append(
                    NetworkError(
                        f"the wheel of {pin.name} ({name}) is not for this target ({where})",
                        hint=hint,
                        code="not-on-index",
                    )
                )
            continue
        wheels = None
        if page.ok:
            wheels = index_check.page_wheels(page.body.decode("utf-8", "replace"), pin.name)
        elif page.status not in (403, 404) or pin.find_links:
            problem = index_problem(page, f"the page of {pin.name}", env)
            out.append(problem or NetworkError(f"the page of links of {pin.name} ({redact_url(url)}) is not there"))
            continue
        found = index_check.missing_problem(
            requirement(f"{pin.name}=={pin.version}"),
            wheels,
            index_url=pin.find_links or url.rsplit("/", 2)[0],
            accepted=accepted,
            python=target.markers.get("python_full_version", ""),
            where=where,
        )
        if found is not None:
            found.hint = hint
            out.append(found)
    return out


def _in_pixi_workspace(prefix: str) -> bool:
    parts = os.path.normpath(prefix).split(os.sep)
    return len(parts) >= 3 and parts[-3:-1] == [".pixi", "envs"]


def _pixi_problem(plan: Plan, target: TargetEnv) -> TorchupError | None:
    """What in the pixi manifest stops ``pixi add`` from installing the plan's build."""
    from torchup.install.pixi import find_workspace, manifest_problem

    ws = find_workspace(target.prefix)
    build = _conda.conda_build(plan)
    try:
        with open(ws.manifest, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        return EnvironmentProblem(f"cannot read {ws.manifest}: {exc}", code="pixi-manifest")
    why = manifest_problem(
        plan,
        text,
        pyproject=ws.manifest.endswith("pyproject.toml"),
        cuda_major=int(build.cuda.split(".")[0]) if build.cuda else None,
    )
    if why is None:
        return None
    return EnvironmentProblem(
        f"{ws.manifest}: {why}",
        code="pixi-manifest",
        hint="nothing was changed; fix the manifest and run torchup again",
    )


def _default_index_problem(
    env: Mapping[str, str], client: Client, runner, notes: list[str]
) -> tuple[str | None, TorchupError | None]:
    """The plan uses the default index (PyPI's build, or the user's mirror): check the one
    pip/uv are configured with (env, pip config, pip's own default).  Its URL, and its problem."""

    def run(argv: list[str]) -> str | None:
        result = runner.run(argv, timeout=max(min(30.0, client.remaining()), 1.0))
        return result.stdout if result.ok else None

    try:
        url, origin = resolve_pypi_index(env, run)
    except TorchupError:
        notes.append("no default index is configured that torchup could find: it was not checked")
        return None, None
    return url, index_problem(client.fetch(url.rstrip("/") + "/torch/"), f"the default index (from {origin})", env)


def _requirement_problems(
    argv: list[str],
    target: TargetEnv,
    index_url: str,
    client: Client,
    pages: dict[str, Response],
    env: Mapping[str, str],
    *,
    skip: set[str] | frozenset[str] = frozenset(),
) -> list[TorchupError]:
    """Every requirement of ``argv`` the index at ``index_url`` cannot give this target, but those
    named in ``skip``.  The project pages fetched land in ``pages`` (the size estimate reads them again)."""
    reqs = [r for r in index_check.requirements_in(argv) if canonical_name(r.name) not in skip]
    base = index_url.rstrip("/") + "/"
    todo = [r.name for r in reqs if r.name not in pages]
    pages.update(zip(todo, client.fetch_all([("GET", base + name + "/") for name in todo])))
    accepted = index_check.target_tags(target.markers, target.platform)
    where = (
        f"Python {target.version} on {target.platform.get('platform') or target.markers.get('platform_machine', '?')}"
    )
    out: list[TorchupError] = []
    for req in reqs:
        page = pages[req.name]
        if page.status in (403, 404):  # PyTorch's index answers 403 for a project it does not have
            wheels = None
        elif not page.ok:
            problem = index_problem(page, f"the index page of {req.name}", env)
            if problem is not None:
                out.append(problem)
            continue
        else:
            wheels = index_check.page_wheels(page.body.decode("utf-8", "replace"), req.name)
        p = index_check.missing_problem(
            req,
            wheels,
            index_url=index_url,
            accepted=accepted,
            python=target.markers.get("python_full_version", ""),
            where=where,
        )
        if p is not None:
            out.append(p)
    return out
