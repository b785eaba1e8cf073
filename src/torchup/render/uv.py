"""uv: the ``uv pip`` interface, and a uv project (``pyproject.toml``).

``uv pip install --default-index`` behaves like pip's ``--index-url`` (see
``pip.py``).  In a
project, PyTorch's index is declared with ``explicit = true`` so that *only*
the packages routed to it in ``[tool.uv.sources]`` are read from it; every
other dependency keeps the default index.  The stack around torch (``Plan.stack``)
is routed the same way: to PyTorch's index, to another explicit index, or to a
page of links declared as a ``format = "flat"`` index; a release-asset wheel is a
direct reference (``flash-attn @ https://...``) in the dependencies.  When the project must serve several
machines, each source and pin carries an environment marker
(``sys_platform == 'linux' and platform_machine == 'x86_64'``) and
``[tool.uv] environments`` limits the lock to those platforms.  Machines that
share a platform and a Python but need different builds (a GPU node and a CPU
node of one cluster) cannot be told apart by markers: the project then gets one
extra per build (``uv sync --extra cu130`` / ``--extra cpu``), declared as
conflicting, with each extra's packages routed to its index.

The project is complete (``[project] name``, ``version``, ``requires-python``), so
that it locks as written.  PyPI's builds (macOS) need no source: the default index
serves them.  The lock depends on the platforms only, never on a machine's GPU: any
host, a GPU-less CI runner included, locks it, and ``uv sync`` there installs that
platform's build.
"""

from __future__ import annotations

from collections.abc import Sequence

from torchup.plan import Plan, StackPin, describe_variant
from torchup.render._common import (
    RenderError,
    comments,
    extra_index_packages,
    index_name,
    join,
    pins,
    shell_for,
    toml_array_table,
    toml_text,
)
from torchup.render._stack import Step, on_torch_index, requirement, steps

__all__ = [
    "PROJECT_NAME",
    "Clash",
    "argv",
    "argvs",
    "marker_for",
    "platform_markers",
    "render",
    "render_project",
    "requires_python",
]

# sys_platform and platform_machine as Python reports them on each platform
_SYS_PLATFORM = {"linux": "linux", "windows": "win32", "macos": "darwin"}
_MACHINE = {
    ("linux", "x86_64"): "x86_64",
    ("linux", "aarch64"): "aarch64",
    ("windows", "x86_64"): "AMD64",
    ("windows", "aarch64"): "ARM64",
    ("macos", "x86_64"): "x86_64",
    ("macos", "aarch64"): "arm64",
}


def _step_argv(step: Step, *, python: str) -> list[str]:
    index = ["--default-index", step.index_url] if step.index_url else []
    links = [word for url in step.find_links for word in ("--find-links", url)]
    return ["uv", "pip", "install", "--python", python, *index, *links, *step.requirements]


def argvs(plan: Plan, *, python: str) -> list[list[str]]:
    """``uv pip install --python PY [--default-index URL] torch==...``, and one more command per
    other index the stack needs (``_stack.py``).

    ``--default-index`` is uv's name for what pip calls ``--index-url``: it
    replaces the default index.  uv's older ``--index-url`` spelling loses to a
    ``UV_DEFAULT_INDEX`` set in the environment (seen with uv 0.13.9: the
    command then reads the other index only), ``--default-index`` does not."""
    return [_step_argv(step, python=python) for step in steps(plan)]


def argv(plan: Plan, *, python: str) -> list[str]:
    """The argv that installs the plan in one command; ``RenderError`` when its stack needs several."""
    found = argvs(plan, python=python)
    if len(found) > 1:
        raise RenderError(
            f"this stack needs {len(found)} uv commands (one per index), not one",
            hint="run the commands of `torchup plan --manager uv` in order",
        )
    return found[0]


def render(plan: Plan, *, python: str = "python", shell: str | None = None) -> str:
    """The command line(s) for ``shell`` (default: the plan's, see ``shell_for``), one per line."""
    return "\n".join(join(a, shell=shell or shell_for(plan)) for a in argvs(plan, python=python))


def marker_for(plan: Plan, *, with_python: bool = False) -> str:
    """The PEP 508 marker that selects the plan's platform."""
    if plan.os not in _SYS_PLATFORM:
        raise RenderError("a uv project for several machines needs each plan's OS")
    parts = [f"sys_platform == '{_SYS_PLATFORM[plan.os]}'"]
    machine = _MACHINE.get((plan.os, plan.arch or ""))
    if machine:
        parts.append(f"platform_machine == '{machine}'")
    if with_python and plan.python:
        parts.append(f"python_version == '{plan.python.rstrip('t')}'")
    return " and ".join(parts)


