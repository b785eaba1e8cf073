"""A ``requirements.txt`` for ``pip install -r`` / ``uv pip install -r``.

The index line is ``--index-url`` (never ``--extra-index-url``, see ``pip.py``):
the whole install then reads PyTorch's index, which mirrors torch's own
dependencies.

pip reads an option line by dropping a comment (``#`` at the start or after
whitespace, even inside quotes), substituting ``${NAME}`` from the environment,
then splitting the rest like a POSIX shell (``shlex.split``; pip's
``req/req_file.py``).  An index URL that needs it is therefore quoted for a
POSIX shell, and one that no quoting can carry (a line break, `` #``,
``${NAME}``) is refused rather than written as a file pip would read otherwise.
"""

from __future__ import annotations

import shlex

from torchup.errors import UsageError
from torchup.lazyre import lazy
from torchup.plan import Plan, describe_variant
from torchup.render._common import comments, pins

__all__ = ["render"]

# what pip does to an option line before splitting it (pip/_internal/req/req_file.py)
_PIP_COMMENT = lazy(r"(^|\s)#")
_PIP_ENV_VAR = lazy(r"\$\{[A-Z0-9_]+\}")
_PLAIN = lazy(r"^[A-Za-z0-9_@%+=:,./~-]+$")


def _index_line(url: str) -> str:
    why = None
    if any(ch in url for ch in "\n\r\x00") or any(ord(ch) < 32 for ch in url):
        why = "a line break or a control character"
    elif _PIP_COMMENT.search(url):
        why = "a '#' after whitespace, which pip reads as the start of a comment even inside quotes"
    elif _PIP_ENV_VAR.search(url):
        why = "${NAME}, which pip replaces with an environment variable"
    if why:
        raise UsageError(
            f"a requirements file cannot carry the index URL {url!r}: it contains {why}",
            hint="give an index URL without it (--index-base), or use the pip command instead",
        )
    return f"--index-url {url if _PLAIN.match(url) else shlex.quote(url)}"


def render(plan: Plan) -> str:
    where = f" for {plan.os}/{plan.arch}, Python {plan.python}" if plan.os and plan.python else ""
    header = comments(
        [
            f"torch {plan.base_version}, {describe_variant(plan.variant, cuda=plan.cuda, rocm=plan.rocm, os=plan.os)}{where}",
            "written by torchup; install with: python -m pip install -r requirements.txt",
        ]
    )
    lines = [_index_line(plan.index_url)] if plan.index_url else []
    return header + "\n".join(lines + pins(plan)) + "\n"
