"""A plain command line read without argparse (torchup.fastargs) means what argparse makes of it.

For every command, command lines are drawn from the command's real argparse parser (each of its
options with a value it accepts, in random subsets and orders, with ``=`` or as the next word,
bare ``torchup`` and named ``torchup plan``) and both readings are compared; the forms fastargs
leaves to argparse are checked to be left."""

from __future__ import annotations

import argparse
import random

import pytest

from torchup import cli

# fleet has steps and add a list of packages (nargs="+"): argparse reads those alone
COMMANDS = [c for c in cli.COMMANDS if c not in ("fleet", "add")]


def _argparse_reading(command: str, argv: list[str], named: str | None) -> dict:
    parser, _module = cli.build_parser(command, bare=named is None)
    args = parser.parse_args(argv)
    args.verbose = getattr(args, "verbose", False)
    return vars(args)


def _plain_reading(command: str, argv: list[str], named: str | None) -> dict | None:
    module = __import__(f"torchup.commands.{command}", fromlist=["run"])
    args = cli._parse_plainly(module, argv, named)
    return None if args is None else vars(args)


def _sub_parser(command: str) -> argparse.ArgumentParser:
    parser, _ = cli.build_parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


def _value_for(action: argparse.Action, rng: random.Random) -> str:
    if action.choices:
        return str(rng.choice(list(action.choices)))
    if action.type is int:
        return str(rng.randint(1, 9))
    if action.type is not None:  # seconds
        return rng.choice(["5", "0.5", "120"])
    return rng.choice(["x", "2.5.1", ">=2.4,<2.6", "file.json", "a b", "cu126"])


def _draw(command: str, rng: random.Random) -> list[str]:
    """A command line plan's parser accepts: some options, each once (appends maybe twice)."""
    sub = _sub_parser(command)
    options = [a for a in sub._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]
    groups = [g for g in sub._mutually_exclusive_groups]
    words: list[str] = []
    taken: set[int] = set()
    for action in rng.sample(options, rng.randint(0, min(6, len(options)))):
        group = next((i for i, g in enumerate(groups) if action in g._group_actions), None)
        if group is not None and group in taken:
            continue
        if group is not None:
            taken.add(group)
        flag = rng.choice(action.option_strings)
        repeats = 2 if isinstance(action, argparse._AppendAction) and rng.random() < 0.3 else 1
        for _ in range(repeats):
            if action.nargs == 0:
                words.append(flag)
            elif flag.startswith("--") and rng.random() < 0.3:
                words.append(f"{flag}={_value_for(action, rng)}")
            else:
                words += [flag, _value_for(action, rng)]
    positionals = [a for a in sub._actions if not a.option_strings and a.nargs in (None, "?")]
    for action in positionals:
        if rng.random() < 0.6:
            at = rng.choice([0, len(words)])  # first or last: where people put a file name
            words.insert(at, _value_for(action, rng) if action.choices else "log.txt")
    return words


@pytest.mark.parametrize("command", COMMANDS)
def test_a_plain_command_line_means_what_argparse_makes_of_it(command):
    rng = random.Random(f"fastargs-{command}")
    read = 0
    for _ in range(150):
        words = _draw(command, rng)
        verbose = ["-v"] if rng.random() < 0.2 else []
        argv = [*verbose, command, *words]
        try:
            expected = _argparse_reading(command, argv, command)
        except SystemExit:  # a drawn combination argparse refuses (e.g. a positional after an option)
            assert _plain_reading(command, argv, command) is None, argv
            continue
        got = _plain_reading(command, argv, command)
        if got is not None:
            read += 1
            assert got == expected, argv
    assert read >= 50, f"fastargs read only {read} of 150 plain {command} command lines"


def test_bare_torchup_takes_plans_options_as_argparse_does():
    rng = random.Random("fastargs-bare")
    for _ in range(150):
        argv = _draw("plan", rng)
        expected = _argparse_reading("plan", argv, None)
        got = _plain_reading("plan", argv, None)
        assert got == expected, argv


@pytest.mark.parametrize(
    "argv",
    [
        ["plan", "--help"],
        ["plan", "-h"],
        ["--version"],
        ["plan", "--jso"],  # an abbreviation argparse accepts
        ["plan", "--manager", "nonsense"],  # a choice not offered: argparse says which are
        ["plan", "--machine"],  # a value missing
        ["plan", "--torch", "-1"],  # a value that looks like an option
        ["plan", "--json=yes"],  # a flag given a value
        ["plan", "--", "x"],
        ["plan", "-vy"],  # short options run together
        ["plan", "stray"],  # a positional plan does not take
        ["--json", "plan"],  # an option before the command word that only plan has
        ["verify", "--timeout", "0"],  # refused by the type
        ["explain", "--context", "--machine", "m.json"],  # an exclusive group
        ["add", "xformers"],  # nargs="+"
    ],
)
def test_what_is_not_plain_is_left_to_argparse(argv):
    named = cli._named_command(argv)
    assert _plain_reading(named or "plan", argv, named) is None


def test_fleet_and_add_are_left_to_argparse():
    assert _plain_reading("fleet", ["fleet", "plan", "dir"], "fleet") is None
    assert _plain_reading("add", ["add", "--dry-run", "xformers==0.0.30"], "add") is None


def test_the_main_job_parses_without_importing_argparse(tmp_path):
    import subprocess
    import sys

    machine = tmp_path / "m.json"
    machine.write_text('{"os": "linux", "arch": "x86_64", "python": "3.12", "libc": "glibc 2.35"}')
    code = (
        "import sys; from torchup.cli import main; rc = main(['plan', '--json', '--machine', sys.argv[1]]);"
        "print('argparse' in sys.modules, file=sys.stderr); raise SystemExit(rc)"
    )
    run = subprocess.run([sys.executable, "-c", code, str(machine)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stderr.strip().splitlines()[-1] == "False"
