"""Windows commands are quoted for PowerShell (the default) and, on request, for cmd.exe.

Each rendering is read back by a small parser of that shell's documented rules, written here
from Microsoft's documentation, and must give the exact argv; a value a shell cannot carry is
refused with a UsageError instead.

- PowerShell (about_Quoting_Rules, about_Parsing, about_Operators): a single-quoted string expands
  nothing and writes a quote as two; the typographic quotes ‘ ’ ‚ ‛ are single quotes too;
  outside quotes $ ` " @ # ; , | & ( ) { } < > mean something; a quoted program name is a string
  unless the call operator ``&`` runs it.
- cmd.exe (``cmd /?``): %NAME% is expanded even inside double quotes, with no escape there;
  outside quotes & | < > ^ ( ) are operators; the quote state flips at every ``"``.  The program
  then splits its command line by the C runtime's rules ("Parsing C command-line arguments").
"""

from __future__ import annotations

from torchup.record import replace

import pytest

from torchup import render
from torchup.errors import UsageError
from torchup.plan import Plan
from torchup.render import conda, pip, uv
from torchup.render._common import index_name, join, pins

_PS_SINGLE = "'\u2018\u2019\u201a\u201b"
_PS_ACTIVE = set('$`"@#;,|&(){}<>\u201c\u201d\u201e')


def powershell_argv(line: str) -> list[str]:
    """The argv a native program gets from ``line`` typed at a PowerShell prompt; ValueError
    where PowerShell would do anything but pass literal words (expand, redirect, split, evaluate)."""
    words: list[str] = []
    quoted_first = False
    i, n = 0, len(line)
    call = line.startswith("& ")
    if call:
        i = 2
    while i < n:
        c = line[i]
        if c in " \t":
            i += 1
            continue
        if c in _PS_SINGLE:
            buf, i = [], i + 1
            while True:
                if i >= n:
                    raise ValueError("unterminated single-quoted string")
                if line[i] in _PS_SINGLE:
                    if i + 1 < n and line[i + 1] in _PS_SINGLE:
                        buf.append(line[i])
                        i += 2
                        continue
                    i += 1
                    break
                buf.append(line[i])
                i += 1
            if i < n and line[i] not in " \t":
                raise ValueError("a quoted string glued to more text")
            quoted_first = quoted_first or not words
            words.append("".join(buf))
            continue
        start = i
        while i < n and line[i] not in " \t":
            ch = line[i]
            if ch in _PS_ACTIVE or ch in _PS_SINGLE or ch in "\r\n" or not ch.isascii():
                raise ValueError(f"{ch!r} is not literal in a bare PowerShell word")
            i += 1
        word = line[start:i]
        if word == "--%":
            raise ValueError("--% stops PowerShell's parsing")
        words.append(word)
    if quoted_first and not call:
        raise ValueError("PowerShell evaluates a quoted program name as a string; it needs '&'")
    return words


