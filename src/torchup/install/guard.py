"""The guard: after ``torchup install``, a later ``pip install X`` must not replace the verified
torch stack (``pip install vllm`` uninstalling a working CUDA torch for another build).

pip reads a "site" configuration file inside the environment, ``<sys.prefix>/pip.conf``
(``pip.ini`` on Windows), after the global and user ones
(https://pip.pypa.io/en/stable/topics/configuration/#location).  torchup writes the stack as
installed (``torch==2.14.1+cu126``, local label included) to ``<prefix>/.torchup/constraints.txt``
and adds that path to the ``[global] constraint`` of the site file, keeping the user's keys and
comments; pip's resolver then refuses any install that needs another torch.

torchup's own installs relax the guard (the file keeps no pins while the manager runs) and write
it again afterwards; both files are kept by the install's snapshot, so a failure or
``--rollback`` puts them back as they were.  uv reads no pip.conf: ``uv pip install`` needs
``--constraint <file>`` (or ``UV_CONSTRAINT``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from torchup.install.target import TargetEnv, installed_versions
from torchup.record import record

TYPE_CHECKING = False  # configparser is imported where used: install --dry-run writes no guard (issue 15)
if TYPE_CHECKING:
    import configparser

__all__ = [
    "STACK",
    "GuardStatus",
    "after_install",
    "conf_constraints",
    "constraints_path",
    "constraints_text",
    "guard_files",
    "guard_status",
    "parse_constraints",
    "pip_conf_path",
    "relax",
    "remove_guard",
    "stack_pins",
    "uv_hint",
    "with_constraint",
    "without_constraint",
    "write_guard",
]

STACK = ("torch", "torchvision", "torchaudio")
_MARK = "# torchup:"  # the comment lines torchup writes into pip.conf start so; removing the guard removes them
_KEY = re.compile(r"^constraint\s*[=:]", re.IGNORECASE)  # configparser lower-cases keys
_HEADER = re.compile(r"^\s*\[(?P<name>[^\]]+)\]")


def constraints_path(prefix: str) -> str:
    return os.path.join(prefix, ".torchup", "constraints.txt")


def pip_conf_path(prefix: str, *, windows: bool = os.name == "nt") -> str:
    """pip's site configuration file of the environment whose ``sys.prefix`` is ``prefix``."""
    return os.path.join(prefix, "pip.ini" if windows else "pip.conf")


def guard_files(prefix: str) -> tuple[str, str]:
    """The files the guard writes: what an install's snapshot keeps, so a rollback restores them."""
    return pip_conf_path(prefix), constraints_path(prefix)


# --- pure -----------------------------------------------------------------------
def constraints_text(pins: Mapping[str, str], conf: str) -> str:
    """The constraints file: one exact pin per installed member of the stack."""
    head = [
        f"# written by torchup after it installed this torch stack; pip reads it through {conf}.",
        "# An install that needs another torch is refused. To change torch on purpose:",
        "#   torchup install ...   or   torchup add --allow-torch-change PKG",
        "# uv reads no pip.conf: `uv pip install --constraint <this file> ...` or UV_CONSTRAINT=<this file>.",
    ]
    return "\n".join(head + [f"{name}=={version}" for name, version in pins.items()]) + "\n"


def parse_constraints(text: str) -> dict[str, str]:
    """``name -> version`` of the ``name==version`` lines (comments and anything else skipped)."""
    out = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        name, sep, version = line.partition("==")
        if sep and name.strip() and version.strip():
            out[name.strip().lower()] = version.strip()
    return out


def _parse(text: str) -> configparser.RawConfigParser:
    import configparser

    parser = configparser.RawConfigParser(strict=False)  # pip reads its files the same way
    parser.read_string(text)
    return parser


def conf_constraints(text: str) -> list[str]:
    """The constraint files ``pip install`` takes from this pip.conf: ``[install]``'s, else
    ``[global]``'s (pip splits the value on whitespace).  Raises ``configparser.Error`` for text
    pip could not read either."""
    parser = _parse(text)
    for section in ("install", "global"):
        if parser.has_option(section, "constraint"):
            return parser.get(section, "constraint").split()
    return []


