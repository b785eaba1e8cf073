"""Checks of command-line values that several commands share: a bad value is a usage error
(exit 2) that says what is wrong, never an exception from deep inside."""

from __future__ import annotations

from torchup.errors import UsageError
from torchup.lazyre import lazy
from torchup.runner import MAX_TIMEOUT_S, timeout_seconds

__all__ = ["MAX_NUMBER_DIGITS", "MAX_TIMEOUT_S", "check_index_url", "check_number_lengths", "seconds"]

MAX_NUMBER_DIGITS = 12  # in a version: PyTorch's are 2.5.1, drivers 550.54.14, dates 20250101
_LONG_NUMBER = lazy(rf"\d{{{MAX_NUMBER_DIGITS + 1}}}")


def _show(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")


def seconds(text: str) -> float:
    """The argparse type of every ``--timeout``: a number of seconds above 0, at most a week."""
    value = timeout_seconds(text)
    if value is not None:
        return value
    try:
        float(text)
    except ValueError:
        raise _type_error(f"{_show(text)} is not a number of seconds") from None
    raise _type_error(f"{_show(text)}: give a number of seconds above 0 and at most {MAX_TIMEOUT_S} (a week)")


def _type_error(message: str) -> Exception:
    """argparse's error for a bad value, imported only then: a plain command line is parsed
    without argparse (torchup.fastargs), which hands a bad one to argparse to word."""
    import argparse

    return argparse.ArgumentTypeError(message)


def check_index_url(flag: str, value: str) -> str:
    """``value`` when it is an http(s) or file URL without control characters; a ``UsageError`` naming ``flag`` if not."""
    if not value.startswith(("http://", "https://", "file://")):
        raise UsageError(f"{flag} {_show(value)} is not an http(s) URL", hint="give the whole URL, https:// included")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise UsageError(
            f"{flag} {_show(value)} contains a line break or another control character",
            hint="a URL has none; check how the value was pasted or quoted",
        )
    if not value.startswith("file://") and not value.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]:
        raise UsageError(f"{flag} {_show(value)} names no host", hint="like https://download.pytorch.org/whl")
    return value


def index_base(option: str | None, env) -> str:
    """PyTorch's index base for this run: ``--index-base``, else ``TORCHUP_INDEX_BASE``, else
    download.pytorch.org's; a bad value is refused naming where it came from."""
    if option:
        return check_index_url("--index-base", option)
    if env.get("TORCHUP_INDEX_BASE"):
        return check_index_url("TORCHUP_INDEX_BASE", env["TORCHUP_INDEX_BASE"])
    from torchup.plan import DEFAULT_INDEX_BASE

    return DEFAULT_INDEX_BASE


def check_number_lengths(flag: str, value: str) -> None:
    """Refuse a version with a number over MAX_NUMBER_DIGITS digits before anything converts it
    (Python refuses integers of over 4300 digits, and converting a long one costs quadratic time)."""
    if _LONG_NUMBER.search(value):
        raise UsageError(
            f"{flag} {_show(value)} has a number of over {MAX_NUMBER_DIGITS} digits: not a version",
            hint="versions look like 2.5.1 or 12.6",
        )
