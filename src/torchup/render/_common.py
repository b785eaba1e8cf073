"""Helpers shared by the renderers: the pinned requirement list, quoting, TOML, names."""

from __future__ import annotations

import re

from torchup.errors import TorchupError
from torchup.plan import Plan

__all__ = ["RenderError", "pins", "quote", "join", "index_name", "extra_index_packages", "comments", "toml_text", "toml_array_table"]

# Packages that must come from the same PyTorch index as torch when a variant
# index is used in a *project* file (uv/poetry route only named packages to an
# explicit index; torch's own dependency on them would otherwise be looked up
# on the default index).  Fact: uv's PyTorch guide routes pytorch-triton-rocm
# (ROCm) and pytorch-triton-xpu (Intel GPU) to the PyTorch index as well.
_TRITON_FOR = {"rocm": "pytorch-triton-rocm", "xpu": "pytorch-triton-xpu"}

_SAFE = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")


class RenderError(TorchupError):
    """The plan cannot be expressed in this format (e.g. ROCm through conda-forge)."""

    code = "cannot-render"


def pins(plan: Plan) -> list[str]:
    """``["torch==2.14.1+cu126", "torchvision==0.29.1+cu126"]``: exact pins, companions
    that exist only (the plan says why one is missing)."""
    out = [f"torch=={plan.torch}"]
    if plan.torchvision:
        out.append(f"torchvision=={plan.torchvision}")
    if plan.torchaudio:
        out.append(f"torchaudio=={plan.torchaudio}")
    return out


def extra_index_packages(plan: Plan) -> list[str]:
    """Torch's own runtime dependencies that live on the variant index (triton for ROCm/XPU)."""
    for prefix, name in _TRITON_FOR.items():
        if plan.variant.startswith(prefix):
            return [name]
    return []


def quote(arg: str, *, windows: bool = False) -> str:
    """Quote one argument for a POSIX shell, or for cmd/PowerShell on Windows."""
    if arg and _SAFE.match(arg) and not (windows and "%" in arg):
        return arg
    if windows:
        return '"' + arg.replace('"', '\\"') + '"'
    return "'" + arg.replace("'", "'\"'\"'") + "'"


def join(argv: list[str], *, windows: bool = False) -> str:
    return " ".join(quote(a, windows=windows) for a in argv)


def comments(lines: list[str]) -> str:
    """``# line`` for each line; a line break inside one (from a hostile value) stays inside the comment."""
    return "".join("# " + " ".join(line.splitlines()) + "\n" for line in lines)


def toml_text(data: dict) -> str:
    """``data`` written by a real TOML writer (tomli-w), every key and value escaped as TOML requires."""
    import tomli_w

    return tomli_w.dumps(data, indent=2)


def toml_array_table(header: str, entry: dict[str, str | bool]) -> str:
    """One ``[[header]]`` entry of flat scalars (``[[tool.uv.index]]``): tomli-w would write a
    short list of tables inline (``index = [{...}]`` under ``[tool.uv]``), the fragments keep
    the form uv's documentation shows.  The header is a constant; the values go through tomli-w."""
    if any(isinstance(v, (dict, list)) for v in entry.values()):
        raise ValueError("toml_array_table takes flat tables only")  # nested values need the full path
    return f"[[{header}]]\n" + toml_text(entry)


def index_name(plan: Plan) -> str:
    """The name a project file gives PyTorch's index for this variant: ``pytorch-cu126``."""
    return f"pytorch-{plan.variant}"
