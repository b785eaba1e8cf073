"""Poetry: PyTorch's index as an *explicit* source, used only by the packages
added with ``--source`` (every other dependency keeps PyPI).

torch's ROCm / XPU builds depend on a triton package that lives on the same
index; it is added from that source too, with an open constraint (``>=0``) so
that Poetry's resolver takes the version torch itself pins.

``render_project``: a complete Poetry 2 ``pyproject.toml`` for one or several
machines.  ``[project] dependencies`` hold the pins, each with its platform's
marker when there are several machines; ``[tool.poetry.dependencies]`` enriches
them with the source (poetry-core merges an entry into every ``[project]``
dependency of that name whose marker overlaps its own), and each PyTorch index is
a ``[[tool.poetry.source]]`` with ``priority = "explicit"``, read only for the
packages routed to it.  PyPI's builds (macOS) get no entry: PyPI serves them."""

from __future__ import annotations

from collections.abc import Sequence

from torchup.plan import Plan, describe_variant
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

__all__ = ["render", "render_project"]


def render(plan: Plan, *, shell: str | None = None) -> str:
    shell = shell or shell_for(plan)
    if not plan.index_url:
        return join(["poetry", "add", *pins(plan)], shell=shell)
    name = index_name(plan)
    return "\n".join(
        [
            join(["poetry", "source", "add", "--priority=explicit", name, plan.index_url], shell=shell),
            join(
                [
                    "poetry",
                    "add",
                    "--source",
                    name,
                    *pins(plan),
                    *(f"{name}>=0" for name in extra_index_packages(plan)),
                ],
                shell=shell,
            ),
        ]
    )


def render_project(plans: Sequence[Plan]) -> str:
    """A complete ``pyproject.toml`` for Poetry 2 (``poetry lock && poetry install``).  Machines that
    markers cannot tell apart (same platform and Python, different builds) are refused: Poetry has
    no conflicting extras to put them in."""
    from torchup.render.uv import PROJECT_NAME, Clash, platform_markers, requires_python

    if not plans:
        raise RenderError("nothing to render: no plan")
    plans = list({(p.torch, p.variant, p.os, p.arch, p.python): p for p in plans}.values())
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
        routed = pins(plan) + extra_index_packages(plan)
        deps += [
            r + (f" ; {marker}" if marker else "") for r in routed if r + (f" ; {marker}" if marker else "") not in deps
        ]
        if not plan.index_url:
            continue
        sources[index_name(plan)] = plan.index_url
        for req in routed:
            entry = {**({"markers": marker} if marker else {}), "source": index_name(plan)}
            entries = routes.setdefault(req.split("==", 1)[0], [])
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
