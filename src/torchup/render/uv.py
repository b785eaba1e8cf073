"""uv: the ``uv pip`` interface, and a uv project (``pyproject.toml``).

``uv pip install --default-index`` behaves like pip's ``--index-url`` (see
``pip.py``).  In a
project, PyTorch's index is declared with ``explicit = true`` so that *only*
the packages routed to it in ``[tool.uv.sources]`` are read from it; every
other dependency keeps the default index.  When the project must serve several
machines, each source and pin carries an environment marker
(``sys_platform == 'linux' and platform_machine == 'x86_64'``) and
``[tool.uv] environments`` limits the lock to those platforms.
"""

from __future__ import annotations

from typing import Sequence

from torchup.plan import Plan, describe_variant
from torchup.render._common import RenderError, extra_index_packages, index_name, join, pins

__all__ = ["argv", "render", "render_project", "marker_for"]

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


def argv(plan: Plan, *, python: str) -> list[str]:
    """``uv pip install --python PY [--default-index URL] torch==...``.

    ``--default-index`` is uv's name for what pip calls ``--index-url``: it
    replaces the default index.  uv's older ``--index-url`` spelling loses to a
    ``UV_DEFAULT_INDEX`` set in the environment (seen with uv 0.13.9: the
    command then reads the other index only), ``--default-index`` does not."""
    index = ["--default-index", plan.index_url] if plan.index_url else []
    return ["uv", "pip", "install", "--python", python, *index, *pins(plan)]


def render(plan: Plan, *, python: str = "python") -> str:
    return join(argv(plan, python=python), windows=plan.os == "windows")


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


def _markers(plans: Sequence[Plan]) -> list[str | None]:
    if len(plans) == 1:
        return [None]
    coarse = [marker_for(p) for p in plans]
    out: list[str | None] = []
    for i, plan in enumerate(plans):
        same_platform = [p for j, p in enumerate(plans) if coarse[j] == coarse[i]]
        differ = {(p.torch, p.variant) for p in same_platform}
        if len(differ) == 1:
            out.append(coarse[i])
            continue
        fine = marker_for(plan, with_python=True)
        clash = [
            p for p in same_platform
            if marker_for(p, with_python=True) == fine and (p.torch, p.variant) != (plan.torch, plan.variant)
        ]
        if clash:
            raise RenderError(
                f"two machines share the platform {fine!r} but need different builds "
                f"({plan.torch} and {clash[0].torch}); a uv project cannot tell them apart by markers",
                hint="plan them separately, or ask for one build for both with --variant",
            )
        out.append(fine)
    return out


def _toml_list(items: list[str], indent: str = "  ") -> str:
    return "[\n" + "".join(f"{indent}{item},\n" for item in items) + "]"


def render_project(plans: Sequence[Plan]) -> str:
    """A ``pyproject.toml`` fragment (``[project] dependencies`` + uv's index and
    sources) for one machine, or for several with platform markers."""
    if not plans:
        raise RenderError("nothing to render: no plan")
    markers = _markers(plans)
    seen: set[tuple[str, str | None]] = set()
    deps: list[str] = []
    indexes: dict[str, str] = {}
    sources: dict[str, list[str]] = {}
    envs: list[str] = []
    for plan, marker in zip(plans, markers):
        if (plan.torch, marker) in seen:
            continue
        seen.add((plan.torch, marker))
        if marker and marker not in envs:
            envs.append(marker)
        suffix = f" ; {marker}" if marker else ""
        routed = pins(plan) + extra_index_packages(plan)
        deps += [f'"{req}{suffix}"' for req in routed]
        if plan.index_url:
            name = index_name(plan)
            indexes[name] = plan.index_url
            for req in routed:
                pkg = req.split("==", 1)[0]
                entry = f'{{ index = "{name}"' + (f', marker = "{marker}"' if marker else "") + " }"
                sources.setdefault(pkg, []).append(entry)

    title = ", ".join(
        f"torch {p.base_version}, {describe_variant(p.variant, cuda=p.cuda, rocm=p.rocm, os=p.os)}"
        + (f" on {p.os}/{p.arch}" if len(plans) > 1 and p.os else "")
        for p in _unique(plans)
    )
    out = [f"# pyproject.toml for uv: {title}", "# merge into your pyproject.toml, then: uv lock && uv sync", ""]
    out += ["[project]", f"dependencies = {_toml_list(deps)}", ""]
    if envs:
        quoted = [f'"{m}"' for m in envs]
        out += ["[tool.uv]", f"environments = {_toml_list(quoted)}", ""]
    for name, url in indexes.items():
        out += ["[[tool.uv.index]]", f'name = "{name}"', f'url = "{url}"', "explicit = true", ""]
    if sources:
        out.append("[tool.uv.sources]")
        for pkg, entries in sources.items():
            if len(entries) == 1:
                out.append(f"{pkg} = [{entries[0]}]")
            else:
                out.append(f"{pkg} = {_toml_list(entries)}")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _unique(plans: Sequence[Plan]) -> list[Plan]:
    seen, out = set(), []
    for p in plans:
        key = (p.torch, p.os, p.arch)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out
