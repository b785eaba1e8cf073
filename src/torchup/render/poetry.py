"""Poetry: PyTorch's index as an *explicit* source, used only by the packages
added with ``--source`` (every other dependency keeps PyPI).

torch's ROCm / XPU builds depend on a triton package that lives on the same
index; it is added from that source too, with an open constraint (``>=0``) so
that Poetry's resolver takes the version torch itself pins."""

from __future__ import annotations

from torchup.plan import Plan
from torchup.render._common import extra_index_packages, index_name, join, pins, shell_for

__all__ = ["render"]


def render(plan: Plan, *, shell: str | None = None) -> str:
    shell = shell or shell_for(plan)
    if not plan.index_url:
        return join(["poetry", "add", *pins(plan)], shell=shell)
    name = index_name(plan)
    return "\n".join(
        [
            join(["poetry", "source", "add", "--priority=explicit", name, plan.index_url], shell=shell),
            join(["poetry", "add", "--source", name, *pins(plan), *(f"{name}>=0" for name in extra_index_packages(plan))], shell=shell),
        ]
    )
