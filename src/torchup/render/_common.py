"""Helpers shared by the renderers: the pinned requirement list, quoting, TOML, names."""

from __future__ import annotations

from torchup.errors import TorchupError, UsageError
from torchup.plan import Plan

__all__ = [
    "SHELLS",
    "RenderError",
    "comments",
    "extra_index_packages",
    "index_name",
    "is_plain",
    "join",
    "pins",
    "quote",
    "shell_for",
    "toml_array_table",
    "toml_text",
]

# Packages that must come from the same PyTorch index as torch when a variant
# index is used in a *project* file (uv/poetry route only named packages to an
# explicit index; torch's own dependency on them would otherwise be looked up
# on the default index).  Fact: uv's PyTorch guide routes pytorch-triton-rocm
# (ROCm) and pytorch-triton-xpu (Intel GPU) to the PyTorch index as well.
_TRITON_FOR = {"rocm": "pytorch-triton-rocm", "xpu": "pytorch-triton-xpu"}

# Arguments written bare, per shell; anything else is quoted.  PowerShell: no $ ` ' " , ; ( ) { } @ # & | < >,
# and no non-ASCII (PowerShell reads the typographic quotes and dashes as ' " -).  cmd.exe: no % either.
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_SAFE = {
    "posix": _ALNUM + "_@%+=:,./-",
    "powershell": _ALNUM + "_%+=:./\\-",
    "cmd": _ALNUM + "_+=:./\\-",
}


def is_plain(arg: str, safe: str) -> bool:
    """``arg`` is not empty and made only of the characters in ``safe``."""
    return bool(arg) and not arg.strip(safe)


SHELLS = tuple(_SAFE)
# PowerShell reads these as single quotes too (about_Quoting_Rules); inside '...' each is doubled
_PS_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"


class RenderError(TorchupError):
    """The plan cannot be expressed in this format (e.g. ROCm through conda-forge)."""

    code = "cannot-render"


def pins(plan: Plan) -> list[str]:
    """``["torch==2.14.1+cu126", "torchvision==0.29.1+cu126"]``: exact pins, companions
    that exist only (the plan says why one is missing)."""
    out = [f"torch=={plan.torch}"]
    if plan.torchvision:
        out.append(f"torchvision=={plan.torchvision}")
    if plan.torchaudio:
        out.append(f"torchaudio=={plan.torchaudio}")
    return out


def extra_index_packages(plan: Plan) -> list[str]:
    """Torch's own runtime dependencies that live on the variant index (triton for ROCm/XPU)."""
    for prefix, name in _TRITON_FOR.items():
        if plan.variant.startswith(prefix):
            return [name]
    return []


def shell_for(plan: Plan) -> str:
    """The shell a plan's commands are written for: PowerShell on Windows (the default shell of
    Windows Terminal on Windows 10 and 11), a POSIX shell elsewhere."""
    return "powershell" if plan.os == "windows" else "posix"


def _refuse(arg: str, shell: str, why: str) -> UsageError:
    name = {"powershell": "PowerShell", "cmd": "cmd.exe"}[shell]
    shown = arg if arg.isprintable() else repr(arg)
    return UsageError(
        f"{shown} cannot be written safely for {name}: {why}",
        hint="use a path or URL without it (a Windows path cannot contain '\"' anyway)",
    )


def quote(arg: str, *, shell: str = "posix", program: bool = False) -> str:
    """Quote one argument so that ``shell`` passes it on unchanged; ``UsageError`` where it cannot.

    posix: single quotes, a ``'`` written as ``'"'"'``.  PowerShell: single quotes, which expand
    nothing, each quote character doubled; ``"`` is refused (Windows PowerShell 5.1 passes it to a
    program unescaped).  cmd.exe: double quotes, a run of backslashes before the closing quote
    doubled (the C runtime's argv rules); ``%`` (expanded even inside quotes) and ``"`` (no escape
    inside quotes) are refused.  Line breaks and control characters are refused on Windows.
    ``program``: the first word, whose backslashes the C runtime keeps as they are."""
    if shell == "posix":
        if is_plain(arg, _SAFE["posix"]):
            return arg
        return "'" + arg.replace("'", "'\"'\"'") + "'"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in arg):
        raise _refuse(arg, shell, "it contains a line break or a control character")
    if '"' in arg:
        raise _refuse(arg, shell, "it contains a double quote ('\"'); percent-encode it in a URL (%22)")
    if shell == "powershell":
        if arg != "--%" and is_plain(arg, _SAFE["powershell"]):
            return arg
        return "'" + "".join(ch * 2 if ch in _PS_SINGLE_QUOTES else ch for ch in arg) + "'"
    if shell == "cmd":
        if "%" in arg:
            raise _refuse(arg, shell, "cmd.exe expands %NAME% even inside quotes and has no escape for '%' there")
        if is_plain(arg, _SAFE["cmd"]):
            return arg
        tail = 0 if program else len(arg) - len(arg.rstrip("\\"))
        return '"' + arg + "\\" * tail + '"'
    raise ValueError(f"unknown shell {shell!r}")


def join(argv: list[str], *, shell: str = "posix") -> str:
    """One command line for ``shell``.  In PowerShell a quoted program name needs the call
    operator: ``& 'C:\\Program Files\\Python\\python.exe' -m pip ...``."""
    words = [quote(a, shell=shell, program=i == 0) for i, a in enumerate(argv)]
    if shell == "powershell" and words and words[0].startswith("'"):
        words.insert(0, "&")
    return " ".join(words)


def comments(lines: list[str]) -> str:
    """``# line`` for each line; a line break inside one (from a hostile value) stays inside the comment."""
    return "".join("# " + " ".join(line.splitlines()) + "\n" for line in lines)


def toml_text(data: dict) -> str:
    """``data`` as TOML, every key and value escaped as TOML requires (``torchup.render._toml``)."""
    from torchup.render import _toml

    return _toml.dumps(data)


def toml_array_table(header: str, entry: dict[str, str | bool]) -> str:
    """One ``[[header]]`` entry of flat scalars (``[[tool.uv.index]]``): tomli-w would write a
    short list of tables inline (``index = [{...}]`` under ``[tool.uv]``), the fragments keep
    the form uv's documentation shows.  The header is a constant; the values go through ``toml_text``."""
    if any(isinstance(v, (dict, list)) for v in entry.values()):
        raise ValueError("toml_array_table takes flat tables only")  # nested values need the full path
    return f"[[{header}]]\n" + toml_text(entry)


def index_name(plan: Plan) -> str:
    """The name a project file gives PyTorch's index for this variant: ``pytorch-cu126``."""
    return f"pytorch-{plan.variant}"
