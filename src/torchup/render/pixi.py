"""pixi: one ``pixi.toml`` for one or several machines.

conda-forge's PyTorch (the packages of ``conda.py``) where it has the build; the
wheel from PyTorch's index through ``[pypi-dependencies]`` with that ``index``
where it has not (ROCm, XPU, CUDA 11), so the lock holds everything.  The manifest
follows pixi's current format (pixi docs, "Declaring virtual packages per
platform" and "Migrating from [system-requirements]", as published for v0.72 to
v0.76; docs/rendering.md says what is relied on): a CUDA build declares ``__cuda``
on its ``[workspace] platforms`` entry (``{ platform = "linux-64", cuda = "13" }``),
never in the deprecated ``[system-requirements]``; several machines get one entry
each and their packages under ``[target.<platform>]``.  Two machines of one subdir
(a GPU node and a CPU node) get named entries, the CUDA one first: pixi selects the
first entry the host satisfies.

A plan with a stack around torch (``Plan.stack``: xformers, flash-attn, PyG's
extensions...) takes torch as a wheel too, with the stack in ``[pypi-dependencies]``
(``index`` / ``url`` per package, pages of links in ``[pypi-options] find-links``):
those wheels are built against PyTorch's wheels, and conda-forge's torch is
another build (its own CUDA and compiler).
"""

from __future__ import annotations

from collections.abc import Sequence

from torchup.plan import Plan
from torchup.render._common import RenderError, comments, extra_index_packages, pins, toml_text
from torchup.render._stack import requirement
from torchup.render.conda import conda_forge_build, conda_subdir

__all__ = ["gpu_less_notes", "render", "render_project"]


def render(plan: Plan) -> str:
    return render_project([plan])


def _packages(plan: Plan) -> tuple[dict[str, str], dict[str, dict], str | None, str]:
    """``(conda dependencies, pypi dependencies, declared CUDA major or None, description)``."""
    try:
        if plan.stack:
            # the stack's wheels are built against PyTorch's wheels; conda-forge's torch is another build
            raise RenderError("a stack is installed with the torch wheel it was built against")
        build = conda_forge_build(plan)
    except RenderError:
        wheel: dict[str, dict] = {}
        for req in pins(plan) + extra_index_packages(plan):
            name, _, version = req.partition("==")
            wheel[name] = {
                "version": f"=={version}" if version else "*",
                **({"index": plan.index_url} if plan.index_url else {}),
            }
        for pin in plan.stack:
            requirement(pin)  # refuses a name, version or URL that is not one
            wheel[pin.name] = (
                {"url": pin.url}
                if pin.url
                else {"version": f"=={pin.version}", **({"index": pin.index_url} if pin.index_url else {})}
            )
        what = f"the {plan.variant} wheel from PyTorch's index" if plan.index_url else "PyPI's wheel"
        if plan.stack:
            what += " (with its stack: " + ", ".join(f"{p.name} {p.version}" for p in plan.stack) + ")"
        return {}, wheel, None, what
    conda: dict[str, str] = {}
    for spec in build.specs:
        name, sep, version = spec.partition("==")
        if not sep:
            name, version = spec.split("=", 1)
            version = f"{version}.*"
        else:
            version = f"=={version}"
        conda[name] = version
    major = build.cuda.split(".")[0] if build.cuda else None
    return conda, {}, major, f"conda-forge's CUDA {build.cuda} build" if build.cuda else "conda-forge's CPU build"


def _python(plan: Plan) -> str | None:
    return f"{plan.python.rstrip('t')}.*" if plan.python else None


def render_project(plans: Sequence[Plan]) -> str:
    """One ``pixi.toml`` for the machines: ``[workspace] platforms`` with the virtual packages each
    build needs, the packages in ``[dependencies]`` (one machine) or ``[target.<platform>]``."""
    doc, header, gpu_less = _manifest(plans)
    return comments([*header, *gpu_less]) + "\n" + toml_text(doc)


def gpu_less_notes(plans: Sequence[Plan]) -> list[str]:
    """What a host without an NVIDIA driver (a GPU-less CI runner) must set to install the manifest
    (``CONDA_OVERRIDE_CUDA``), as sentences; empty when no platform declares ``cuda``.  The manifest's
    header says it; ``plan --write`` repeats it, since a merge into an existing file keeps no header."""
    return _manifest(plans)[2]