def crt_argv(line: str) -> list[str]:
    """A command line split by the Microsoft C runtime (2008 and later rules)."""
    args: list[str] = []
    i, n = 0, len(line)
    # argv[0], the program: quotes group, backslashes are literal
    while i < n and line[i] in " \t":
        i += 1
    buf, inq = [], False
    while i < n and (inq or line[i] not in " \t"):
        if line[i] == '"':
            inq = not inq
        else:
            buf.append(line[i])
        i += 1
    args.append("".join(buf))
    while True:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            return args
        buf, inq = [], False
        while i < n:
            c = line[i]
            if c == "\\":
                j = i
                while j < n and line[j] == "\\":
                    j += 1
                count = j - i
                if j < n and line[j] == '"':
                    buf.append("\\" * (count // 2))
                    if count % 2:
                        buf.append('"')
                        i = j + 1
                    else:
                        i = j
                    continue
                buf.append("\\" * count)
                i = j
                continue
            if c == '"':
                if inq and i + 1 < n and line[i + 1] == '"':
                    buf.append('"')
                    i += 2
                    continue
                inq = not inq
                i += 1
                continue
            if c in " \t" and not inq:
                break
            buf.append(c)
            i += 1
        args.append("".join(buf))


def cmd_argv(line: str) -> list[str]:
    """The argv a program gets from ``line`` typed at a cmd.exe prompt; ValueError where cmd.exe
    would expand, redirect or chain instead."""
    if "%" in line:
        raise ValueError("cmd.exe expands %NAME%, inside quotes too")
    if "\n" in line or "\r" in line:
        raise ValueError("a line break ends the command")
    inq = False
    for c in line:
        if c == '"':
            inq = not inq
        elif not inq and c in "&|<>^()":
            raise ValueError(f"{c!r} is an operator outside quotes")
    if inq:
        raise ValueError("unbalanced quotes")
    return crt_argv(line)


# --- the parsers themselves ------------------------------------------------------


def test_the_parsers_read_the_documented_forms():
    assert powershell_argv("& 'C:\\Program Files\\py.exe' -m 'it''s' x") == ["C:\\Program Files\\py.exe", "-m", "it's", "x"]
    assert powershell_argv("py.exe '$HOME' '\u2019\u2019q'") == ["py.exe", "$HOME", "\u2019q"]
    assert cmd_argv('"C:\\Program Files\\py.exe" "a b\\\\" "x&y" z') == ["C:\\Program Files\\py.exe", "a b\\", "x&y", "z"]
    assert crt_argv('p a\\\\\\"b "c""d" e\\f') == ["p", 'a\\"b', 'c"d', "e\\f"]


@pytest.mark.parametrize("line", [
    '"C:\\x y\\python.exe" -m pip',  # what torchup wrote before: a string, then a parse error
    "'C:\\x y\\python.exe' -m pip",  # quoted program without &
    "python.exe -m pip install $(calc)",
    "python.exe a;b",
    "python.exe a,b",
    "python.exe --%",
    "python.exe 'unterminated",
])
def test_the_powershell_parser_refuses_what_powershell_would_not_pass_literally(line):
    with pytest.raises(ValueError):
        powershell_argv(line)


@pytest.mark.parametrize("line", [
    '"C:\\%USERPROFILE%\\python.exe" -m pip',
    "python.exe a&b",
    'python.exe "a"b"c',
    'python.exe "x\\"&calc',  # what `\"` escaping gave: cmd sees the quote close
])
def test_the_cmd_parser_refuses_what_cmd_would_not_pass_literally(line):
    with pytest.raises(ValueError):
        cmd_argv(line)


# --- the renderings ----------------------------------------------------------------

PYTHONS = [
    r"C:\Users\ana\proj\.venv\Scripts\python.exe",
    r"C:\Program Files\Python312\python.exe",
    r"C:\Users\Ana María\.venv\Scripts\python.exe",
    r"C:\Users\O'Brien\.venv\Scripts\python.exe",
    "C:\\Users\\a\u2019b\\.venv\\Scripts\\python.exe",
    r"C:\tools\R&D\python.exe",
    r"C:\tools\$(calc)\python.exe",
    r"C:\tools\%USERPROFILE%\python.exe",
    r"C:\tools\a;b,c {x} @y\python.exe",
    r"C:\Program Files (x86)\Python\python.exe",
    r"C:\tools\`n\python.exe",
    r"C:\tools\^caret!\python.exe",
    'C:\\tools\\"q"\\python.exe',
    "C:\\tools\\new\nline\\python.exe",
]
URLS = [
    "https://download.pytorch.org/whl/cu130",
    "file:///C:/my mirror/whl/cu130",
    r"file:///C:\mirror\whl\cu130",
    "https://mirror.example/it's/whl/cu130",
    "https://mirror.example/a&b/whl/cu130",
    "https://mirror.example/%7Euser/whl/cu130",
    "https://mirror.example/ünï/whl/cu130",
    'https://mirror.example/wh"l/cu130',
]
WINDOWS = Plan(torch="2.11.0+cu130", torchvision="0.26.0+cu130", torchaudio="2.11.0+cu130", variant="cu130",
               cuda="13.0", index_url="https://download.pytorch.org/whl/cu130", os="windows", arch="x86_64",
               python="3.12")
PARSERS = {"powershell": powershell_argv, "cmd": cmd_argv}


def _expected(plan: Plan, fmt: str, python: str) -> list[list[str]]:
    if fmt == "pip":
        return [pip.argv(plan, python=python)]
    if fmt == "uv":
        return [uv.argv(plan, python=python)]
    if fmt == "poetry":
        name = index_name(plan)
        return [["poetry", "source", "add", "--priority=explicit", name, plan.index_url],
                ["poetry", "add", "--source", name, *pins(plan)]]
    return [[fmt, "install", "--override-channels", "-c", "conda-forge", *conda.conda_forge_build(plan).specs]]


def _cannot_carry(shell: str, values: list[str]) -> bool:
    bad = '"\n' + ("%" if shell == "cmd" else "")
    return any(ch in v for v in values for ch in bad)


@pytest.mark.parametrize("shell", ["powershell", "cmd"])
@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("python", PYTHONS)
def test_every_windows_command_reads_back_as_its_argv_or_is_refused(shell, url, python):
    plan = replace(WINDOWS, index_url=url)
    for fmt in ("pip", "uv", "poetry", "conda", "mamba", "micromamba"):
        expected = _expected(plan, fmt, python)
        if _cannot_carry(shell, [a for argv in expected for a in argv]):
            with pytest.raises(UsageError, match="cannot be written safely"):
                render.render(plan, fmt, python=python, shell=shell)
            continue
        text = render.render(plan, fmt, python=python, shell=shell)
        assert [PARSERS[shell](line) for line in text.split("\n")] == expected, (fmt, text)


def test_windows_plans_default_to_powershell():
    python = r"C:\Program Files\Python312\python.exe"
    assert render.render(WINDOWS, "pip", python=python) == (
        "& 'C:\\Program Files\\Python312\\python.exe' -m pip install --index-url https://download.pytorch.org/whl/cu130 "
        "torch==2.11.0+cu130 torchvision==0.26.0+cu130 torchaudio==2.11.0+cu130")
    assert render.render(WINDOWS, "uv", python=python, shell="cmd").startswith(
        'uv pip install --python "C:\\Program Files\\Python312\\python.exe" --default-index ')


def test_cmd_doubles_the_backslashes_before_a_closing_quote_but_not_in_the_program():
    assert join(["C:\\a b\\x.exe", "C:\\dir with space\\"], shell="cmd") == '"C:\\a b\\x.exe" "C:\\dir with space\\\\"'
    assert cmd_argv(join(["C:\\a b\\x.exe", "C:\\dir with space\\"], shell="cmd")) == ["C:\\a b\\x.exe", "C:\\dir with space\\"]


def test_render_all_gives_a_windows_plan_powershell_and_cmd_forms():
    out = render.render_all(WINDOWS, python=r"C:\my tools\%USERPROFILE%\python.exe")
    assert out["pip"]["shell"] == "powershell" and out["pip"]["text"].startswith("& '")
    assert out["pip"]["cmd"]["text"] is None and "%" in out["pip"]["cmd"]["error"]
    assert out["uv-project"]["shell"] is None and "cmd" not in out["uv-project"]
    linux = render.render_all(replace(WINDOWS, os="linux"), python="/usr/bin/python3")
    assert linux["pip"]["shell"] == "posix" and "cmd" not in linux["pip"]


def test_plan_text_for_windows_says_what_cmd_exe_needs(tmp_path):
    import json
    import os
    import subprocess
    import sys

    machine = {"os": "windows", "arch": "AMD64", "python": "3.12", "python_executable": r"C:\my tools\%X%\python.exe"}
    path = tmp_path / "win.json"
    path.write_text(json.dumps(machine))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHUP_")} | {"NO_COLOR": "1"}
    for python, note in [(r"C:\my tools\%X%\python.exe", "not for cmd.exe: "),
                         (r"C:\Program Files\Python312\python.exe", 'in cmd.exe: "C:\\Program Files\\Python312\\python.exe" -m pip')]:
        r = subprocess.run([sys.executable, "-m", "torchup", "plan", "--machine", str(path), "--manager", "pip",
                            "--python", python], capture_output=True, text=True, env=env, timeout=120)
        assert r.returncode == 0, r.stderr
        assert f"& '{python}' -m pip install" in r.stdout
        assert "note: written for PowerShell; " + note in r.stdout
