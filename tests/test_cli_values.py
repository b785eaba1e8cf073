"""Command-line values that once crashed torchup (issue 18): each is a usage error, exit 2, no traceback."""

from __future__ import annotations

import pytest

from torchup.cli import main

LONG = "9" * 5000  # over Python's 4300-digit limit on int()


def _exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own usage errors exit
        return exc.code


@pytest.mark.parametrize("argv, expected", [
    (["doctor", "--timeout", "nan", "--state", "x"], "argument --timeout: 'nan'"),
    (["verify", "--timeout", "inf"], "argument --timeout: 'inf'"),
    (["probe", "--timeout", "nan"], "argument --timeout: 'nan'"),
    (["install", "--dry-run", "--timeout", "1e308"], "argument --timeout: '1e308'"),
    (["add", "x", "--timeout", "-1"], "argument --timeout: '-1'"),
    (["install", "--dry-run", "--timeout", LONG], "at most 604800"),
    (["plan", "--torch", LONG], "--torch '99999"),
    (["plan", "--torch", f"2.{LONG}"], "over 12 digits"),
    (["plan", "--cuda", f"{LONG}.1"], "--cuda '99999"),
    (["catalog", "--torch", f"2.{LONG}"], "over 12 digits"),
    (["catalog", "refresh", "--pypi-index", "y"], "--pypi-index 'y' is not an http(s) URL"),
    (["catalog", "refresh", "--index-base", "y"], "--index-base 'y' is not an http(s) URL"),
    (["catalog", "refresh", "--pypi-index", "http://h/\n[[x]]"], "control character"),
    (["add", "x", "--index-url", "h'\n"], "--index-url"),
    (["plan", "--cpu", "--index-base", "https://"], "--index-base 'https://' names no host"),
    (["catalog", "refresh", "--index-base", "http:///whl"], "names no host"),
])
def test_bad_values_are_usage_errors(argv, expected, capsys):
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err and "internal error" not in err


def test_a_timeout_in_range_is_taken():
    from torchup.commands._args import seconds

    assert seconds("0.5") == 0.5 and seconds("604800") == 604800.0


@pytest.mark.parametrize("command", [["plan", "--cpu"], ["catalog", "refresh"]])
def test_a_bad_index_base_from_the_environment_is_named_as_such(command, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("TORCHUP_INDEX_BASE", "ftp://mirror/whl")
    monkeypatch.setenv("TORCHUP_CACHE_DIR", str(tmp_path))
    assert _exit_code(command) == 2
    err = capsys.readouterr().err
    assert "TORCHUP_INDEX_BASE 'ftp://mirror/whl' is not an http(s) URL" in err and "--index-base" not in err