def with_constraint(text: str, path: str) -> str:
    """``text`` (a pip.conf) with ``path`` added to ``[global] constraint``, every other line kept;
    also to an ``[install] constraint``, which pip takes instead of the global one for ``pip install``.
    Raises ``configparser.Error`` for text pip could not read either."""
    parser = _parse(text)
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    for section in ("install", "global"):
        has = parser.has_option(section, "constraint")
        if path in (parser.get(section, "constraint").split() if has else ()) or (section == "install" and not has):
            continue
        lines = _add_path(lines, section, path)
    return "".join(lines)


def _add_path(lines: list[str], section: str, path: str) -> list[str]:
    start = next((i for i, line in enumerate(lines) if _section(line) == section), None)
    if start is None:
        return (
            lines
            + (["\n"] if "".join(lines).strip() else [])
            + [f"[{section}]\n", _comment(), f"constraint = {path}\n"]
        )
    end = next((i for i in range(start + 1, len(lines)) if _section(lines[i]) is not None), len(lines))
    key = next((i for i in range(start + 1, end) if _KEY.match(lines[i])), None)
    if key is None:
        return [*lines[: start + 1], _comment(), f"constraint = {path}\n", *lines[start + 1 :]]
    last = key  # the value's continuation lines are indented
    while last + 1 < end and lines[last + 1].strip() and lines[last + 1][:1] in " \t":
        last += 1
    return [*lines[:key], _comment(appended=True), *lines[key : last + 1], f"    {path}\n", *lines[last + 1 :]]


def without_constraint(text: str, path: str) -> str:
    """``text`` without ``path`` in any ``constraint`` and without torchup's comments;
    a ``constraint`` left with no value goes too.  The inverse of ``with_constraint``."""
    out: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.startswith(_MARK):
            continue
        if line.strip() == path and line[:1] in " \t":
            continue
        match = _KEY.match(line)
        if match and path in line[match.end() :].split():
            rest = [t for t in line[match.end() :].split() if t != path]
            if not rest:
                out.append("\0")  # the key stays only if continuation lines follow
                continue
            line = f"{line[: match.end()].rstrip('=: ')} = {' '.join(rest)}\n"
        out.append(line)
    result: list[str] = []
    for i, line in enumerate(out):
        if line == "\0":
            following = out[i + 1] if i + 1 < len(out) else ""
            if following.strip() and following[:1] in " \t":
                result.append("constraint =\n")
            continue
        result.append(line)
    return "".join(result)


def _section(line: str) -> str | None:
    match = _HEADER.match(line) if not line[:1].isspace() else None
    return match.group("name").strip() if match else None


def _comment(*, appended: bool = False) -> str:
    what = "the last path of `constraint`" if appended else "the `constraint` line below"
    return (
        f"{_MARK} {what} keeps the torch stack torchup installed and verified (pip refuses another torch).\n"
        f"{_MARK} to lift it, delete it and these two comments; `torchup add --allow-torch-change` changes torch.\n"
    )


# --- effects --------------------------------------------------------------------
def stack_pins(target: TargetEnv, names: tuple[str, ...] = STACK) -> dict[str, str]:
    """The installed members of the stack, as installed (read from the .dist-info names); ``names``:
    torch's family, and the packages installed with it (``Plan.stack``: xformers, flash-attn...)."""
    pins = {}
    for name in names:
        versions = installed_versions(target.site_dirs, name)
        if len(versions) == 1:
            pins[name] = versions[0]
    return pins


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    real = os.path.realpath(path)  # a linked pip.conf stays a link
    tmp = real + ".torchup-new"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, real)


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def relax(prefix: str) -> bool:
    """Empty the constraints file (pip.conf keeps pointing at it) while torchup's own manager runs.
    The install's snapshot keeps the file: a failure restores the pins.  True when there was a guard."""
    path = constraints_path(prefix)
    if not os.path.isfile(path):
        return False
    _write(path, "# torchup: relaxed while torchup itself installs; written again when it is done\n")
    return True


