"""``torchup explain [FILE|-] [--json] [--context [--python PATH] | --machine FILE]``: turn an error
message or a log into causes and fixes, ranked by what is known of the machine it came from.

Context is opt-in: probing the target Python was measured at 0.2-0.5 s on the development
host (a pyenv shim target, loaded 2-core machine), more than explain's own start-up (~0.3 s);
a machine file costs no subprocess.

Exit codes: 0 when something matched, 1 when nothing did (not an error: the
answer is an empty list), 2 when the input cannot be read.
"""

from __future__ import annotations

import codecs
import itertools
import sys

from torchup.errors import EXIT_FAILURE, EXIT_OK, InputError, UsageError

TYPE_CHECKING = False  # typing and argparse are not imported here at run time: start-up cost (issue 15)
if TYPE_CHECKING:
    import argparse
    from typing import BinaryIO

# A log is streamed in chunks and only what explain examines is kept (its head, its tail and
# the lines around errors in between: torchup.doctor.window), so a 100 MB log on standard input
# costs a few megabytes of memory.  Bytes per character: 1 for UTF-8, 2 for UTF-16, 4 for UTF-32.
CHUNK_BYTES = 1024 * 1024
HEAD_BYTES = 128 * 1024
MIDDLE_BYTES = 1024 * 1024
TAIL_BYTES = 1024 * 1024
HUMAN_LIMIT = 5  # findings shown in text mode; --json lists all


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help="the log or error message to explain; '-' or nothing reads standard input "
        "(any encoding: UTF-8, UTF-16 as PowerShell writes it, cp1252)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the torchup/explain document as JSON (docs/json.md): findings, best first",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--context",
        action="store_true",
        help="probe the target Python of this machine (the active venv / conda env, else python3; "
        "--python PATH names another) and let what it is rank the causes: a Windows-only cause is "
        "dropped on Linux, a 32-bit one on a 64-bit Python (adds the probe's time, ~0.2-0.5 s)",
    )
    where.add_argument(
        "--machine",
        metavar="FILE",
        help="the machine the log came from, as 'torchup probe --json' wrote it (JSON or TOML); "
        "its facts rank the causes as --context does, without probing",
    )
    parser.add_argument(
        "--python", metavar="PATH", help="the Python whose environment the log is from (implies --context)"
    )


def _gather(stream: BinaryIO) -> bytes:
    """What explain examines of the log on ``stream``, read a chunk at a time."""
    from torchup.doctor.window import gather

    first = stream.read(CHUNK_BYTES)
    # UTF-32 and UTF-16 keep their alignment (decode_log tells them apart the same way)
    width = 4 if first[:4] in (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE) else 2 if b"\0" in first[:4096] else 1
    chunks = itertools.chain([first], iter(lambda: stream.read(CHUNK_BYTES), b""))
    return gather(chunks, head=HEAD_BYTES * width, middle=MIDDLE_BYTES * width, tail=TAIL_BYTES * width, aligned=width)


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return _gather(fh)
    except IsADirectoryError:
        raise InputError(
            f"{path} is a directory, not a log file", hint="give the path of a log file, or '-' for standard input"
        ) from None
    except FileNotFoundError:
        raise InputError(
            f"{path}: no such file", hint="give the path of a log file, or '-' for standard input"
        ) from None
    except OSError as exc:
        raise InputError(
            f"cannot read {path}: {exc.strerror or exc}", hint="check the path and its permissions"
        ) from None


def _read_stdin() -> bytes:
    stream = sys.stdin
    if stream is None:
        raise UsageError("no input: give a FILE or pipe the log into 'torchup explain -'")
    if stream.isatty():
        print("Paste the error message, then press Ctrl-D (Ctrl-Z Enter on Windows):", file=sys.stderr)
    buffer = getattr(stream, "buffer", None)
    try:
        if buffer is not None:
            return _gather(buffer)
        return stream.read().encode("utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"cannot read standard input: {exc.strerror or exc}") from None


def run(args: argparse.Namespace, system) -> int:
    from torchup.doctor.explain import decode_log, explain
    from torchup.findings import findings_to_json

    if args.python and args.machine:
        raise UsageError("--python names a Python to probe; --machine FILE describes the machine instead: give one")
    source = args.file
    data = _read_stdin() if source in (None, "-") else _read_file(source)
    findings = explain(decode_log(data), facts=_target_facts(args, system))
    if args.json:
        from torchup.output import emit_json

        emit_json("explain", findings_to_json(findings))
    else:
        from torchup.output import style_for

        style = style_for(sys.stdout, system.env)
        sys.stdout.write(render_text(findings, style))
    return EXIT_OK if findings else EXIT_FAILURE


def _target_facts(args: argparse.Namespace, system):
    """What is known of the machine the log came from: a machine file, the probe, or nothing.

    A probe that fails (a broken target Python) costs the ranking, not the answer: explain
    goes on without context and says why on stderr.
    """
    from torchup.doctor.explain import Facts

    if args.machine:
        from torchup.machine import load_machine_file

        machine, warnings = load_machine_file(args.machine)
        for warning in warnings:
            print(f"torchup: warning: {warning}", file=sys.stderr)
        return Facts.from_machine(machine)
    if not (args.context or args.python):
        return None
    from torchup.errors import TorchupError
    from torchup.probe import probe_machine

    try:
        return Facts.from_machine(probe_machine(system, python=args.python))
    except TorchupError as exc:
        print(f"torchup: warning: explaining without context: {exc}", file=sys.stderr)
        return None


def render_text(findings, style) -> str:
    """The findings for a person: best first, each with cause, fix and evidence."""
    if not findings:
        return (
            "torchup explain: no known problem matches this text.\n"
            "Include the whole error (the traceback and the lines before it), or run 'torchup doctor'.\n"
        )
    out: list[str] = []
    shown = findings[:HUMAN_LIMIT]
    for n, f in enumerate(shown, 1):
        if n > 1:
            out.append("")
        out.append(style.bold(f"{n}. {f.title}") + style.dim(f"  [{f.id}, {f.family}]"))
        if f.confidence:
            out.append(f"   Confidence: {f.confidence} ({f.basis})")
        out.append(f"   Cause: {f.cause}")
        if f.fix:
            out.append("   Fix:")
            out += [f"     {line}" for line in f.fix]
        if f.evidence:
            out.append("   Seen in the text:")
            out += [style.dim(f"     {line}") for line in f.evidence]
    if len(findings) > len(shown):
        rest = ", ".join(f.id for f in findings[len(shown) :])
        out += ["", style.dim(f"Also matched, less likely: {rest} (--json lists them in full)")]
    return "\n".join(out) + "\n"
