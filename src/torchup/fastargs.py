"""Plain command lines parsed without argparse (issue 15: start-up time).

Importing argparse (with gettext and locale) and building a command's parser costs more than
the rest of ``torchup plan --machine FILE`` put together.  A command's ``add_arguments`` is
therefore first run against an ``OptionTable``, which only records what each option is, and
``parse`` reads the command line from that table.  It takes only the forms whose meaning is
plain -- an option spelt out in full, its value as the next word or after ``=``, positionals
in order -- and answers None for anything else (``--help``, ``--version``, an abbreviation, a
bad value, a missing one, a value that starts with ``-``, two options of one exclusive group,
``--``): then argparse parses the same command line and says what is wrong, as before.

Where ``parse`` answers, its namespace is the one argparse makes (tests/test_fastargs.py
compares them over every command's options).
"""

from __future__ import annotations

from types import SimpleNamespace

__all__ = ["OptionTable", "parse"]

SUPPRESS = "==SUPPRESS=="  # argparse.SUPPRESS: no attribute at all unless given
_FLAG_ACTIONS = {"store_true": False, "store_false": True}  # action -> default
_VALUE_ACTIONS = ("store", "append")


class Option:
    """One ``add_argument`` call, as argparse's Action keeps it (the attributes commands read)."""

    def __init__(self, flags: tuple[str, ...], kwargs: dict, group: int | None) -> None:
        self.option_strings = [f for f in flags if f.startswith("-")]
        self.positional = not self.option_strings
        self.action = kwargs.get("action", "store")
        self.nargs = kwargs.get("nargs")
        self.type = kwargs.get("type")
        self.choices = kwargs.get("choices")
        self.required = kwargs.get("required", False)
        self.help = kwargs.get("help")
        self.group = group
        if "dest" in kwargs:
            self.dest = kwargs["dest"]
        elif self.positional:
            self.dest = flags[0]
        else:
            long = next((f for f in self.option_strings if f.startswith("--")), self.option_strings[0])
            self.dest = long.lstrip("-").replace("-", "_")
        if "default" in kwargs:
            self.default = kwargs["default"]
        else:
            self.default = _FLAG_ACTIONS.get(self.action)

    @property
    def simple(self) -> bool:
        """Whether ``parse`` knows this option's whole meaning."""
        if self.action in _FLAG_ACTIONS:
            return True
        if self.action not in _VALUE_ACTIONS:
            return False
        return self.nargs is None or (self.positional and self.nargs == "?" and self.action == "store")


class OptionTable:
    """Stands in for the parser given to a command's ``add_arguments``: records the options."""

    def __init__(self, options: list[Option] | None = None, strings: dict[str, Option] | None = None) -> None:
        self.options: list[Option] = [] if options is None else options
        self._option_string_actions: dict[str, Option] = {} if strings is None else strings
        self._group: int | None = None
        self._groups = [0]

    def add_argument(self, *flags: str, **kwargs) -> Option:
        option = Option(flags, kwargs, self._group)
        self.options.append(option)
        for flag in option.option_strings:
            self._option_string_actions[flag] = option
        return option

    def add_argument_group(self, *_args, **_kwargs) -> OptionTable:
        group = OptionTable(self.options, self._option_string_actions)
        group._groups, group._group = self._groups, self._group
        return group

    def add_mutually_exclusive_group(self, **_kwargs) -> OptionTable:
        group = self.add_argument_group()
        self._groups[0] += 1
        group._group = self._groups[0]
        return group

    def add_subparsers(self, **_kwargs):
        raise NotImplementedError("a command with steps is parsed by argparse")


def _value(option: Option, text: str):
    """``text`` converted and checked as argparse would; raises ValueError where argparse would complain."""
    value = option.type(text) if option.type is not None else text  # its own error: argparse will say it
    if option.choices is not None and value not in option.choices:
        raise ValueError(text)
    return value


def _defaults(table: OptionTable) -> dict:
    values = {}
    for option in table.options:
        default = option.default
        if default == SUPPRESS:
            continue
        if isinstance(default, str) and option.type is not None:
            default = option.type(default)  # argparse converts a string default
        elif isinstance(default, list):
            default = list(default)  # append adds to a copy
        values[option.dest] = default
    return values


def parse(table: OptionTable, words: list[str]) -> SimpleNamespace | None:
    """The namespace argparse would make of ``words`` for the options in ``table``, or None
    when the command line is not one ``parse`` reads (argparse then parses it)."""
    try:
        return _parse(table, words)
    except Exception:  # noqa: BLE001 -- a type's complaint or a choice not offered: argparse parses again and says it
        return None


def _parse(table: OptionTable, words: list[str]) -> SimpleNamespace | None:
    if any(not option.simple for option in table.options):
        return None
    values = _defaults(table)
    positionals = [o for o in table.options if o.positional]
    given: set[Option] = set()
    exclusive: dict[int, Option] = {}
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if not word.startswith("-") or word == "-":
            if not positionals:
                return None
            slot = positionals.pop(0)
            values[slot.dest] = _value(slot, word)
            given.add(slot)
            continue
        if word == "--" or (not word.startswith("--") and len(word) != 2):
            return None  # an end of options, or short options run together
        flag, eq, inline = word.partition("=")
        found = table._option_string_actions.get(flag)
        if found is None or found.positional:
            return None
        option = found
        if option.group is not None and exclusive.setdefault(option.group, option) is not option:
            return None
        given.add(option)
        if option.action in _FLAG_ACTIONS:
            if eq:
                return None
            values[option.dest] = not _FLAG_ACTIONS[option.action]
            continue
        if eq:
            text = inline
        elif i < len(words) and not words[i].startswith("-"):
            text = words[i]
            i += 1
        else:
            return None  # no value, or one argparse may take for an option
        value = _value(option, text)
        if option.action == "append":
            values[option.dest] = [*(values[option.dest] or []), value]
        else:
            values[option.dest] = value
    if any(option.required and option not in given for option in table.options):
        return None
    if any(o.nargs is None for o in positionals):
        return None  # a required positional missing
    return SimpleNamespace(**values)
