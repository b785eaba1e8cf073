"""explain's cost is linear in the log: no signature backtracks catastrophically.

Every signature in problems.json is checked twice: by its shape (no nested
quantifiers, no unbounded '[^\\n]*', no two touching repeats over the same
characters, no leading repeat that can run over its own start) and by running it
over adversarial text built from it (tests/support/regex_attack.py): repeated
literals, repeated prefixes of a match, pumped repeats.

The time bound is generous on purpose (this runs on a shared 2-core machine):
0.5 s per pattern per input.  Measured at 64 KB on that machine, the slowest
input of the slowest pattern took 0.14-0.28 s under load and most take under
10 ms; before the rewrite, 'pytorchcuda-->cp ' * 240 (4 KB) took 13-15 s.
"""

from __future__ import annotations

import time

import pytest

from tests.support.regex_attack import attack_texts, static_problems
from torchup.doctor.explain import _compile, explain
from torchup.doctor.problems import PROBLEMS, lower_pattern

BOUND_S = 0.5
SMALL = 8 * 1024
BIG = 64 * 1024

SIGNATURES = [
    pytest.param(sig.pattern, id=f"{problem.id}[{n}]")
    for problem in PROBLEMS.values()
    for n, sig in enumerate(problem.signatures)
]


def _seconds(rx, text: str) -> float:
    start = time.perf_counter()
    rx.search(text)
    return time.perf_counter() - start


@pytest.mark.parametrize("pattern", SIGNATURES)
def test_signature_has_no_backtracking_shape(pattern):
    assert static_problems(lower_pattern(pattern)) == []


@pytest.mark.parametrize("pattern", SIGNATURES)
def test_signature_runs_in_bounded_time_on_adversarial_text(pattern):
    rx = _compile(pattern)
    small = attack_texts(rx.pattern, SMALL)
    assert small, "no adversarial text could be built"
    timed = []
    for what, text in small.items():
        took = _seconds(rx, text)
        assert took < BOUND_S, f"{took:.2f} s on {len(text)} chars of {what}"
        timed.append((took, what))
    # the slowest shapes again at 64 KB: a quadratic one takes 64x longer, a linear one 8x
    big = attack_texts(rx.pattern, BIG)
    for _, what in sorted(timed, reverse=True)[:3]:
        took = _seconds(rx, big[what])
        assert took < BOUND_S, f"{took:.2f} s on {len(big[what])} chars of {what}"


@pytest.mark.parametrize("size", [4080, 8 * 1024, 64 * 1024])
def test_the_reported_conda_like_log_is_explained_quickly(size):
    # issue 19: 'pytorchcuda-->cp ' * 240 (4 KB) took 13 s, 8 KB over 120 s
    text = ("pytorchcuda-->cp " * (size // 17 + 1))[:size]
    start = time.perf_counter()
    explain(text)
    assert time.perf_counter() - start < BOUND_S


def test_the_same_log_with_an_error_at_its_end_is_still_diagnosed():
    text = "pytorchcuda-->cp " * 480 + "\n  pytorch   2.0.1-py3.10_cuda11.8_cudnn8.7.0_0 --> 2.0.1-cpu_py310\n"
    assert explain(text)[0].id == "conda-solver-swapped-to-cpu"


# --- the checks themselves catch what they are for --------------------------------------------


@pytest.mark.parametrize(
    "pattern, reason",
    [
        (r"(?:a+)+b", "nested quantifiers"),
        (r"pytorch[^\n]*cuda", "unbounded repeat of a wide class"),
        (r"x\s*(?:=>)?\s*false", "neighbouring repeats"),
        (r"found\s+(?P<n>[^\n]{0,200})\s+which", "neighbouring repeats"),
        (r"lib\w+\.so", "can run over the next 'lib'"),
        (r"[0-9]+\+cpu", "leading unbounded repeat"),
    ],
)
def test_static_check_rejects_backtracking_shapes(pattern, reason):
    assert any(reason in problem for problem in static_problems(pattern)), static_problems(pattern)


@pytest.mark.parametrize(
    "pattern",
    [r"pytorch[^\n]{0,300}cuda", r"x(?:\s*(?:=>))?\s*false", r"lib\w{1,60}\.so", r"(?<![0-9])[0-9]+\+cpu",
     r"ze_result_error\w*", r"\.so[.0-9]*: cannot"],
)
def test_static_check_accepts_the_rewritten_shapes(pattern):
    assert static_problems(pattern) == []


def test_adversarial_texts_catch_the_old_conda_pattern():
    # the pattern as it was before issue 19: the harness must find an input that makes it slow
    rx = _compile(r"pytorch[^\n]*cuda[^\n]*(?:-->|->)[^\n]*cpu")
    assert any(_seconds(rx, text) > BOUND_S for text in attack_texts(rx.pattern, 2048).values())
