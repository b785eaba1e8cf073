"""pip: ``python -m pip install --index-url <PyTorch index> torch==X+V ...``.

``--index-url`` replaces the default index for the whole install, so torch and
every dependency come from PyTorch's index.  ``--extra-index-url`` is never
used: pip then picks the highest version across *both* indexes, which is how
the December 2022 ``torchtriton`` dependency-confusion package on PyPI reached
users of the nightly index.  A stack (``Plan.stack``) whose packages live
elsewhere is installed in further commands, one per index (``_stack.py``).
"""

from __future__ import annotations

from torchup.plan import Plan
from torchup.render._common import RenderError, join, shell_for
from torchup.render._stack import Step, steps

__all__ = ["argv", "argvs", "render"]


def _step_argv(step: Step, *, python: str) -> list[str]:
    index = ["--index-url", step.index_url] if step.index_url else []
    links = [word for url in step.find_links for word in ("--find-links", url)]
    return [python, "-m", "pip", "install", *index, *links, *step.requirements]


def argvs(plan: Plan, *, python: str) -> list[list[str]]:
    """The argvs that install the plan into ``python``'s environment, in order: one, or one per
    index when the stack needs several."""
    return [_step_argv(step, python=python) for step in steps(plan)]


def argv(plan: Plan, *, python: str) -> list[str]:
    """The exact argv that installs the plan in one command; ``RenderError`` when its stack needs several."""
    found = argvs(plan, python=python)
    if len(found) > 1:
        raise RenderError(
            f"this stack needs {len(found)} pip commands (one per index), not one",
            hint="run the commands of `torchup plan --manager pip` in order",
        )
    return found[0]


def render(plan: Plan, *, python: str = "python", shell: str | None = None) -> str:
    """The command line(s) for ``shell`` (default: the plan's, see ``shell_for``), one per line."""
    return "\n".join(join(a, shell=shell or shell_for(plan)) for a in argvs(plan, python=python))
