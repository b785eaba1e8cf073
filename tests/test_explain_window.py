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


def test_a_chunk_is_said_quiet_only_when_the_joined_scan_finds_no_trigger():
    """``_quiet`` looks at ``carry + chunk`` without joining them (a copy of every chunk of a big
    log): it must never miss a trigger the scan of the joined text finds, seam or not."""
    rng = random.Random(16)
    pieces = ["rror", "arning", "error", "Warning", "arror", "rning", "ar", "r", "a", "ning", "x", "\n", "rro"]
    said_quiet = agreed = 0
    for _ in range(5000):
        carry = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        chunk = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        start = rng.randint(0, len(carry))
        for a, b in ((carry, chunk), (carry.encode(), chunk.encode())):
            pattern = window._trigger_pattern(type(a))
            quiet = window._quiet(a, b, pattern, start)
            found = window._first(a + b, pattern, start, len(a + b)) >= 0
            assert not (quiet and found), (a, b, start)
            said_quiet += quiet
            agreed += quiet != found
    assert said_quiet > 500  # the quiet case was exercised too
    assert agreed > 0.99 * 10_000  # "not quiet" when quiet: only an "arning" whose "a" is before start


def test_gathering_a_big_log_keeps_the_same_parts_with_any_chunk_size():
    rng = random.Random(17)
    lines = ["Collecting torch (from x)\n", "  Downloading a.whl (393.1 MB)\n", "step 12 loss=0.4\n"]
    log = "".join(rng.choice(lines) for _ in range(60_000))
    for at in (200_000, 200_000 + 65_536 - 2, 400_000, 700_000):  # one just before a chunk's end
        log = log[:at] + "RuntimeError: boom\n" + log[at:]
    whole = window.gather([log], head=8192, middle=65536, tail=8192)
    assert whole.count("RuntimeError: boom") == 4
    for size in (4096, 65_536, 100_000):
        chunks = [log[i : i + size] for i in range(0, len(log), size)]
        assert window.gather(chunks, head=8192, middle=65536, tail=8192) == whole, size
