"""explain's middle scan (torchup.doctor.window): one regex pass for both triggers must find
exactly what a ``find`` per trigger finds: the earliest trigger beginning in ``[start, stop)``."""

from __future__ import annotations

import random

from torchup.doctor import window


def _reference(buf, start: int, stop: int) -> int:
    """The scan as it was: one ``find`` per trigger, the earliest hit."""
    if start >= stop:
        return -1
    triggers = window.TRIGGERS if isinstance(buf, str) else tuple(t.encode() for t in window.TRIGGERS)
    hits = [buf.find(t, start, stop + len(t) - 1) for t in triggers]
    return min((h for h in hits if h >= 0), default=-1)


def test_the_one_pass_scan_finds_what_a_find_per_trigger_finds():
    rng = random.Random(15)
    pieces = ["rror", "arning", "error", "Warning", "arror", "rning", "ar", "r", "a", "ning", "x", "\n", "rro"]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        start = rng.randint(0, len(text) + 1)
        stop = rng.randint(0, len(text))
        for buf in (text, text.encode()):
            pattern = window._trigger_pattern(type(buf))
            assert window._first(buf, pattern, start, stop) == _reference(buf, start, stop), (buf, start, stop)


def test_a_warning_far_from_both_ends_is_kept_from_its_first_letter():
    noise = "Downloading torch (393.1 MB) progress running\n" * 40_000
    log = noise + "UserWarning: CUDA initialization: the NVIDIA driver is too old\n" + noise
    kept = window.gather([log[i : i + 65536] for i in range(0, len(log), 65536)], head=4096, middle=8192, tail=4096)
    assert "UserWarning: CUDA initialization: the NVIDIA driver is too old" in kept
