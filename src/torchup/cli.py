"""Command-line wiring: argument parsing, the error boundary, exit codes.

Each command lives in ``torchup.commands.<name>`` and provides
``add_arguments(parser)`` and ``run(args, system) -> int``.  Only the module of
the command being run is imported, so ``torchup`` starts fast.

``torchup`` with no command is the main job: the same as ``torchup plan``.

With ``--json`` every outcome is one JSON envelope on stdout (docs/json.md),
errors included: a ``TorchupError``, a usage error argparse found, a bug.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import ModuleType

from torchup import __version__
from torchup.errors import EXIT_BUG, TorchupError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import ArgumentParser

__all__ = ["COMMANDS", "entry", "main"]

# name -> one-line help; the module is torchup.commands.<name>
COMMANDS = {
    "plan": "choose the PyTorch build for this machine and print the install command",
    "probe": "show what torchup knows about this machine (--json: the machine file)",
    "catalog": "show PyTorch releases, builds and what they run on; 'catalog refresh' updates it",
    "install": "install the chosen build with your package manager, safely",
    "add": "install more packages without replacing the verified torch stack by surprise",
    "guard": "show, lift (--off) or set (--on) the pins that keep pip from replacing torch",
    "verify": "prove the installed torch works: real computation on every device",
    "doctor": "diagnose the torch installation of an environment",
    "explain": "turn a pasted error message or log into a cause and a fix",
    "matrix": "which releases and variants run a GPU, with their minimum driver and Pythons",
    "site": "write DIR/index.html: the install selector and the compatibility matrix, one self-contained page",
    "fleet": "many nodes: probe them with Ansible or Slurm, plan one build (or the fewest), roll out, verify",
}
DEFAULT_COMMAND = "plan"
# Commands that answer in a blink and hold no cycles worth collecting: the cyclic garbage
# collector is off while they run (it walked the catalog's thousands of objects several times
# over, about 5% of a plan's instructions).  Long steps (install, verify, site, fleet) keep it.
SHORT_LIVED = frozenset({"plan", "probe", "matrix", "explain"})


def _named_command(argv: Sequence[str]) -> str | None:
    """The command word of the command line, or None (bare ``torchup``: plan)."""
    for arg in argv:
        if arg in COMMANDS:
            return arg
        if not arg.startswith("-"):
            break
    return None


def _parser_classes():
    """The parser and formatter classes, made on first use: argparse is imported after plan's
    target interpreter was started (``main``), not before."""
    import argparse

    class JsonArgumentParser(argparse.ArgumentParser):
        """Under --json a usage error is a ``UsageError`` (an envelope on stdout), not argparse's text."""

        def error(self, message: str):
            raise UsageError(message, hint=f"{self.prog} --help lists the options")

    class HelpFormatter(argparse.HelpFormatter):
        """argparse's formatter, told the terminal width: its own way to learn it imports shutil
        (and with it bz2, lzma, fnmatch), and argparse makes a formatter for every argument added."""

        def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width=None) -> None:
            if width is None:
                width = _terminal_columns() - 2  # as argparse does
            super().__init__(prog, indent_increment, max_help_position, width)

    return argparse, JsonArgumentParser, HelpFormatter


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``: $COLUMNS, else the terminal's, else 80."""
    import os

    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


def _command_module(command: str) -> ModuleType:
    """``torchup.commands.<command>`` (``__import__``: the ``importlib`` package would bring ``warnings``)."""
    name = f"torchup.commands.{command}"
    __import__(name)
    return sys.modules[name]


def build_parser(command: str, *, json_mode: bool = False, bare: bool = False) -> tuple[ArgumentParser, ModuleType]:
    """The parser for ``command``; only that command's arguments are added, and for plan only
    where they will be parsed: on the top parser when ``bare`` (no command word), else on
    plan's own (each argument costs argparse a formatter: start-up time)."""
    argparse, json_parser, help_formatter = _parser_classes()
    parser_class = json_parser if json_mode else argparse.ArgumentParser
    parser = parser_class(
        formatter_class=help_formatter,
        prog="torchup",
        description="How do I install PyTorch here? torchup answers for this machine, "
        "installs it, proves it works and explains what went wrong.",
        epilog="With no command, torchup runs 'plan'. 'torchup COMMAND --help' for details.",
    )
    parser.add_argument("--version", action="version", version=f"torchup {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show more detail (and tracebacks of bugs)")
    module = _command_module(command)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        if name != command:  # listed for the help and for a mistyped name; never parsed in this run
            subparsers.add_parser(name, help=help_text, add_help=False, formatter_class=help_formatter)
            continue
        sub = subparsers.add_parser(name, help=help_text, description=help_text, formatter_class=help_formatter)
        sub.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        if not bare:
            module.add_arguments(sub)
    if bare:
        # the bare `torchup` form takes plan's options
        module.add_arguments(parser)
    return parser, module


