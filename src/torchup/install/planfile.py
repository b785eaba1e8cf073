"""A saved plan (``torchup install --plan FILE``), read as untrusted input.

``plan_from_json`` checks every field the install uses (types, PEP 440 versions, a variant
name, an http/https/file index URL, bounded sizes and nesting) and reports all the bad ones
by path (``reasons[2]``), like every other file torchup reads.  ``differences`` says where a
valid plan departs from what torchup itself would choose for its variant (another index,
versions the catalog does not pair): the install shows those and wants an explicit yes.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from torchup.errors import InputError
from torchup.output import printable
from torchup.plan import Plan, StackPin, index_url_for

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)
if TYPE_CHECKING:
    from typing import Any


__all__ = ["MAX_BYTES", "differences", "load_plan_file", "plan_from_json"]

MAX_BYTES = 1 << 20  # `torchup plan --json` writes a few KB, with every candidate considered
_MAX_DEPTH = 8  # a torchup plan's deepest value, considered[i].rejected, is 3 levels down
_MAX_ITEMS = 1000
_MAX_TEXT = 2000
_VARIANT = re.compile(r"^(cpu|xpu|pypi|cu\d{3}|rocm\d+\.\d+(\.\d+)?)$")
_TOOLKIT = re.compile(r"^\d+(\.\d+){0,3}$")
_PYTHON = re.compile(r"^3\.\d+t?$")
_NAME = re.compile(r"^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$")  # a project name (PEP 508)
_SOURCES = ("index_url", "find_links", "url")  # where a stack package comes from: at most one
_HINT = "write it with `torchup plan --json > FILE`, or plan again without --plan"


def load_plan_file(path: str) -> Plan:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read the plan file {path}: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise InputError(f"the plan file {path} is larger than {MAX_BYTES // 1024} KB: not a torchup plan", hint=_HINT)
    try:
        raw = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than the parser goes
        why = exc if isinstance(exc, ValueError) else "nested too deeply"
        raise InputError(f"the plan file {path} is not JSON: {printable(str(why))}", hint=_HINT) from None
    return plan_from_json(raw, source=path)


def plan_from_json(raw: object, *, source: str = "the plan") -> Plan:
    """A ``Plan`` from the JSON of ``torchup plan --json``; every bad field is named."""
    if not isinstance(raw, dict) or not isinstance(raw.get("torch"), str) or not isinstance(raw.get("variant"), str):
        raise InputError(f"{source} is not a torchup plan (it needs at least 'torch' and 'variant')", hint=_HINT)
    problems = _problems(raw)
    if problems:
        raise InputError(f"{source} is not a valid torchup plan", details=problems, hint=_HINT)
    index_url = raw.get("index_url")
    return Plan(
        torch=raw["torch"],
        torchvision=raw.get("torchvision"),
        torchaudio=raw.get("torchaudio"),
        variant=raw["variant"],
        cuda=raw.get("cuda"),
        rocm=raw.get("rocm"),
        index_url=_unredacted(index_url) if isinstance(index_url, str) else index_url,
        os=raw.get("os"),
        arch=raw.get("arch"),
        python=raw.get("python"),
        reasons=tuple(raw.get("reasons") or ()),
        warnings=tuple(raw.get("warnings") or ()),
        stack=tuple(_stack_pin(item) for item in raw.get("stack") or ()),
    )


def _stack_pin(item: dict) -> StackPin:
    sources = {k: _unredacted(item[k]) if isinstance(item.get(k), str) else None for k in _SOURCES}
    return StackPin(name=item["name"], version=item["version"], reason=item.get("reason") or "", **sources)


def _unredacted(url: str) -> str:
    """A plan file keeps no password (``torchup plan --json`` writes ``user:***@``): such a
    URL loses its user part, so torchup, pip and uv take the host's login from ~/.netrc."""
    from torchup.http import strip_credentials

    bare, credentials = strip_credentials(url)
    return bare if credentials is not None and "***" in credentials else url


def _problems(raw: dict) -> list[str]:
    out: list[str] = []
    if _depth(raw) > _MAX_DEPTH:
        out.append(f"nested more than {_MAX_DEPTH} levels deep (a torchup plan nests 3)")
    if "format" in raw:  # the envelope of every --json document (docs/json.md)
        if raw["format"] != "torchup/plan":
            return [
                f"format: this is a {_show(raw['format'])} document, not a torchup plan "
                "(`torchup plan --json` for one machine writes one)"
            ]
        version = raw.get("version")
        if version != 1 or isinstance(version, bool):
            out.append(f"version: {_show(version)} is not a torchup/plan version this torchup reads (1)")
    else:  # written before the envelope
        fmt = raw.get("torchup_plan", 1)
        if fmt != 1 or isinstance(fmt, bool):
            out.append(f"torchup_plan: format {_show(fmt)} is not one this torchup reads (1)")
    for key in ("torch", "torchvision", "torchaudio"):
        why = _version_problem(raw.get(key), required=key == "torch")
        if why:
            out.append(f"{key}: {why}")
    variant = raw["variant"]
    if not _VARIANT.match(variant):
        out.append(f"variant: {_show(variant)} is not a variant (cpu, cu126, rocm6.4, xpu, pypi)")
    elif "+" in raw["torch"] and not _version_problem(raw["torch"], required=True):
        label = raw["torch"].split("+", 1)[1]
        if label != variant:
            out.append(f"torch: {_show(raw['torch'])} is a {label} build, but variant is {variant}")
    for key, pattern, example in (("cuda", _TOOLKIT, "12.6"), ("rocm", _TOOLKIT, "6.4"), ("python", _PYTHON, "3.12")):
        value = raw.get(key)
        if value is not None and not (isinstance(value, str) and pattern.match(value)):
            out.append(f"{key}: {_show(value)} is not a version like {example}")
    for key, allowed in (("os", ("linux", "windows", "macos")), ("arch", ("x86_64", "aarch64"))):
        value = raw.get(key)
        if value is not None and value not in allowed:
            out.append(f"{key}: {_show(value)} is not one of {', '.join(allowed)}")
    why = _url_problem(raw.get("index_url"))
    if why:
        out.append(f"index_url: {why}")
    out += _stack_problems(raw.get("stack"))
    for key in ("reasons", "warnings"):
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or len(value) > _MAX_ITEMS:
            out.append(f"{key}: not a list of at most {_MAX_ITEMS} sentences")
            continue
        out += [
            f"{key}[{i}]: not a string of at most {_MAX_TEXT} characters"
            for i, item in enumerate(value)
            if not isinstance(item, str) or len(item) > _MAX_TEXT
        ][:10]
    return out


