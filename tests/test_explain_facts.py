"""explain with what torchup knows of the target (issue 11): facts drop the causes
they rule out, and a generic message lists the causes it checked instead of guessing."""

from __future__ import annotations

import pytest

from tests.test_doctor_rules import TORCH_DIST, linux, run_of, state
from tests.test_install_unit import MARKERS, target
from torchup.doctor import rules
from torchup.doctor.explain import Facts, explain
from torchup.doctor.problems import PROBLEMS, load_problems
from torchup.install import _explain
from torchup.install.target import Distribution

NO_WHEEL = (
    "ERROR: Could not find a version that satisfies the requirement torch (from versions: none)\n"
    "ERROR: No matching distribution found for torch\n"
)
# what a 32-bit Windows Python prints, then the same pip error
WIN32 = "Python 3.12.1 (tags/v3.12.1:2305ca5, Dec  7 2023) [MSC v.1937 32 bit (Intel)] on win32\n" + NO_WHEEL
WIN64 = Facts(os="windows", arch="x86_64", python="3.12", python_bits=64)


def _ids(findings):
    return [f.id for f in findings]


def test_the_generic_pip_message_alone_is_not_a_32_bit_guess():
    # before: 'This Python is 32-bit' could come first on this text alone, whatever the Python
    findings = explain(NO_WHEEL)
    assert _ids(findings) == ["no-wheel-for-python"]
    cause = findings[0].cause
    assert "Causes checked, still possible:" in cause
    for cid in PROBLEMS["no-wheel-for-python"].candidates:
        assert f"[{cid}]" in cause
    assert "Ruled out" not in cause  # nothing known of the target, nothing ruled out


def test_the_generic_finding_says_which_causes_the_target_rules_out():
    cause = explain(NO_WHEEL, facts=WIN64)[0].cause
    assert "The target: Python 3.12 (64-bit) on windows x86_64." in cause
    possible, ruled_out = cause.split(" Ruled out by what torchup knows of the target: ")
    assert "[no-wheel-32bit-python]: this Python is 64-bit" in ruled_out
    assert "[musl-no-wheels]: the target's OS is windows" in ruled_out
    assert "[no-wheel-macos-x86]: the target's OS is windows" in ruled_out
    assert "[pip-too-old]" in possible and "[pip-too-old]" not in ruled_out


def test_a_32_bit_finding_on_a_64_bit_python_is_dropped():
    # the log names a 32-bit Python, but the install's target is 64-bit: not the cause
    assert _ids(explain(WIN32))[0] == "no-wheel-32bit-python"
    findings = explain(WIN32, facts=WIN64)
    assert "no-wheel-32bit-python" not in _ids(findings)
    assert _ids(findings)[0] == "no-wheel-for-python"
    # facts that agree keep it, and unknown facts rule out nothing
    assert _ids(explain(WIN32, facts=Facts(os="windows", python_bits=32)))[0] == "no-wheel-32bit-python"
    assert _ids(explain(WIN32, facts=Facts()))[0] == "no-wheel-32bit-python"


def test_facts_drop_problems_of_another_os():
    text = "OSError: [WinError 1455] The paging file is too small for this operation to complete.\n"
    assert _ids(explain(text, facts=Facts(os="windows"))) == ["windows-paging-file"]
    assert explain(text, facts=Facts(os="linux")) == []


def test_facts_from_the_install_target_markers():
    assert Facts.from_markers(MARKERS) == Facts(os="linux", arch="x86_64", python="3.11")
    # the markers give the OS's machine type: a 32-bit Python on 64-bit Windows says AMD64
    win = Facts.from_markers({"platform_system": "Windows", "platform_machine": "AMD64", "python_version": "3.12"})
    assert (win.os, win.arch, win.python_bits) == ("windows", "x86_64", None)
    assert Facts.from_markers({"platform_system": "Darwin", "platform_machine": "arm64"}).python_bits == 64
    assert Facts.from_markers({"platform_system": "Linux", "platform_machine": "i686"}).python_bits == 32


def test_install_explains_a_failure_with_what_it_knows_of_the_target():
    mac = dict(MARKERS, platform_system="Darwin", sys_platform="darwin", platform_machine="arm64")
    torch = Distribution(name="torch", version="2.5.1")
    line = _explain(WIN32, target(markers=mac, distributions=(torch,)))
    assert line is not None
    assert line.startswith("No torch wheel for this Python, platform or index [no-wheel-for-python]")
    assert _explain(WIN32, target()).startswith("This Python is 32-bit")  # a Linux target: width unknown


def test_doctor_explains_import_failures_with_the_machine_it_probed():
    text = ("Traceback (most recent call last):\n"
            "OSError: [WinError 126] Error loading \"C:\\env\\Lib\\site-packages\\torch\\lib\\c10.dll\"")
    run = run_of(torch_error=text, dists=[TORCH_DIST])
    assert [d.finding.id for d in rules.rule_import_failure(state(None, run), None)] == ["windows-dll-load-failed"]
    assert rules.rule_import_failure(state(linux(), run), None) == []  # a Windows DLL problem on Linux


@pytest.mark.parametrize(
    "only_on, message",
    [
        ({"colour": ["red"]}, "unknown fact 'colour'"),
        ({"os": ["beos"]}, "must be a non-empty list"),
        ({"python_bits": ["64"]}, "must be a non-empty list"),
        ({"os": []}, "must be a non-empty list"),
        (["os"], "must be an object"),
    ],
)
def test_only_on_is_validated(only_on, message):
    entry = {"id": "x-y", "family": "driver", "title": "t", "cause": "c", "fix": ["f"], "sources": ["s"],
             "signatures": [{"re": "abc", "weight": 5}], "only_on": only_on}
    with pytest.raises(ValueError, match=message):
        load_problems({"problems": [entry]})


def test_candidates_must_be_known_ids():
    entry = {"id": "x-y", "family": "driver", "title": "t", "cause": "c", "signatures": [{"re": "abc", "weight": 5}],
             "candidates": ["nope"]}
    with pytest.raises(ValueError, match="candidates: unknown id 'nope'"):
        load_problems({"problems": [entry]})
