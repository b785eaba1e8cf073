"""pixi: a ``pixi.toml`` fragment that takes PyTorch from conda-forge.

The conda-forge packages are those of ``conda.py``.  A CUDA build needs the
``__cuda`` virtual package at solve time; ``[system-requirements] cuda``
declares it (pixi docs, "System requirements"; newer pixi also accepts a
per-platform ``cuda`` key), otherwise pixi installs the CPU build.
"""

from __future__ import annotations

from torchup.plan import Plan
from torchup.render.conda import conda_forge_build

__all__ = ["render"]


def render(plan: Plan) -> str:
    build = conda_forge_build(plan)
    kind = f"CUDA {build.cuda} build" if build.cuda else "CPU build"
    out = [f"# pixi.toml: torch {plan.base_version}, conda-forge's {kind}", "# merge into your pixi.toml, then: pixi install", ""]
    out += ["[workspace]", 'channels = ["conda-forge"]']
    if build.subdir:
        out.append(f'platforms = ["{build.subdir}"]')
    out.append("")
    if build.cuda:
        out += ["[system-requirements]", f'cuda = "{build.cuda.split(".")[0]}"', ""]
    out.append("[dependencies]")
    if plan.python:
        if plan.python.endswith("t"):
            out.append("# the plan is for a free-threaded Python; torchup does not track conda-forge's free-threaded builds")
        out.append(f'python = "{plan.python.rstrip("t")}.*"')
    for spec in build.specs:
        name, sep, version = spec.partition("==")
        if not sep:
            name, version = spec.split("=", 1)
            version = f"{version}.*"
        else:
            version = f"=={version}"
        out.append(f'{name} = "{version}"')
    return "\n".join(out) + "\n"