def _stack_problems(value: Any) -> list[str]:
    """The bad fields of ``stack``: a list of ``{name, version, index_url | find_links | url, reason}``."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > _MAX_ITEMS:
        return [f"stack: not a list of at most {_MAX_ITEMS} packages"]
    out: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            out.append(f"stack[{i}]: not an object with name and version")
            continue
        name = item.get("name")
        if not (isinstance(name, str) and len(name) <= 200 and _NAME.match(name)):
            out.append(f"stack[{i}].name: {_show(name)} is not a package name")
        why = _version_problem(item.get("version"), required=True)
        if why:
            out.append(f"stack[{i}].version: {why}")
        given = [k for k in _SOURCES if item.get(k) is not None]
        if len(given) > 1:
            out.append(f"stack[{i}]: {' and '.join(given)}: a package comes from one place")
        for key in given:
            why = _url_problem(item[key])
            if why:
                out.append(f"stack[{i}].{key}: {why}")
        reason = item.get("reason")
        if reason is not None and not (isinstance(reason, str) and len(reason) <= _MAX_TEXT):
            out.append(f"stack[{i}].reason: not a string of at most {_MAX_TEXT} characters")
    return out[:10]


def _version_problem(value: Any, *, required: bool) -> str | None:
    from packaging.version import InvalidVersion, Version

    if value is None:
        return "missing" if required else None
    if not isinstance(value, str) or len(value) > 64:
        return f"{_show(value)} is not a version string"
    try:
        Version(value)
    except InvalidVersion:
        return f"{_show(value)} is not a version (PEP 440, e.g. 2.14.1+cu126)"
    if value != value.strip():
        return f"{_show(value)} has spaces around it"
    return None


def _url_problem(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > _MAX_TEXT:
        return f"{_show(value)} is not a URL"
    if any(c.isspace() or not c.isprintable() for c in value):
        return f"{_show(value)} has spaces or control characters in it"
    try:
        parts = urlsplit(value)
    except ValueError:
        return f"{_show(value)} is not a URL"
    if parts.scheme not in ("http", "https", "file"):
        return f"{_show(value)}: only http, https and file URLs are accepted"
    if parts.scheme != "file" and not parts.hostname:
        return f"{_show(value)} names no host"
    return None


def _depth(value: Any) -> int:
    """How deep the containers nest, counted up to one past ``_MAX_DEPTH`` (iteratively: a hostile
    file must not exhaust the stack)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level + 1)
        if deepest > _MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return printable(text if len(text) <= 80 else text[:77] + "...")


def _index_identity(url: str | None) -> str:
    """An index as the comparison sees it: without the login (the user's own credentials for the
    same index change nothing about which index it is) and without a trailing slash."""
    if not url:
        return ""
    from torchup.http import strip_credentials

    return strip_credentials(url)[0].rstrip("/")


def differences(plan: Plan, catalog, index_base: str) -> list[str]:
    """Where a plan read from a file departs from what torchup would choose for its variant:
    its index, and versions of the family the catalog does not know or pair.  Pure."""
    out = []
    release = catalog.release(plan.base_version)
    builds = release.builds if release else ()
    if plan.variant == "pypi":  # PyPI's default build: whichever build PyPI serves for the platform
        build = next((b for b in builds if b.pypi_default), None)
    else:
        build = next((b for b in builds if b.variant == plan.variant), None)
    if build is None:
        out.append(f"torch {plan.torch} ({plan.variant}) is not a build torchup's catalog knows")
    expected = (
        None
        if plan.variant == "pypi"
        else index_url_for(build.index_suffix or plan.variant if build else plan.variant, index_base)
    )
    if _index_identity(plan.index_url) != _index_identity(expected):
        where = f"PyTorch's index for {plan.variant}, {expected}" if expected else "the default index"
        out.append(f"it installs from {plan.index_url or 'the default index'}, not from {where}")
    own = _index_identity(expected)
    for pin in plan.stack:
        source = pin.url or pin.find_links or pin.index_url
        if source and _index_identity(source) != own:  # torchup vouches for PyTorch's index only
            out.append(f"it installs {pin.name} {pin.version} from {source}, a source torchup does not vouch for")
    for name in ("torchvision", "torchaudio"):
        version = getattr(plan, name)
        companion = release.companion(name) if release else None
        if version and release and (companion is None or version.split("+")[0] != companion.version):
            out.append(
                f"{name} {version} is not the one torchup pairs with torch {plan.base_version}"
                + (f" ({companion.version})" if companion else "")
            )
    return out
