"""Co-resolution: choose torch together with the packages built against it (``plan --with``).

Pure.  ``co_resolve`` takes the (torch, variant) points ``resolve`` kept for the machine, best
first, the requested packages (PEP 508) and the stack catalog (``torchup.catalog.stack``), and
picks the first point for which every named package has a prebuilt wheel for this Python,
platform and ABI (and CUDA, where the wheel encodes it) whose torch requirement the point
satisfies.  Each package is pinned to its newest release that fits there.

How each kind of package fits a point (``PackageFacts.binding``):
- ``exact-pin`` (xformers, vllm): a release whose ``Requires-Dist`` pins ``torch==X`` fits torch X,
  in the builds it was built for: where its wheels workflow was read (``PackageFacts.builds``:
  xformers), its PyPI wheel for the variant recorded and PyTorch's index for the variants it
  uploads there; otherwise (not confirmed) its PyPI wheel is taken to be for torch X's default
  build on PyPI and PyTorch's index to carry the other CUDA variants when the package is
  published there (xformers, not vllm).
- ``range`` (bitsandbytes, torchao, flashinfer-python, deepspeed): any torch its requirement admits.
- ``per-torch`` (flash-attn, PyG's extensions): a recorded wheel for the point's torch minor and
  CUDA (flash-attn: the CUDA major and the C++ ABI torch was built with; PyG: the exact variant).
- ``table`` (torchcodec): the torch minor the project's compatibility table gives for the release.

A hand-recorded fact no primary source confirmed (``confirmed`` false, or no record where one is
needed) is still used; the choice lists each such fact it rests on (``StackChoice.unconfirmed``)
and the plan warns about them.

A package torchup has no facts on is refused (``unknown``): choosing torch "with" a package only
means something for a package built against torch, and a name torchup does not know is more
often a typo than such a package.  ``split_known`` lets a caller (a requirements file) pass the
other packages through to the installer unpinned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from torchup.catalog.model import platform_floor
from torchup.catalog.stack import IndexBuilds, Listing, PackageFacts, StackCatalog, StackRelease
from torchup.metadata import SimpleRequirement, canonical_name, requirement
from torchup.plan import Refusal, StackPin
from torchup.record import record

TYPE_CHECKING = False  # packaging.requirements (markers, tags, logging) only for a form that needs it
if TYPE_CHECKING:
    from packaging.requirements import Requirement

__all__ = [
    "Point",
    "StackChoice",
    "Target",
    "co_resolve",
    "cxx11_abi",
    "parse_with",
    "split_known",
]


def cxx11_abi(torch: str, variant: str) -> bool:
    """Whether PyTorch's Linux wheel of ``torch`` for ``variant`` is built with the C++11 ABI
    (flash-attn's asset names say which one a wheel needs: cxx11abiTRUE / cxx11abiFALSE).

    PyTorch's own sources: in 2.6 only the CUDA 12.6 builds (and aarch64, ROCm, XPU) use it
    (pytorch/pytorch PR #142064, "Use cxx11-abi for Linux CUDA 12.6 builds", which sets the
    devtoolset of arch_version 12.6 in .github/scripts/generate_binary_build_matrix.py; the
    PyTorch 2.6 release blog: "the experimental Linux binaries shipped with CUDA 12.6.3 ... are
    built with CXX11_ABI=1"); from 2.7 every Linux build does (PR #143423, "Use Manylinux 2.28
    for nightly build and cxx11-abi": CPU, CUDA 11.8 and 12.4 switched in the 2.7 nightlies;
    PR #146200 removed the pre-cxx11 builds).  The merge commits were not read: the
    pytorch/pytorch repository was too large to bring here.
    """
    minor = _vtuple(torch)[:2]
    return minor >= (2, 7) or (minor == (2, 6) and not variant.startswith(("cpu", "cu118", "cu124")))


@record
class Point:
    """One (torch, variant) candidate ``resolve`` kept for the machine."""

    torch: str  # public version: "2.8.0"
    variant: str  # the variant name on PyTorch's index: "cu126", "cpu", "rocm6.4", "xpu"
    cuda: str | None = None  # "12.6" for a CUDA build
    pypi_default: bool = False  # the build PyPI serves for this platform
    index_url: str | None = None  # PyTorch's index for this variant (None: PyPI)
    gpus: int = 0  # how many of the machine's GPUs the build can use


@record
class Target:
    """The wheel platform of the machine."""

    os: str  # "linux", "windows", "macos"
    arch: str  # "x86_64", "aarch64"
    python: str  # "3.12"
    free_threaded: bool = False
    glibc: tuple[int, int] | None = None
    musl: bool = False
    macos: tuple[int, int] | None = None

    @property
    def cp(self) -> str:
        major, minor = self.python.split(".")[:2]
        return f"cp{major}{minor}"


@record
class StackChoice:
    index: int  # which point (into the points given)
    pins: tuple[StackPin, ...]
    reasons: tuple[str, ...]
    unconfirmed: tuple[str, ...] = ()  # the hand-recorded facts the pins rest on that no primary source confirmed


def parse_with(specs: Sequence[str]) -> list[SimpleRequirement | Requirement]:
    """PEP 508 strings to requirements (``torchup.metadata.requirement``); ``ValueError`` naming
    the bad one."""
    out = []
    for text in specs:
        try:
            req = requirement(text)
        except ValueError as exc:  # packaging's InvalidRequirement
            raise ValueError(f"{text!r} is not a PEP 508 requirement ({exc})") from None
        if req.url:
            raise ValueError(f"{text!r}: a direct URL cannot be chosen together with torch; give a version spec")
        out.append(req)
    return out


def split_known(
    reqs: Sequence[SimpleRequirement | Requirement], stack: StackCatalog
) -> tuple[list[SimpleRequirement | Requirement], list[SimpleRequirement | Requirement]]:
    """(the packages torchup knows to be built against torch, the others)."""
    known = [r for r in reqs if stack.get(r.name) is not None]
    return known, [r for r in reqs if stack.get(r.name) is None]


# --- wheels and requirements against the target ----------------------------------------------


def _marker_env(target: Target) -> dict[str, str]:
    system = {"linux": "Linux", "windows": "Windows", "macos": "Darwin"}[target.os]
    machine = {
        ("windows", "x86_64"): "AMD64",
        ("windows", "aarch64"): "ARM64",
        ("macos", "aarch64"): "arm64",
    }.get((target.os, target.arch), target.arch)
    return {
        "platform_system": system,
        "sys_platform": {"linux": "linux", "windows": "win32", "macos": "darwin"}[target.os],
        "platform_machine": machine,
        "os_name": "nt" if target.os == "windows" else "posix",
        "python_version": target.python,
        "python_full_version": target.python + ".0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }


def _python_fits(interpreter: str, abi: str, target: Target) -> bool:
    minor = int(target.python.split(".")[1])
    if interpreter.startswith("py"):
        digits = interpreter[2:]
        return digits == "3" or (digits.startswith("3") and int(digits[1:] or 0) <= minor)
    if not interpreter.startswith("cp3"):
        return False
    wheel_minor = int(interpreter[3:])
    if abi == "abi3":
        return not target.free_threaded and wheel_minor <= minor
    if wheel_minor != minor:
        return False
    if abi == "none":
        return True
    return abi.endswith("t") == target.free_threaded


def _platform_fits(platform: str, target: Target) -> bool:
    if platform == "any":
        return True
    try:
        os_, arch, floor = platform_floor(platform)
    except ValueError:
        return False
    if arch != target.arch:
        return False
    if os_ == "linux-musl":
        return target.os == "linux" and target.musl
    if os_ == "linux":
        if target.os != "linux" or target.musl:
            return False
        return floor is None or target.glibc is None or floor <= target.glibc
    if os_ == "macos":
        return target.os == "macos" and (floor is None or target.macos is None or floor <= target.macos)
    return os_ == target.os


def _wheel_fits(tag: str, target: Target) -> bool:
    try:
        interpreter, abi, platform = tag.split("-")
    except ValueError:
        return False
    return _python_fits(interpreter, abi, target) and _platform_fits(platform, target)


def _where(target: Target) -> str:
    return f"Python {target.python}{'t' if target.free_threaded else ''} on {target.os} {target.arch}"


def _torch_spec(release: StackRelease, target: Target) -> SpecifierSet | None:
    """The torch requirement of a release under the target's markers; None: no requirement on torch."""
    env = _marker_env(target)
    out = None
    for text in release.requires_torch:
        req = requirement(text)
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        out = req.specifier if out is None else out & req.specifier
    return out


def _verb(spec: SpecifierSet | None) -> str:
    """ "pins" for ``==X``, "requires" for a range."""
    if spec is not None and [s.operator for s in spec] == ["=="]:
        return "pins"
    return "requires"


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _vtuple(version: str) -> tuple[int, ...]:
    try:
        return Version(version).release
    except InvalidVersion:
        return (0,)


def _describe_point(p: Point) -> str:
    if p.cuda:
        return f"torch {p.torch} with CUDA {p.cuda}"
    return f"torch {p.torch} ({p.variant})"


# --- one package at one point --------------------------------------------------------------


@record
class _Fit:
    pin: StackPin | None = None
    why_not: str | None = None
    torch_only: bool = False  # rejected for its torch requirement alone (another torch would do)
    unconfirmed: tuple[str, ...] = ()  # the facts the pin rests on that no primary source confirmed


def _releases(facts: PackageFacts, spec: SpecifierSet) -> list[StackRelease]:
    ok = [r for r in facts.releases if spec.contains(r.version, prereleases=False)]
    return sorted(ok, key=lambda r: Version(r.version), reverse=True)


def _fit_pypi(facts: PackageFacts, spec: SpecifierSet, point: Point, target: Target) -> _Fit:
    """exact-pin, range and table packages: their releases on PyPI."""
    releases = _releases(facts, spec)
    with_wheel = [r for r in releases if any(_wheel_fits(t, target) for t in r.wheels)]
    if facts.binding == "range":
        with_wheel += [r for r in releases if not r.wheels and r.sdist and r not in with_wheel]
        with_wheel.sort(key=lambda r: Version(r.version), reverse=True)
    if not with_wheel:
        newest = releases[0].version if releases else None
        return _Fit(
            why_not=f"{facts.name} has no wheel for {_where(target)}"
            + (f" (newest matching release: {newest})" if newest else "")
        )
    first: tuple[str, bool] | None = None
    for r in with_wheel:
        why = _why_not_release(facts, r, point, target)
        if why is None:
            return _pypi_fit(facts, r, point, target)
        first = first or why
    assert first is not None
    return _Fit(why_not=first[0], torch_only=first[1])


def _why_not_release(facts: PackageFacts, r: StackRelease, point: Point, target: Target) -> tuple[str, bool] | None:
    """Why release ``r`` does not fit the point, and whether only its torch requirement is at fault."""
    if facts.binding == "table":
        key = _table_key(facts, r.version)
        if key is None:
            return f"{facts.name} {r.version} is not in its compatibility table as torchup recorded it", False
        want = facts.table[key]
        if not SpecifierSet(want).contains(point.torch, prereleases=True):
            return f"{facts.name} {r.version} needs torch{want} (its compatibility table)", True
        return None
    spec = _torch_spec(r, target)
    if spec is not None and not spec.contains(point.torch, prereleases=True):
        return f"{facts.name} {r.version} {_verb(spec)} torch{spec}", True
    if facts.binding == "exact-pin":
        return _exact_pin_where(facts, r, point).why_not
    return None


def _table_key(facts: PackageFacts, version: str) -> str | None:
    """The row of the compatibility table for a release: its own version ("0.0.3") or its minor ("0.9")."""
    for key in (version, _minor(version)):
        if key in facts.table:
            return key
    return None


@record
class _Where:
    """Where the build of an exact-pin release for a point comes from."""

    why_not: tuple[str, bool] | None = None
    index_url: str | None = None  # None: PyPI
    note: str = ""  # said in the reason
    unconfirmed: str | None = None


def _exact_pin_where(facts: PackageFacts, r: StackRelease, point: Point) -> _Where:
    builds = facts.builds.get(r.version)
    if builds is not None and builds.confirmed:
        return _recorded_where(facts, r, point, builds)
    # not recorded: its PyPI wheel is taken to be for the default build on PyPI, and PyTorch's
    # index to carry the other CUDA variants when the package is published there
    what = f"which torch builds {facts.name} {r.version} was built for"
    if point.pypi_default:
        return _Where(unconfirmed=f"{what} (its PyPI wheel is taken to be for torch's default build on PyPI)")
    if point.variant.startswith("cu") and "pytorch-index" in facts.hosts:
        return _Where(
            index_url=point.index_url,
            note=f"; its build for {point.variant} is taken from PyTorch's index",
            unconfirmed=f"{what} (PyTorch's index is taken to carry its {point.variant} build)",
        )
    return _Where(
        why_not=(
            f"{facts.name} {r.version}'s wheel is built for torch {point.torch}'s default build on PyPI, "
            f"not for the {point.variant} build",
            False,
        )
    )


def _recorded_where(facts: PackageFacts, r: StackRelease, point: Point, builds: IndexBuilds) -> _Where:
    if point.pypi_default and builds.pypi == point.variant:
        return _Where(note=f"; its PyPI wheel is built for the {point.variant} build ({builds.source})")
    if point.variant in builds.pytorch_index:
        pypi = f"its PyPI wheel is built for {builds.pypi}, so " if point.pypi_default and builds.pypi else ""
        return _Where(
            index_url=point.index_url,
            note=f"; {pypi}its {point.variant} build comes from PyTorch's index ({builds.source})",
        )
    carried = ", ".join(builds.pytorch_index) or "none"
    return _Where(
        why_not=(
            f"{facts.name} {r.version} has no build for torch {point.torch} {point.variant}: its PyPI wheel is "
            f"for {builds.pypi or 'no CUDA variant recorded'}, PyTorch's index carries {carried} ({builds.source})",
            False,
        )
    )


def _pypi_fit(facts: PackageFacts, r: StackRelease, point: Point, target: Target) -> _Fit:
    spec = _torch_spec(r, target)
    if facts.binding == "exact-pin":
        where = _exact_pin_where(facts, r, point)
        reason = f"{facts.name} {r.version} {_verb(spec)} torch{spec} (its metadata on PyPI, uploaded {r.uploaded})"
        pin = StackPin(name=facts.name, version=r.version, index_url=where.index_url, reason=reason + where.note)
        return _Fit(pin=pin, unconfirmed=(where.unconfirmed,) if where.unconfirmed else ())
    if facts.binding == "table":
        key = _table_key(facts, r.version)
        assert key is not None
        origin = facts.table_sources.get(key)
        reason = f"{facts.name} {r.version} needs torch{facts.table[key]} (its compatibility table"
        reason += f": {origin.source})" if origin else ")"
        unconfirmed = () if origin and origin.confirmed else (f"{facts.name} {key}'s row in its compatibility table",)
        return _Fit(pin=StackPin(name=facts.name, version=r.version, reason=reason), unconfirmed=unconfirmed)
    what = f"requires torch{spec}" if spec else "has no requirement on torch"
    if not r.wheels:
        what += "; PyPI has only its sdist, which pip builds"
    return _Fit(
        pin=StackPin(
            name=facts.name, version=r.version, reason=f"{facts.name} {r.version} {what} (its metadata on PyPI)"
        )
    )


def _listing_fits(x: Listing, point: Point, target: Target) -> str | None:
    """Why a recorded off-PyPI wheel does not fit the point; None when it does."""
    if x.torch != _minor(point.torch):
        return "torch"
    if x.cuda is None:
        if point.cuda is not None or point.variant not in ("cpu", "pypi"):
            return "cuda"
    elif point.cuda is None:
        return "cuda"
    elif "." in x.cuda:
        if x.cuda != point.cuda:
            return "cuda"
    elif x.cuda != point.cuda.split(".")[0]:
        return "cuda"
    if not any(_python_fits(py, py, target) for py in x.pythons):
        return "python"
    if not any(_platform_fits(p, target) for p in x.platforms):
        return "platform"
    if x.abi is not None and (x.abi == "cxx11abiTRUE") != cxx11_abi(point.torch, point.variant):
        return "abi"
    return None


def _fit_listed(facts: PackageFacts, spec: SpecifierSet, point: Point, target: Target) -> _Fit:
    fits = [x for x in facts.listings if spec.contains(x.version, prereleases=False)]
    fits = [x for x in fits if _listing_fits(x, point, target) is None]
    if not fits:
        cuda = f" with CUDA {point.cuda}" if point.cuda else f" ({point.variant})"
        return _Fit(why_not=f"{facts.name} has no wheel for torch {_minor(point.torch)}{cuda} for {_where(target)}")
    x = max(fits, key=lambda x: Version(x.version))
    unconfirmed = (
        () if x.confirmed else (f"{facts.name} {x.version}'s wheel for {_describe_point(point)} [{x.source}]",)
    )
    version = f"{x.version}+{x.local}" if x.local else x.version
    py = target.cp + ("t" if target.free_threaded else "")
    if facts.find_links:
        page = facts.find_links.format(torch=_minor(point.torch) + ".0", variant=_pyg_variant(point))
        return _Fit(
            pin=StackPin(name=facts.name, version=version, find_links=page, reason=_listed_reason(facts, x, point)),
            unconfirmed=unconfirmed,
        )
    platform = next(p for p in x.platforms if _platform_fits(p, target))
    filename = (
        f"{facts.name.replace('-', '_')}-{x.version}+cu{x.cuda}torch{x.torch}{x.abi or ''}-{py}-{py}-{platform}.whl"
    )
    url = (facts.url or "").format(version=x.version, filename=filename.replace("+", "%2B"))
    pin = StackPin(name=facts.name, version=x.version, url=url, reason=_listed_reason(facts, x, point))
    return _Fit(pin=pin, unconfirmed=unconfirmed)


def _pyg_variant(point: Point) -> str:
    if point.cuda:
        return "cu" + point.cuda.replace(".", "")
    return "cpu"


def _listed_reason(facts: PackageFacts, x: Listing, point: Point) -> str:
    built = f"torch {x.torch}" + (f" with CUDA {x.cuda}" if x.cuda else " (CPU)")
    return f"{facts.name} {x.version} has a wheel built for {built} ({x.source})"


def _fit(facts: PackageFacts, spec: SpecifierSet, point: Point, target: Target) -> _Fit:
    if facts.binding == "per-torch":
        return _fit_listed(facts, spec, point, target)
    return _fit_pypi(facts, spec, point, target)


# --- the whole stack -------------------------------------------------------------------------


def co_resolve(
    points: Sequence[Point], reqs: Sequence[SimpleRequirement | Requirement], stack: StackCatalog, target: Target
) -> StackChoice | Refusal:
    """The first point (best first) where every requested package fits, with its pins; else a Refusal.
    Answered once per question for a ``stack`` catalog (kept in ``stack.answers``)."""
    key = (tuple(points), tuple(str(r) for r in reqs), target)
    if key not in stack.answers:
        stack.answers[key] = _co_resolve(points, reqs, stack, target)
    return stack.answers[key]


def _co_resolve(
    points: Sequence[Point], reqs: Sequence[SimpleRequirement | Requirement], stack: StackCatalog, target: Target
) -> StackChoice | Refusal:
    unknown = [r.name for r in reqs if stack.get(r.name) is None]
    if unknown:
        return Refusal(
            code="unknown-package",
            message=f"torchup knows nothing of {', '.join(unknown)} being built against torch",
            reasons=(
                "--with chooses torch together with packages built against it; torchup knows "
                + ", ".join(sorted(stack.packages)),
                "install other packages with your package manager after torch (torchup add PKG keeps torch as chosen)",
            ),
        )
    facts = {canonical_name(r.name): p for r in reqs if (p := stack.get(r.name)) is not None}
    specs: dict[str, SpecifierSet] = {}
    for r in reqs:
        name = canonical_name(r.name)
        specs[name] = specs[name] & r.specifier if name in specs else r.specifier
    for name, spec in specs.items():
        f = facts[name]
        if not _any_release(f, spec):
            return Refusal(
                code="no-release",
                message=f"no release of {name} matches {name}{spec}",
                reasons=(f"{name}: the releases torchup knows are {_known_versions(f)}",),
            )
    # per package, why the better builds were passed over: its torch requirement at the best one,
    # unless a better build with a torch it admits failed for another reason (CUDA, ABI, no wheel)
    passed_over: dict[str, _Fit] = {}
    # a GPU is never given up for a package: builds using fewer GPUs than the best one only
    # show up in the refusal, as an option
    most = max((p.gpus for p in points), default=0)
    for i, point in enumerate(points):
        if point.gpus < most:
            continue
        pins = []
        unconfirmed: list[str] = []
        failed = False
        for name, spec in specs.items():
            fit = _fit(facts[name], spec, point, target)
            if fit.pin is None:
                failed = True
                if name not in passed_over or (passed_over[name].torch_only and not fit.torch_only):
                    passed_over[name] = fit
            else:
                pins.append(fit.pin)
                unconfirmed += fit.unconfirmed
        if not failed:
            reasons = [p.reason for p in pins]
            top = next(p for p in points if p.gpus == most)
            for fit in passed_over.values():
                reasons.append(f"{fit.why_not}: torch {point.torch} instead of {top.torch}")
            return StackChoice(index=i, pins=tuple(pins), reasons=tuple(reasons), unconfirmed=tuple(unconfirmed))
    return _refuse(points, specs, facts, target)


def _any_release(f: PackageFacts, spec: SpecifierSet) -> bool:
    versions = [r.version for r in f.releases] + [x.version for x in f.listings]
    return any(spec.contains(v, prereleases=False) for v in versions)


def _known_versions(f: PackageFacts) -> str:
    versions = sorted({r.version for r in f.releases} | {x.version for x in f.listings}, key=Version)
    if not versions:
        return "none"
    return f"{versions[0]} to {versions[-1]}" if len(versions) > 1 else versions[0]


def _refuse(
    points: Sequence[Point], specs: Mapping[str, SpecifierSet], facts: Mapping[str, PackageFacts], target: Target
) -> Refusal:
    """Nothing fits together: what each package alone would take, and what a source build costs."""
    reasons = []
    if points:
        top = points[0]
        for name, spec in specs.items():
            fit = _fit(facts[name], spec, top, target)
            if fit.pin is None:
                reasons.append(f"with {_describe_point(top)} (the best build considered): {fit.why_not}")
    most = max((p.gpus for p in points), default=0)
    fewer = next(
        (p for p in points if p.gpus < most and all(_fit(facts[n], s, p, target).pin for n, s in specs.items())),
        None,
    )
    if fewer is not None:
        reasons.append(
            f"option: {_describe_point(fewer)} fits them all, but it leaves "
            f"{'the GPU' if most == 1 else 'GPUs'} unused (torchup plan --variant {fewer.variant} ...)"
        )
    for name, spec in specs.items():
        alone = next((p for p in points if p.gpus == most and _fit(facts[name], spec, p, target).pin is not None), None)
        if alone is None:
            reasons.append(
                f"{name}{spec}: none of the builds considered has a prebuilt wheel of it for {_where(target)}"
            )
        else:
            reasons.append(f"option: an older torch: {name} alone fits {_describe_point(alone)}")
    for name in specs:
        if facts[name].build:
            reasons.append(f"option: build {name} from source: {facts[name].build}")
    reasons.append("option: leave a package out of --with and choose torch for the others")
    return Refusal(
        code="no-stack",
        message="no PyTorch build fits this machine together with " + ", ".join(specs),
        reasons=tuple(reasons),
    )