class Clash(RenderError):
    """Markers cannot tell two of the machines apart."""


def platform_markers(plans: Sequence[Plan], *, always: bool = False) -> list[str | None]:
    """One marker per plan: the platform, refined by the Python version where two
    plans of one platform differ; ``Clash`` when even that cannot separate them."""
    if len(plans) == 1 and not always:
        return [None]
    coarse = [marker_for(p) for p in plans]
    out: list[str | None] = []
    for i, plan in enumerate(plans):
        same_platform = [p for j, p in enumerate(plans) if coarse[j] == coarse[i]]
        if len({(p.torch, p.variant) for p in same_platform}) == 1:
            out.append(coarse[i])
            continue
        fine = marker_for(plan, with_python=True)
        clash = [
            p
            for p in same_platform
            if marker_for(p, with_python=True) == fine and (p.torch, p.variant) != (plan.torch, plan.variant)
        ]
        if clash:
            raise Clash(
                f"two machines share the platform {fine!r} but need different builds "
                f"({plan.torch} and {clash[0].torch}); markers cannot tell them apart",
                hint="plan them separately, or ask for one build for both with --variant",
            )
        out.append(fine)
    return out


def _extra_name(plan: Plan) -> str:
    """``cu130``, ``cpu``, ``rocm7-2``, ``xpu``; PyPI's default build is named by its CUDA."""
    if plan.variant == "pypi":
        return "cu" + plan.cuda.replace(".", "")[:3] if plan.cuda else "default"
    return plan.variant.replace(".", "-")


# the project's own name in the rendered file; `plan --write` keeps the name a pyproject already has
PROJECT_NAME = "my-project"
_LOCK_NOTE = (
    "the lock depends on the platforms only, never on a GPU: it is made the same on any host, "
    "a GPU-less CI runner included"
)


def requires_python(plans: Sequence[Plan]) -> str | None:
    """``>=3.11``: the oldest Python among the plans (a free-threaded ``3.14t`` counts as 3.14)."""
    versions = sorted({tuple(int(n) for n in p.python.rstrip("t").split(".")[:2]) for p in plans if p.python})
    return f">={versions[0][0]}.{versions[0][1]}" if versions else None


class _Project:
    """The pieces of the fragment, filled plan by plan, as plain data; ``text`` writes them as TOML."""

    def __init__(self, plans: Sequence[Plan]) -> None:
        self.meta: dict[str, str] = {"name": PROJECT_NAME, "version": "0.1.0"}
        python = requires_python(plans)
        if python:
            self.meta["requires-python"] = python
        self.deps: list[str] = []
        self.optional: dict[str, list[str]] = {}
        self.indexes: dict[str, str] = {}
        self.flat: set[str] = set()  # the indexes that are pages of links (uv's ``format = "flat"``)
        self.sources: dict[str, list[dict[str, str]]] = {}
        self.envs: list[str] = []

    def add(self, plan: Plan, marker: str | None, extra: str | None = None) -> None:
        platform = (
            marker.split(" and python_version")[0] if marker else marker_for(plan) if plan.os in _SYS_PLATFORM else None
        )
        if platform and platform not in self.envs:
            self.envs.append(platform)
        suffix = f" ; {marker}" if marker else ""
        routed = pins(plan) + extra_index_packages(plan)
        reqs = [f"{req}{suffix}" for req in routed + [requirement(pin) for pin in plan.stack]]
        if extra is None:
            self.deps += [r for r in reqs if r not in self.deps]
        else:
            target = self.optional.setdefault(extra, [])
            target += [r for r in reqs if r not in target]
        if plan.index_url:
            name = index_name(plan)
            self.indexes[name] = plan.index_url
            for req in routed:
                entry = {"index": name, **({"extra": extra} if extra else {}), **({"marker": marker} if marker else {})}
                entries = self.sources.setdefault(req.split("==", 1)[0], [])
                if entry not in entries:
                    entries.append(entry)
        for pin in plan.stack:
            self.route_pin(plan, pin, marker, extra)

    def route_pin(self, plan: Plan, pin: StackPin, marker: str | None, extra: str | None) -> None:
        """A stack package's source: torch's index, another explicit index, or a page of links (a
        ``flat`` index).  A direct URL needs none (its requirement is ``name @ url``), PyPI neither."""
        if pin.url or not (pin.index_url or pin.find_links):
            return
        if on_torch_index(pin, plan):
            name = index_name(plan)
        else:
            url = pin.index_url or pin.find_links or ""
            name = next((n for n, u in self.indexes.items() if u == url), None) or _free_name(
                f"{pin.name}-{'index' if pin.index_url else 'links'}", self.indexes
            )
            self.indexes[name] = url
            if pin.find_links:
                self.flat.add(name)
        entry = {"index": name, **({"extra": extra} if extra else {}), **({"marker": marker} if marker else {})}
        entries = self.sources.setdefault(pin.name, [])
        if entry not in entries:
            entries.append(entry)

    def text(self, header: list[str]) -> str:
        doc: dict = {"project": {**self.meta, "dependencies": self.deps}}
        if self.optional:
            doc["project"]["optional-dependencies"] = self.optional
        tool: dict = {}
        if len(self.optional) > 1:
            tool["conflicts"] = [[{"extra": e} for e in self.optional]]
        if self.envs:
            tool["environments"] = self.envs
        if tool:
            doc["tool"] = {"uv": tool}
        chunks = [toml_text(doc)]
        chunks += [
            toml_array_table(
                "tool.uv.index",
                {"name": name, "url": url, **({"format": "flat"} if name in self.flat else {}), "explicit": True},
            )
            for name, url in self.indexes.items()
        ]
        if self.sources:
            chunks.append(toml_text({"tool": {"uv": {"sources": self.sources}}}))
        return comments(header) + "\n" + "\n".join(c.rstrip("\n") + "\n" for c in chunks)