def parse_command_line(command: str, argv: list[str], *, named: str | None, json_mode: bool = False):
    """(the parsed arguments, the command's module): read from the command's own option table
    when the command line is plain (``torchup.fastargs``: no argparse imported), else by argparse."""
    module = _command_module(command)
    args = _parse_plainly(module, argv, named)
    if args is None:
        parser, module = build_parser(command, json_mode=json_mode, bare=named is None)
        args = parser.parse_args(argv)
        args.verbose = getattr(args, "verbose", False)
    return args, module


def _parse_plainly(module: ModuleType, argv: list[str], named: str | None):
    """The namespace argparse would give for ``argv``, or None when fastargs leaves it to argparse."""
    from torchup.fastargs import OptionTable, parse

    words, verbose = argv, False
    if named is not None:
        at = argv.index(named)
        if any(w not in ("-v", "--verbose") for w in argv[:at]):
            return None
        words, verbose = argv[at + 1 :], at > 0
    table = OptionTable()
    table.add_argument("-v", "--verbose", action="store_true")
    try:
        module.add_arguments(table)
    except NotImplementedError:  # a command with steps (fleet)
        return None
    args = parse(table, words)
    if args is not None:
        args.verbose = args.verbose or verbose
        args.command = named
    return args


def _plans_from_files_only(argv: Sequence[str]) -> bool:
    """``plan --machine FILE`` without ``--this-machine``: nothing is probed, so the target
    probe's module is not even imported."""
    return "--this-machine" not in argv and any(w == "--machine" or w.startswith("--machine=") for w in argv)


def main(argv: Sequence[str] | None = None) -> int:
    if sys.stdout is None:  # started with standard output closed (`torchup >&-`)
        return _output_failed(None)
    try:
        return _main(argv)
    except BrokenPipeError:  # the reader left while an error was being reported
        return 0
    except OSError as exc:  # raised while an error was being reported: the output itself failed
        if _is_output_error(exc):
            return _output_failed(exc)
        raise


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--version"]:  # what argparse's version action prints, without building a parser
        print(f"torchup {__version__}")
        return 0
    named = _named_command(argv)
    command = named or DEFAULT_COMMAND
    if command in SHORT_LIVED:
        import gc

        gc.disable()
    verbose = "-v" in argv or "--verbose" in argv
    json_mode = any(a.startswith("--j") and "--json".startswith(a) for a in argv)  # argparse takes --js too
    try:
        from torchup.system import system_from_env

        system = system_from_env()
        if command == DEFAULT_COMMAND and not _plans_from_files_only(argv):
            # plan's target interpreter starts now, while the imports and the catalog load
            from torchup.target import prestart_target_probe

            system = prestart_target_probe(argv, system)
        elif command == "install":  # install --plan's target inspection, likewise
            from torchup.inspection import prestart_install_inspection

            system = prestart_install_inspection(argv, system)
        elif command == "verify":  # the check script starts now: importing torch is most of verify's time
            from torchup.verify import prestart_verify

            system = prestart_verify(argv, system)
        args, module = parse_command_line(command, argv, named=named, json_mode=json_mode)
        return int(module.run(args, system))
    except TorchupError as err:
        _report_error(err, _json_document(command, argv) if json_mode else None)
        return err.exit_code
    except KeyboardInterrupt:
        print("torchup: interrupted", file=sys.stderr)
        if json_mode:
            _emit_error(_json_document(command, argv), {"code": "interrupted", "message": "interrupted"})
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the bug boundary: anything else is ours to fix
        if isinstance(exc, OSError) and _is_output_error(exc):  # a full disk, a bad descriptor: not a bug
            return _output_failed(exc)
        if json_mode:
            _emit_error(
                _json_document(command, argv),
                {
                    "code": "bug",
                    "message": f"internal error ({type(exc).__name__}: {exc})",
                    "hint": "this is a bug in torchup; run again with -v for the traceback and report it",
                },
            )
            if verbose:  # the traceback on stderr; stdout keeps the one envelope and the exit code stays 70
                import traceback

                traceback.print_exc()
                return EXIT_BUG
        if verbose:
            raise
        print(
            f"torchup: internal error ({type(exc).__name__}: {exc}).\n"
            "This is a bug in torchup; run again with -v for the traceback and report it.",
            file=sys.stderr,
        )
        return EXIT_BUG


