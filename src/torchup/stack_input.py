"""The packages to choose torch with, read from a requirements file (``-r FILE``) or a project
(``--project pyproject.toml``: its ``[project] dependencies``, and the extras named with
``--project-extra``).

Each reader is a small read of the file plus a pure parser of its text.  What comes out is
plain data: the PEP 508 strings of the stack (``Request.with_packages``) and the torch
specifiers found, which ``fold`` merges into the request's ``torch``.  torch, torchvision and
torchaudio are what torchup chooses, so they are never stack packages: a torch specifier limits
the choice, a bare torchvision or torchaudio line is dropped, and one that pins them is refused
(torchup picks the companions that match the torch it chooses).

Anything torchup would have to guess at is refused with a ``UsageError`` (exit 2) before
anything is resolved or installed: an editable or a URL requirement, an option line (an index, a
nested ``-r``, a constraints file, ``--hash``), a line that is not PEP 508, dynamic dependencies.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from torchup.errors import UsageError
from torchup.plan import Request
from torchup.record import record, replace

__all__ = [
    "MAX_FILE_BYTES",
    "StackInput",
    "fold",
    "parse_project",
    "parse_requirements",
    "read_project",
    "read_requirements",
]

MAX_FILE_BYTES = 1024 * 1024  # a requirements file or a pyproject.toml is a few KB
_CHOSEN = ("torch", "torchvision", "torchaudio")  # what torchup itself chooses


@record
class StackInput:
    """What one file asks for: the stack's PEP 508 strings, and torch specifiers with their origin."""

    packages: tuple[str, ...] = ()
    torch: tuple[tuple[str, str], ...] = ()  # (specifier, "requirements.txt:3")


# --- pure -----------------------------------------------------------------------
def _logical_lines(text: str) -> list[tuple[int, str]]:
    """``(line number, text)``: ``\\`` continuations joined, then comments dropped, as pip reads them."""
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        if raw.endswith("\\") and not raw.lstrip().startswith("#"):
            pending += raw[:-1]
            continue
        line, pending = _without_comment(pending + raw).strip(), ""
        if line:
            out.append((start, line))
    if pending.strip():
        out.append((start, _without_comment(pending).strip()))
    return [(n, line) for n, line in out if line]


def _without_comment(line: str) -> str:
    """``line`` up to its comment: a ``#`` at the start or after whitespace, as pip reads it.
    A scan for ``#``, not a pattern: ``(^|\\s+)#`` retried its whitespace run at every position
    (a name and 100,000 spaces took 55 s)."""
    at = line.find("#")
    while at > 0 and not line[at - 1].isspace():
        at = line.find("#", at + 1)
    return line if at < 0 else line[:at]


def _option_refusal(line: str, where: str) -> UsageError:
    option = line.split()[0].split("=")[0]
    if not option.startswith("--"):
        option = option[:2]  # "-rother.txt"
    why = {
        "-r": "a nested requirements file is not followed",
        "--requirement": "a nested requirements file is not followed",
        "-c": "a constraints file is not read",
        "--constraint": "a constraints file is not read",
        "-e": "an editable install is not a package torchup can choose a wheel of",
        "--editable": "an editable install is not a package torchup can choose a wheel of",
    }.get(option, "torchup chooses the indexes and files itself, so index and file options are not used")
    return UsageError(
        f"{where}: {line[:80]!r}: {why}",
        hint="give the packages by name (a nested file with its own -r), or leave the line out; "
        "nothing was resolved or installed",
    )


def _requirement(text: str, where: str):
    from packaging.requirements import InvalidRequirement, Requirement

    if text.startswith("-"):
        raise _option_refusal(text, where)
    if " --" in text or "\t--" in text:  # a per-requirement option: --hash=..., --config-settings
        raise UsageError(
            f"{where}: {text[:80]!r}: per-requirement options (--hash, --config-settings) are not read",
            hint="torchup pins the files itself; remove the options (a file written by pip-compile "
            "--generate-hashes: compile it without them), or give the names with -r from another file",
        )
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        raise UsageError(
            f"{where}: {text[:80]!r} is not a requirement (PEP 508: name, extras, versions, marker): {exc}",
            hint="local paths and archive names are not packages torchup can choose; give the package's name",
        ) from None
    if req.url:
        raise UsageError(
            f"{where}: {req.name} is given by URL ({req.url[:80]}); torchup chooses where each package comes from",
            hint=f"give it by name and version ({req.name}==VERSION), or install it yourself after torchup",
        )
    return req


def _sort(reqs: list[tuple[str, str]]) -> StackInput:
    """Split ``(requirement text, where)`` pairs into the stack and the torch specifiers."""
    from packaging.utils import canonicalize_name

    packages: dict[str, None] = {}  # ordered, and a repeat is found without a scan
    torch: list[tuple[str, str]] = []
    for text, where in reqs:
        req = _requirement(text, where)
        name = canonicalize_name(req.name)
        if name not in _CHOSEN:
            packages.setdefault(str(req))
            continue
        if req.marker is not None or req.extras:
            raise UsageError(
                f"{where}: {text[:80]!r}: torchup chooses {name}, for this machine; a marker or extras on it "
                "cannot be followed",
                hint=f"write {name} without them (or leave it out: torchup adds it)",
            )
        if name == "torch":
            if str(req.specifier):
                torch.append((str(req.specifier), where))
        elif str(req.specifier):
            raise UsageError(
                f"{where}: {text[:80]!r}: torchup chooses {name} to match the torch it picks",
                hint=f"pin torch instead (a torch line, or --torch), and write {name} without a version",
            )
    return StackInput(packages=tuple(packages), torch=tuple(torch))