def _manifest(plans: Sequence[Plan]) -> tuple[dict, list[str], list[str]]:
    """``(manifest data, header lines, GPU-less host lines)``."""
    if not plans:
        raise RenderError("nothing to render: no plan")
    plans = list({(p.torch, p.variant, p.os, p.arch, p.python, p.stack): p for p in plans}.values())
    several = len(plans) > 1
    subdirs = [conda_subdir(p) for p in plans]
    if several and None in subdirs:
        raise RenderError("a pixi workspace for several machines needs each machine's OS and architecture")
    parts = [(plan, subdir, *_packages(plan)) for plan, subdir in zip(plans, subdirs)]
    # CUDA entries first within a subdir: pixi takes the first platform entry the host satisfies
    parts.sort(key=lambda part: (subdirs.index(part[1]), part[4] is None))
    shared = {s for s in subdirs if s is not None and subdirs.count(s) > 1}
    pythons = {_python(p) for p in plans}
    common_python = pythons.pop() if len(pythons) == 1 else None
    platforms: list = []
    targets: dict[str, dict] = {}
    header: list[str] = []
    doc: dict = {"workspace": {"channels": ["conda-forge"], "platforms": platforms}}
    for plan, subdir, conda, wheel, cuda, what in parts:
        name = None
        if subdir in shared:
            name = f"{subdir}-cuda{cuda}" if cuda else f"{subdir}-{plan.variant.replace('.', '-')}"
            if any(isinstance(e, dict) and e.get("name") == name for e in platforms):
                raise RenderError(
                    f"two machines on {subdir} need different builds that pixi cannot tell apart "
                    f"({plan.torch} and another of the same kind)",
                    hint="plan them separately, or ask for one build for both with --variant",
                )
        if subdir is not None:
            entry = {**({"name": name} if name else {}), "platform": subdir, **({"cuda": cuda} if cuda else {})}
            platforms.append(entry if len(entry) > 1 else subdir)
        deps: dict = {}
        if (_python(plan) and not common_python) or (wheel and not _python(plan)):
            deps["python"] = _python(plan) or "*"
        deps.update(conda)
        table: dict = {"dependencies": deps} if deps else {}
        if wheel:
            table["pypi-dependencies"] = wheel
        targets[name or subdir or ""] = table
        header.append(f"torch {plan.base_version}: {what}" + (f" on {name or subdir}" if several else ""))
        if plan.python and plan.python.endswith("t"):
            header.append(
                "the plan is for a free-threaded Python; torchup does not track conda-forge's free-threaded builds"
            )
    if not platforms:
        del doc["workspace"]["platforms"]
    if common_python:
        doc["dependencies"] = {"python": common_python}
    links = [p.find_links for plan in plans for p in plan.stack if p.find_links]
    if links:  # pixi reads pages of links workspace-wide ([pypi-options], not per target)
        doc["pypi-options"] = {"find-links": [{"url": url} for url in dict.fromkeys(links)]}
    if several:
        doc["target"] = targets
    else:
        table = targets[next(iter(targets))]
        doc.setdefault("dependencies", {}).update(table.get("dependencies", {}))
        if "pypi-dependencies" in table:
            doc["pypi-dependencies"] = table["pypi-dependencies"]
    cuda_platforms = {
        entry.get("name") or entry["platform"]: entry["cuda"]
        for entry in platforms
        if isinstance(entry, dict) and "cuda" in entry
    }
    lines = ["pixi.toml: " + "; ".join(header), "merge into your pixi.toml, then: pixi install"]
    wheel_platforms = [name for name, table in targets.items() if "pypi-dependencies" in table]
    if wheel_platforms:
        for name in wheel_platforms:
            lines.append(
                f"{name or 'the workspace'} takes torch through [pypi-dependencies], which pixi resolves by "
                f"installing that platform's conda packages first: run pixi lock on a {name or 'matching'} host"
            )
    gpu_less: list[str] = []
    if cuda_platforms:
        where = (
            f"CONDA_OVERRIDE_CUDA={next(iter(cuda_platforms.values()))} there"
            if len(set(cuda_platforms.values())) == 1
            else ", ".join(f"CONDA_OVERRIDE_CUDA={cuda} for {name}" for name, cuda in cuda_platforms.items())
        )
        gpu_less.append(
            "the lock depends on the declared platforms, never on a GPU; but pixi install refuses a platform "
            f"declaring cuda on a host without an NVIDIA driver (a GPU-less CI runner): set {where}"
        )
    if cuda_platforms and shared:
        gpu_less.append(
            "where two entries share a subdir, a host without an NVIDIA driver gets the one that declares no cuda "
            "(pixi takes the first entry the host satisfies)"
        )
    return doc, lines, gpu_less