def render_project(plans: Sequence[Plan]) -> str:
    """A complete ``pyproject.toml`` (``[project]`` + uv's environments, index and sources) for
    one machine, or for several with platform markers; machines that markers cannot separate
    get one conflicting extra per build.  ``[tool.uv] environments`` limits the lock to the
    machines' platforms, so a platform no machine has is refused by ``uv sync`` instead of
    resolved to a build that does not exist for it."""
    if not plans:
        raise RenderError("nothing to render: no plan")
    plans = _unique(plans)
    project = _Project(plans)
    try:
        for plan, marker in zip(plans, platform_markers(plans)):
            project.add(plan, marker)
        title = ", ".join(
            f"torch {p.base_version}, {describe_variant(p.variant, cuda=p.cuda, rocm=p.rocm, os=p.os)}"
            + (f" on {p.os}/{p.arch}" if len(plans) > 1 and p.os else "")
            for p in plans
        )
        return project.text(
            [
                f"pyproject.toml for uv: {title}",
                "save as pyproject.toml (or merge into yours; rename the project), then: uv lock && uv sync",
                _LOCK_NOTE,
            ]
        )
    except Clash:
        pass
    # Some platform holds machines that need different builds: those go to extras.
    project = _Project(plans)
    coarse = {id(p): marker_for(p) for p in plans}
    by_platform: dict[str, list[Plan]] = {}
    for plan in plans:
        by_platform.setdefault(coarse[id(plan)], []).append(plan)
    several = len(by_platform) > 1
    usage = []
    for members in by_platform.values():
        try:
            markers = platform_markers(members, always=several)
        except Clash:
            groups: dict[str, list[Plan]] = {}
            for plan in members:
                groups.setdefault(_extra_name(plan), []).append(plan)
            for extra, group in groups.items():
                try:
                    group_markers = platform_markers(group, always=several)
                except Clash as err:
                    raise RenderError(err.message, hint=err.hint) from None
                for plan, marker in zip(group, group_markers):
                    project.add(plan, marker, extra)
                    usage.append(f"--extra {extra} on {plan.os}/{plan.arch} Python {plan.python} (torch {plan.torch})")
            continue
        for plan, marker in zip(members, markers):
            project.add(plan, marker)
    header = [
        "pyproject.toml for uv: machines of one platform need different builds, so each build is an extra",
        "save as pyproject.toml (or merge into yours), then on each machine: uv lock && uv sync --extra NAME",
        _LOCK_NOTE,
        *(f"  {line}" for line in usage),
    ]
    return project.text(header)


def _free_name(base: str, taken) -> str:
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


def _unique(plans: Sequence[Plan]) -> list[Plan]:
    seen, out = set(), []
    for p in plans:
        key = (p.torch, p.variant, p.os, p.arch, p.python, p.stack)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out