def parse_requirements(text: str, *, origin: str) -> StackInput:
    """A requirements file's text (pip's format), as a ``StackInput``; ``UsageError`` for what it cannot follow."""
    return _sort([(line, f"{origin}:{number}") for number, line in _logical_lines(text)])


def parse_project(text: str, *, origin: str, extras: Sequence[str] = ()) -> StackInput:
    """A ``pyproject.toml``'s ``[project] dependencies`` (and ``optional-dependencies`` of ``extras``)."""
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10
        import tomli as tomllib

    from torchup.machine import MAX_KEY_PARTS, long_toml_key

    key = long_toml_key(text)
    if key is not None:
        raise UsageError(f"{origin} has a key of over {MAX_KEY_PARTS} dotted parts ({key[:40]}...): not a project file")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{origin} is not valid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise UsageError(f"{origin} nests arrays or tables too deep to be a project file") from None
    project = doc.get("project")
    if not isinstance(project, dict):
        poetry = isinstance(doc.get("tool"), dict) and "poetry" in doc["tool"]
        raise UsageError(
            f"{origin} has no [project] table, so no dependencies to read",
            hint="declare them in [project] dependencies (PEP 621; Poetry 2 reads them there too)"
            if poetry
            else "give a pyproject.toml with [project] dependencies, or the packages with -r FILE",
        )
    dynamic = project.get("dynamic") or []
    if not isinstance(dynamic, list):
        raise UsageError(f"{origin}: [project] dynamic is not a list of field names")
    if "dependencies" in dynamic:
        raise UsageError(
            f"{origin} declares its dependencies dynamic: they are known only by building the project",
            hint="list the packages in a requirements file and give it with -r",
        )
    deps = project.get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise UsageError(f"{origin}: [project] dependencies is not a list of strings")
    reqs = [(d.strip(), f"{origin}: [project] dependencies") for d in deps]
    optional = project.get("optional-dependencies") or {}
    if not isinstance(optional, dict):
        raise UsageError(f"{origin}: [project.optional-dependencies] is not a table")
    for extra in extras:
        found = optional.get(extra)
        if found is None:
            known = ", ".join(sorted(optional)) or "none"
            raise UsageError(f"{origin} has no extra {extra!r}", hint=f"its extras: {known}")
        if not isinstance(found, list) or not all(isinstance(d, str) for d in found):
            raise UsageError(f"{origin}: the extra {extra!r} is not a list of strings")
        reqs += [(d.strip(), f"{origin}: extra {extra!r}") for d in found]
    name = project.get("name")
    if isinstance(name, str):  # an extra that names the project itself (``proj[gpu]``) is not a package to choose
        from packaging.utils import canonicalize_name

        own = canonicalize_name(name)
        reqs = [(r, w) for r, w in reqs if canonicalize_name(re.split(r"[\s\[;<>=!~@(]", r, maxsplit=1)[0]) != own]
    return _sort(reqs)


def fold(request: Request, inputs: Sequence[StackInput]) -> Request:
    """``request`` with the inputs' packages added to ``with_packages`` and their torch specifier
    in ``torch``; ``UsageError`` when two torch specifiers (or one and ``--torch``) differ."""
    from torchup.resolve import parse_torch_spec

    packages = list(request.with_packages)
    for item in inputs:
        packages += [p for p in item.packages if p not in packages]
    given = [(request.torch, "--torch")] if request.torch else []
    given += [t for item in inputs for t in item.torch]
    specs = {str(parse_torch_spec(spec)) for spec, _ in given}
    if len(specs) > 1:
        raise UsageError(
            "torch is asked for in more than one way: " + "; ".join(f"{spec} ({where})" for spec, where in given),
            hint="keep one torch specifier (edit the file, or drop --torch)",
        )
    torch = request.torch or (given[0][0] if given else None)
    return replace(request, with_packages=tuple(packages), torch=torch)


# --- effects --------------------------------------------------------------------
def _read(path: str, what: str) -> str:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except IsADirectoryError:
        raise UsageError(f"{what} {path} is a directory, not a file") from None
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise UsageError(f"{what} {path} is over {MAX_FILE_BYTES // 1024} KB: not one torchup reads")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{what} {path} is not UTF-8 text") from None


def read_requirements(path: str) -> StackInput:
    """``-r FILE``."""
    return parse_requirements(_read(path, "requirements file"), origin=path)


def read_project(path: str, extras: Sequence[str] = ()) -> StackInput:
    """``--project FILE`` (a directory means its pyproject.toml)."""
    import os

    if os.path.isdir(path):
        path = os.path.join(path, "pyproject.toml")
    return parse_project(_read(path, "project file"), origin=path, extras=extras)