def write_guard(target: TargetEnv, names: tuple[str, ...] = STACK) -> str:
    """Pin the installed stack (``names``, see ``stack_pins``) and point the site pip.conf at the
    pins; returns the step line.  Raises ``OSError`` or ``configparser.Error`` (pip.conf
    unreadable) with nothing changed."""
    pins = stack_pins(target, names)
    conf, path = guard_files(target.prefix)
    old = _read(conf) or ""
    new = with_constraint(old, path)
    _write(path, constraints_text(pins, conf))
    if new != old:
        _write(conf, new)
    return (
        f"guard: {conf} now makes pip refuse to replace "
        + ", ".join(f"{k} {v}" for k, v in pins.items())
        + f" (pins in {path})"
    )


def remove_guard(prefix: str) -> bool:
    """Take torchup's line out of the site pip.conf and delete the constraints file; True when
    there was something to remove."""
    conf, path = guard_files(prefix)
    old = _read(conf)
    removed = False
    if old is not None:
        new = without_constraint(old, path)
        if new != old:
            if any(line.strip() and _section(line) is None for line in new.splitlines()):
                _write(conf, new)
            else:
                os.unlink(conf)  # nothing but a section header left: torchup had written all of it
            removed = True
    if os.path.isfile(path):
        os.unlink(path)
        removed = True
    return removed


def after_install(
    target: TargetEnv, *, enabled: bool, verified: bool | None, manager: str, names: tuple[str, ...] = STACK
) -> list[str]:
    """Write the guard after a successful install (``verified``: None when verify was not run;
    ``names``: what it pins, see ``stack_pins``); the step lines to print.  A guard that cannot be written is said, not raised: the install
    itself succeeded."""
    if not enabled:
        try:
            return ["guard: off (--no-guard); an earlier guard was removed"] if remove_guard(target.prefix) else []
        except OSError as exc:
            return [
                f"guard: the earlier guard could not be removed: {exc.strerror or exc}; `torchup guard --off` retries"
            ]
    if verified is False:
        return ["guard: not set, the stack did not verify"]
    path = constraints_path(target.prefix)
    if any(c.isspace() for c in path):  # pip splits a configured constraint value on whitespace
        return [f"guard: not set: pip cannot name {path} in pip.conf (a space in the path)"]
    import configparser

    try:
        lines = [write_guard(target, names)]
    except (OSError, configparser.Error) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]
        return [f"guard: not set: {pip_conf_path(target.prefix)}: {why}"]
    if manager == "uv":
        lines.append(uv_hint(target.prefix))
    return lines


def uv_hint(prefix: str) -> str:
    path = constraints_path(prefix)
    return f"uv reads no pip.conf: keep the guard with `uv pip install --constraint {path} ...` or UV_CONSTRAINT={path}"


@record
class GuardStatus:
    prefix: str
    pip_conf: str
    constraints: str
    on: bool  # the site pip.conf names the constraints file, and the file exists
    pins: Mapping[str, str]  # what the constraints file pins (empty: none, or relaxed)
    installed: Mapping[str, str]  # the installed members of the stack

    @property
    def changed(self) -> list[str]:
        """The pinned members whose installed version differs."""
        return [name for name, version in self.pins.items() if self.installed.get(name) != version]

    def to_json(self) -> dict:
        return {
            "prefix": self.prefix,
            "pip_conf": self.pip_conf,
            "constraints": self.constraints,
            "on": self.on,
            "pins": dict(self.pins),
            "installed": dict(self.installed),
            "changed": self.changed,
        }


def guard_status(target: TargetEnv) -> GuardStatus:
    """Whether pip is guarded in ``target``, and what it pins against what is installed."""
    import configparser

    conf, path = guard_files(target.prefix)
    try:
        named = path in conf_constraints(_read(conf) or "")
    except configparser.Error:  # pip cannot read it either: no guard
        named = False
    text = _read(path)
    pins = parse_constraints(text or "")
    return GuardStatus(
        prefix=target.prefix,
        pip_conf=conf,
        constraints=path,
        on=named and text is not None,
        pins=pins,
        # the stack the file pins (torch's family, and what was installed with it)
        installed=stack_pins(target, (*STACK, *(n for n in pins if n not in STACK))),
    )
