"""pip: ``python -m pip install --index-url <PyTorch index> torch==X+V ...``.

``--index-url`` replaces the default index for the whole install, so torch and
every dependency come from PyTorch's index.  ``--extra-index-url`` is never
used: pip then picks the highest version across *both* indexes, which is how
the December 2022 ``torchtriton`` dependency-confusion package on PyPI reached
users of the nightly index.
"""

from __future__ import annotations

from torchup.plan import Plan
from torchup.render._common import join, pins, shell_for

__all__ = ["argv", "render"]


def index_args(plan: Plan) -> list[str]:
    return ["--index-url", plan.index_url] if plan.index_url else []


def argv(plan: Plan, *, python: str) -> list[str]:
    """The exact argv that installs the plan into ``python``'s environment."""
    return [python, "-m", "pip", "install", *index_args(plan), *pins(plan)]


def render(plan: Plan, *, python: str = "python", shell: str | None = None) -> str:
    """The command line for ``shell`` (default: the plan's, see ``shell_for``)."""
    return join(argv(plan, python=python), shell=shell or shell_for(plan))