def entry() -> int:
    """The ``torchup`` command (and ``python -m torchup``): ``main()`` on ``sys.argv``.  After a
    short-lived command the process ends as soon as its output is flushed (``os._exit``): the
    interpreter's teardown (a full garbage collection, every module and the catalog freed one
    object at a time) cost about 9% of a ``plan``'s instructions, and nothing of those commands
    waits for it -- they register no ``atexit`` work and close every file they write."""
    code = main()
    try:  # the last of the output reaches its file now: a full disk says so here, not by exit 0
        if sys.stdout is not None:
            sys.stdout.flush()
    except BrokenPipeError:
        pass
    except OSError as exc:
        code = _output_failed(exc)
    except ValueError:  # closed
        pass
    if (_named_command(sys.argv[1:]) or DEFAULT_COMMAND) in SHORT_LIVED:
        _exit_now(code)
    return code


def _is_output_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a write that the place it goes refused: a full disk or quota, a file
    over its size limit, an I/O error, a descriptor closed under torchup.  Such an error names
    no file (an ``open`` or ``replace`` that fails does), and no fix of torchup's would help."""
    import errno

    return (
        isinstance(exc, OSError)
        and not isinstance(exc, BrokenPipeError)
        and exc.filename is None
        and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EBADF)
    )


def _output_failed(exc: OSError | None) -> int:
    """Standard output could not be written: said on stderr, exit 4 (the environment refused).
    Descriptor 1 is then pointed at the null device, so that the exit's own flush of what is still
    buffered fails no more (no second report, no traceback)."""
    import os

    from torchup.errors import EXIT_ENV

    reason = "standard output is closed" if exc is None else (exc.strerror or str(exc))
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.close(fd)
    except OSError:
        pass
    if sys.stderr is not None:
        try:
            print(
                f"torchup: cannot write its output: {reason}\n"
                "hint: send the output where it can be written (a disk with room, an open file or pipe)",
                file=sys.stderr,
            )
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
    return EXIT_ENV


def _exit_now(code: int) -> None:
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:  # None: started with that descriptor closed
                stream.flush()
        except (OSError, ValueError):  # a reader gone (BrokenPipeError), a closed stream: nothing more to say
            pass
    os._exit(code)


def _json_document(command: str, argv: Sequence[str]) -> str:
    """The name of the --json document the command line asks for (docs/json.md)."""
    if command == "fleet":
        step = next((a for a in argv[argv.index("fleet") + 1 :] if not a.startswith("-")), "")
        return f"fleet-{step}" if step in ("probe", "plan", "rollout", "verify") else "fleet-plan"
    return "catalog-refresh" if command == "catalog" and "refresh" in argv else command


def _emit_error(document: str, error: dict) -> None:
    from torchup.output import emit_json

    emit_json(document, {"error": error})


def _report_error(err: TorchupError, document: str | None) -> None:
    """The error as an envelope on stdout (``document`` set: --json was given), else as text on stderr."""
    from torchup.output import redact_url

    # the last guard: an index URL's password is never shown, whichever error names it
    err.message, err.hint = redact_url(err.message), err.hint and redact_url(err.hint)
    err.details = tuple(redact_url(d) for d in err.details)
    if document is not None:
        _emit_error(document, err.to_json())
        return
    lines = [f"torchup: {err.message}"]
    lines += [f"  - {d}" for d in err.details]
    if err.hint:
        lines.append(f"hint: {err.hint}")
    print("\n".join(lines), file=sys.stderr)
