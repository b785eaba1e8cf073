"""A ``requirements.txt`` for ``pip install -r`` / ``uv pip install -r``.

The index line is ``--index-url`` (never ``--extra-index-url``, see ``pip.py``):
the whole install then reads PyTorch's index, which mirrors torch's own
dependencies.
"""

from __future__ import annotations

from torchup.plan import Plan, describe_variant
from torchup.render._common import pins

__all__ = ["render"]


def render(plan: Plan) -> str:
    where = f" for {plan.os}/{plan.arch}, Python {plan.python}" if plan.os and plan.python else ""
    lines = [
        f"# torch {plan.base_version}, {describe_variant(plan.variant, cuda=plan.cuda, rocm=plan.rocm, os=plan.os)}{where}",
        "# written by torchup; install with: python -m pip install -r requirements.txt",
    ]
    if plan.index_url:
        lines.append(f"--index-url {plan.index_url}")
    lines += pins(plan)
    return "\n".join(lines) + "\n"
