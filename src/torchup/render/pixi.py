"""pixi: a ``pixi.toml`` fragment that takes PyTorch from conda-forge.

The conda-forge packages are those of ``conda.py``.  A CUDA build needs the
``__cuda`` virtual package at solve time; ``[system-requirements] cuda``
declares it (pixi docs, "System requirements"; newer pixi also accepts a
per-platform ``cuda`` key), otherwise pixi installs the CPU build.
"""

from __future__ import annotations

from torchup.plan import Plan
from torchup.render._common import comments, toml_text
from torchup.render.conda import conda_forge_build

__all__ = ["render"]


def render(plan: Plan) -> str:
    build = conda_forge_build(plan)
    kind = f"CUDA {build.cuda} build" if build.cuda else "CPU build"
    header = [f"pixi.toml: torch {plan.base_version}, conda-forge's {kind}", "merge into your pixi.toml, then: pixi install"]
    workspace: dict = {"channels": ["conda-forge"]}
    if build.subdir:
        workspace["platforms"] = [build.subdir]
    doc: dict = {"workspace": workspace}
    if build.cuda:
        doc["system-requirements"] = {"cuda": build.cuda.split(".")[0]}
    deps: dict[str, str] = {}
    if plan.python:
        if plan.python.endswith("t"):
            header.append("the plan is for a free-threaded Python; torchup does not track conda-forge's free-threaded builds")
        deps["python"] = f"{plan.python.rstrip('t')}.*"
    for spec in build.specs:
        name, sep, version = spec.partition("==")
        if not sep:
            name, version = spec.split("=", 1)
            version = f"{version}.*"
        else:
            version = f"=={version}"
        deps[name] = version
    doc["dependencies"] = deps
    return comments(header) + "\n" + toml_text(doc)
