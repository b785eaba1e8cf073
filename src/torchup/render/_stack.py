"""The stack around torch (``Plan.stack``) as install steps: which requirements go to which index.

pip and ``uv pip`` read one index per command (``--index-url`` / ``--default-index``), and an
extra index is never added for the torch family (see ``pip.py``).  A stack whose packages live
in several places is therefore installed in steps, torch's first:

1. torch, its companions, and the stack packages on the same index as torch;
2. the packages of the default index (PyPI or the user's), the ones of a page of links
   (``--find-links``, PyG's wheel pages) and the ones given by a direct wheel URL (a release
   asset), with torch's own pins repeated: the installed torch satisfies them, so the step
   cannot replace it (it fails instead if torch is not there);
3. one more step per other index (``--index-url`` that index), again with torch's pins.

The packages of a links page or a URL join the default index's step rather than torch's: their
dependencies (einops, scipy...) are on the default index, not on PyTorch's.
"""

from __future__ import annotations

from torchup.errors import UsageError
from torchup.lazyre import lazy
from torchup.plan import Plan, StackPin
from torchup.record import record
from torchup.render._common import pins

__all__ = ["Step", "check_location", "on_torch_index", "requirement", "steps"]

# a project name (PEP 508 / the core metadata spec)
_NAME = lazy(r"^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$")
_URL_SCHEMES = ("https://", "http://", "file://")


@record
class Step:
    """One install command: its index (None: the default one), its pages of links, its requirements."""

    index_url: str | None
    find_links: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()


def check_location(url: str, *, what: str) -> str:
    """``url`` when it can be written bare in a requirement, a command and a requirements file;
    ``UsageError`` otherwise (whitespace, a control character, a quote, ``${NAME}``)."""
    why = None
    if not url.startswith(_URL_SCHEMES):
        why = "it is not an http(s) or file URL"
    elif any(ch.isspace() or not ch.isprintable() for ch in url):
        why = "it contains whitespace or a control character"
    elif any(ch in url for ch in "\"'\\`"):
        why = "it contains a quote or a backslash"
    elif "${" in url:
        why = "it contains ${NAME}, which pip replaces with an environment variable"
    if why:
        raise UsageError(
            f"the {what} {url!r} cannot be written into a requirement: {why}",
            hint="percent-encode the URL (a space is %20), or give another source",
        )
    return url


def on_torch_index(pin: StackPin, plan: Plan) -> bool:
    """The package comes from torch's own index (a trailing ``/`` makes no other index)."""
    return bool(pin.index_url and plan.index_url and pin.index_url.rstrip("/") == plan.index_url.rstrip("/"))


def requirement(pin: StackPin) -> str:
    """``xformers==0.0.30``, or ``flash-attn @ https://.../flash_attn-...whl`` for a direct URL.
    A name or version that is not one (from a hand-edited plan file) is a ``UsageError``."""
    from packaging.version import InvalidVersion, Version

    if not _NAME.match(pin.name):
        raise UsageError(f"{pin.name!r} in the plan's stack is not a package name")
    try:
        Version(pin.version)
    except InvalidVersion:
        raise UsageError(f"{pin.version!r} (the version of {pin.name} in the plan's stack) is not a version") from None
    if not pin.version.isprintable() or any(ch.isspace() for ch in pin.version):
        raise UsageError(f"{pin.version!r} (the version of {pin.name} in the plan's stack) is not a version")
    sources = [s for s in (pin.index_url, pin.find_links, pin.url) if s]
    if len(sources) > 1:
        raise UsageError(f"{pin.name} in the plan's stack names more than one source: {', '.join(sources)}")
    if pin.index_url:
        check_location(pin.index_url, what=f"index of {pin.name}")
    if pin.find_links:
        check_location(pin.find_links, what=f"page of links of {pin.name}")
    if pin.url:
        return f"{pin.name} @ {check_location(pin.url, what=f'wheel URL of {pin.name}')}"
    return f"{pin.name}=={pin.version}"


def steps(plan: Plan) -> list[Step]:
    """The install steps of the plan, torch's first; one step when the stack is empty or shares
    torch's index (see the module's docstring)."""
    torch_pins = pins(plan)
    first = list(torch_pins)
    default: list[str] = []
    links: list[str] = []
    others: dict[str, list[str]] = {}
    for pin in plan.stack:
        req = requirement(pin)
        if on_torch_index(pin, plan):
            first.append(req)  # torch's own index
        elif pin.index_url:
            others.setdefault(pin.index_url, []).append(req)
        else:
            default.append(req)
            if pin.find_links and pin.find_links not in links:
                links.append(pin.find_links)
    out = []
    if plan.index_url is None:
        out.append(Step(index_url=None, find_links=tuple(links), requirements=(*first, *default)))
    else:
        out.append(Step(index_url=plan.index_url, requirements=tuple(first)))
        if default:
            out.append(Step(index_url=None, find_links=tuple(links), requirements=(*torch_pins, *default)))
    out += [Step(index_url=url, requirements=(*torch_pins, *reqs)) for url, reqs in others.items()]
    return out
