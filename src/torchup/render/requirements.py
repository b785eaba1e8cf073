"""A ``requirements.txt`` for ``pip install -r`` / ``uv pip install -r``.

The index line is ``--index-url`` (never ``--extra-index-url``, see ``pip.py``):
the whole install then reads PyTorch's index, which mirrors torch's own
dependencies.  A stack around torch (``Plan.stack``) adds ``--find-links`` lines
for pages of links and ``name @ url`` lines for wheel URLs; one that needs a second
index is refused (one file reads one index for all its lines, see ``_stack.py``).

pip reads an option line by dropping a comment (``#`` at the start or after
whitespace, even inside quotes), substituting ``${NAME}`` from the environment,
then splitting the rest like a POSIX shell (``shlex.split``; pip's
``req/req_file.py``).  An index URL that needs it is therefore quoted for a
POSIX shell, and one that no quoting can carry (a line break, `` #``,
``${NAME}``) is refused rather than written as a file pip would read otherwise.
"""

from __future__ import annotations

from torchup.errors import UsageError
from torchup.lazyre import lazy
from torchup.plan import Plan, describe_variant
from torchup.render._common import RenderError, comments, is_plain, quote
from torchup.render._stack import steps

__all__ = ["render"]

# what pip does to an option line before splitting it (pip/_internal/req/req_file.py)
_PIP_COMMENT = lazy(r"(^|\s)#")
_PIP_ENV_VAR = lazy(r"\$\{[A-Z0-9_]+\}")
_PLAIN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_@%+=:,./~-"
_WHAT = {"--index-url": "index URL", "--find-links": "page of links"}


def _option_line(option: str, url: str) -> str:
    why = None
    if any(ch in url for ch in "\n\r\x00") or any(ord(ch) < 32 for ch in url):
        why = "a line break or a control character"
    elif "#" in url and _PIP_COMMENT.search(url):
        why = "a '#' after whitespace, which pip reads as the start of a comment even inside quotes"
    elif "${" in url and _PIP_ENV_VAR.search(url):
        why = "${NAME}, which pip replaces with an environment variable"
    if why:
        raise UsageError(
            f"a requirements file cannot carry the {_WHAT[option]} {url!r}: it contains {why}",
            hint="give an index URL without it (--index-base), or use the pip command instead",
        )
    return f"{option} {url if is_plain(url, _PLAIN) else quote(url)}"


def render(plan: Plan) -> str:
    """The file for ``pip install -r``; ``RenderError`` when the stack needs more than one index
    (a requirements file has one index for all its lines; ``pip.py`` installs it in steps)."""
    found = steps(plan)
    if len(found) > 1:
        where = ", ".join(s.index_url or "the default index" for s in found)
        raise RenderError(
            f"a requirements file reads one index for all its lines, and this stack needs {len(found)}: {where}",
            hint="use the pip or uv commands (--manager pip / uv), which install it in that many steps, "
            "or a uv / Poetry project, which routes each package to its index",
        )
    step = found[0]
    where = f" for {plan.os}/{plan.arch}, Python {plan.python}" if plan.os and plan.python else ""
    header = comments(
        [
            f"torch {plan.base_version}, {describe_variant(plan.variant, cuda=plan.cuda, rocm=plan.rocm, os=plan.os)}{where}",
            "written by torchup; install with: python -m pip install -r requirements.txt",
        ]
    )
    lines = [_option_line("--index-url", step.index_url)] if step.index_url else []
    lines += [_option_line("--find-links", url) for url in step.find_links]
    return header + "\n".join(lines + list(step.requirements)) + "\n"
