"""Poetry: PyTorch's index as an *explicit* source, used only by the packages
added with ``--source`` (every other dependency keeps PyPI).

torch's ROCm / XPU builds depend on a triton package that lives on the same
index; it is added from that source too, with an open constraint (``>=0``) so
that Poetry's resolver takes the version torch itself pins.  The stack around
torch (``Plan.stack``) gets the same treatment: a package on PyTorch's index
joins torch's source, one on another index or on a page of links (Poetry reads a
single page of links as a source) gets its own explicit source, a release-asset
wheel is added by its URL, a PyPI one plainly.

``render_project``: a complete Poetry 2 ``pyproject.toml`` for one or several
machines.  ``[project] dependencies`` hold the pins, each with its platform's
marker when there are several machines; ``[tool.poetry.dependencies]`` enriches
them with the source (poetry-core merges an entry into every ``[project]``
dependency of that name whose marker overlaps its own), and each PyTorch index is
a ``[[tool.poetry.source]]`` with ``priority = "explicit"``, read only for the
packages routed to it.  PyPI's builds (macOS) get no entry: PyPI serves them."""

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
from torchup.render._stack import on_torch_index, requirement

__all__ = ["render", "render_project"]


def render(plan: Plan, *, shell: str | None = None) -> str:
    """``poetry source add`` / ``poetry add`` lines: torch's first, then one ``poetry add`` per
    other source of the stack (``--source NAME`` applies to every package of its command)."""
    shell = shell or shell_for(plan)
    lines: list[list[str]] = []
    routes = _stack_routes(plan)
    torch_adds = [*pins(plan), *(f"{name}>=0" for name in extra_index_packages(plan))]
    if plan.index_url:
        name = index_name(plan)
        lines.append(["poetry", "source", "add", "--priority=explicit", name, plan.index_url])
        torch_adds = [*torch_adds, *routes.pop(name, ([], ""))[0]]
        lines.append(["poetry", "add", "--source", name, *torch_adds])
    plain = routes.pop(None, ([], ""))[0]  # PyPI's, and the direct URLs
    if not plan.index_url:
        lines.append(["poetry", "add", *torch_adds, *plain])
    elif plain:
        lines.append(["poetry", "add", *plain])
    for source, (reqs, url) in routes.items():
        lines.append(["poetry", "source", "add", "--priority=explicit", str(source), url])
        lines.append(["poetry", "add", "--source", str(source), *reqs])
    return "\n".join(join(words, shell=shell) for words in lines)


def _stack_routes(plan: Plan) -> dict[str | None, tuple[list[str], str]]:
    """``source name -> (requirements for `poetry add`, source URL)`` for the stack; ``None``: no
    source (PyPI, and a direct URL, which ``poetry add`` takes as it is).  Torch's index keeps its
    name; a page of links is a Poetry source too (Poetry reads a single page of links)."""
    out: dict[str | None, tuple[list[str], str]] = {}
    for pin in plan.stack:
        req = requirement(pin)
        if pin.url:
            out.setdefault(None, ([], ""))[0].append(pin.url)
            continue
        url = pin.index_url or pin.find_links
        if not url:
            out.setdefault(None, ([], ""))[0].append(req)
            continue
        if on_torch_index(pin, plan):
            name, url = index_name(plan), plan.index_url or url
        else:
            name = _source_name(pin, url, out)
        out.setdefault(name, ([], url))[0].append(req)
    return out


def _source_name(pin: StackPin, url: str, taken: dict) -> str:
    for name, (_, known) in taken.items():
        if known == url:
            return str(name)
    base = f"{pin.name}-{'index' if pin.index_url else 'links'}"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


def render_project(plans: Sequence[Plan]) -> str:
    """A complete ``pyproject.toml`` for Poetry 2 (``poetry lock && poetry install``).  Machines that
    markers cannot tell apart (same platform and Python, different builds) are refused: Poetry has
    no conflicting extras to put them in."""
    from torchup.render.uv import PROJECT_NAME, Clash, platform_markers, requires_python

    if not plans:
        raise RenderError("nothing to render: no plan")
    plans = list({(p.torch, p.variant, p.os, p.arch, p.python, p.stack): p for p in plans}.values())
    try:
        markers = platform_markers(plans)
    except Clash as err:
        raise RenderError(
            err.message,
            hint="plan those machines separately, or use --manager uv-project, which gives each build an extra",
        ) from None
    deps: list[str] = []
    routes: dict[str, list[dict[str, str]]] = {}
    sources: dict[str, str] = {}
    for plan, marker in zip(plans, markers):
        suffix = f" ; {marker}" if marker else ""
        routed = pins(plan) + extra_index_packages(plan)
        deps += [r + suffix for r in routed + [requirement(pin) for pin in plan.stack] if r + suffix not in deps]
        routed_to: list[tuple[str, str, str]] = []  # (package, source name, source URL)
        if plan.index_url:
            routed_to += [(req.split("==", 1)[0], index_name(plan), plan.index_url) for req in routed]
        for source, (reqs, url) in _stack_routes(plan).items():
            if source is not None:
                known = next((n for n, u in sources.items() if u == url), None)
                name = known or (source if source not in sources else f"{source}-{len(sources) + 1}")
                routed_to += [(req.split("==", 1)[0], name, url) for req in reqs]
        for package, name, url in routed_to:
            sources[name] = url
            entry = {**({"markers": marker} if marker else {}), "source": name}
            entries = routes.setdefault(package, [])
            if entry not in entries:
                entries.append(entry)
    meta: dict = {"name": PROJECT_NAME, "version": "0.1.0"}
    python = requires_python(plans)
    if python:
        meta["requires-python"] = python
    doc: dict = {"project": {**meta, "dependencies": deps}}
    if routes:
        # one machine: a plain table per package; several: Poetry's list of per-marker entries
        doc["tool"] = {
            "poetry": {
                "dependencies": {
                    name: entries[0] if len(entries) == 1 and "markers" not in entries[0] else entries
                    for name, entries in routes.items()
                }
            }
        }
    title = ", ".join(
        f"torch {p.base_version}, {describe_variant(p.variant, cuda=p.cuda, rocm=p.rocm, os=p.os)}"
        + (f" on {p.os}/{p.arch}" if len(plans) > 1 and p.os else "")
        for p in plans
    )
    header = [
        f"pyproject.toml for Poetry 2: {title}",
        "save as pyproject.toml (or merge into yours; rename the project), then: poetry lock && poetry install",
        "the lock depends on the platforms only, never on a GPU: it is made the same on any host, "
        "a GPU-less CI runner included",
    ]
    chunks = [toml_text(doc)]
    chunks += [
        toml_array_table("tool.poetry.source", {"name": name, "url": url, "priority": "explicit"})
        for name, url in sources.items()
    ]
    return comments(header) + "\n" + "\n".join(c.rstrip("\n") + "\n" for c in chunks)
