import sys
import time

import pytest

from torchup.runner import Runner


def test_captures_output_and_exit_code():
    r = Runner().run(
        [sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"], timeout=30
    )
    assert (r.returncode, r.stdout, r.stderr, r.timed_out) == (3, "out\n", "err\n", False)
    assert not r.ok


def test_missing_program_is_data_not_an_exception():
    r = Runner().run(["/nonexistent/nvidia-smi"], timeout=5)
    assert r.returncode is None and r.error == "not found"


@pytest.mark.parametrize("method", ["run", "stream"])
def test_timeout_kills_the_whole_group_and_returns_promptly(method):
    # a child that ignores SIGTERM and keeps the pipe open through a grandchild
    code = "import subprocess, signal, time, sys; signal.signal(signal.SIGTERM, signal.SIG_IGN); subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); print('started', flush=True); time.sleep(60)"
    start = time.monotonic()
    r = getattr(Runner(), method)([sys.executable, "-c", code], timeout=1.0)
    assert time.monotonic() - start < 5
    assert r.timed_out and r.returncode is None
    assert "started" in r.stdout


def test_input_is_fed():
    r = Runner().run([sys.executable, "-c", "import sys; print(sys.stdin.read().upper())"], timeout=30, input="abc")
    assert r.stdout.strip() == "ABC"


def test_stream_passes_output_on_and_returns_the_exit_code():
    chunks = []
    r = Runner().stream(
        [sys.executable, "-c", "import sys; print('one', flush=True); print('two', file=sys.stderr); sys.exit(4)"],
        timeout=30,
        on_output=chunks.append,
    )
    assert (r.returncode, r.timed_out) == (4, False)
    assert b"".join(chunks).decode() == r.stdout and "one" in r.stdout and "two" in r.stdout


def test_stream_keeps_the_passed_descriptors_open_in_the_child_and_reports_its_pid():
    import os

    read_end, write_end = os.pipe()
    started = []
    try:
        code = f"import os; os.write({write_end}, b'held'); print(os.getpid())"
        r = Runner().stream([sys.executable, "-c", code], timeout=30, pass_fds=(write_end,), on_start=started.append)
        assert r.ok, r.stdout
        assert os.read(read_end, 10) == b"held"
        assert started == [int(r.stdout.strip())]
        closed = Runner().stream([sys.executable, "-c", code], timeout=30)  # not passed: not open there
        assert not closed.ok and "Bad file descriptor" in closed.stdout
    finally:
        os.close(read_end)
        os.close(write_end)


def test_start_returns_at_once_and_wait_gives_the_result():
    start = time.monotonic()
    started = Runner().start([sys.executable, "-c", "import time; time.sleep(1.0); print('done')"], timeout=30)
    assert time.monotonic() - start < 0.9  # the child is still sleeping: start did not wait for it
    r = started.wait()
    assert (r.returncode, r.stdout, r.timed_out) == (0, "done\n", False)
    assert started.wait() is r  # asked again: the same result, the child is not waited for twice


def test_the_timeout_of_a_started_child_counts_from_its_start():
    started = Runner().start([sys.executable, "-c", "import time; time.sleep(60)"], timeout=1.0)
    time.sleep(1.5)  # torchup's own work, longer than the child's time
    before = time.monotonic()
    r = started.wait()
    assert r.timed_out and r.returncode is None
    assert time.monotonic() - before < 1.5  # killed at once: its time had passed


def test_a_program_that_cannot_start_is_a_result_from_start_too(tmp_path):
    r = Runner().start([str(tmp_path / "missing")], timeout=5).wait()
    assert r.returncode is None and r.error == "not found"


def test_a_child_that_prints_without_end_is_kept_to_its_first_and_last_bytes():
    # a target Python or a tool flooding its output used to be held whole (2.5 GB before its timeout)
    import io
    import re

    from torchup.runner import _drain

    data = b"".join(b"%08d\n" % i for i in range(200_000))  # 1.8 MB
    sink: list[bytes] = []
    _drain(io.BufferedReader(io.BytesIO(data)), sink, limit=256 << 10)
    out = b"".join(sink)
    m = re.search(rb"\n\[torchup: (\d+) bytes of this output left out\]\n", out)
    head, tail = out[: m.start()], out[m.end() :]
    assert data.startswith(head) and data.endswith(tail)
    assert len(head) + int(m[1]) + len(tail) == len(data)
    assert 128 << 10 <= len(head) < (128 << 10) + 65536 and 128 << 10 <= len(tail) < (128 << 10) + 65536
    small: list[bytes] = []
    _drain(io.BufferedReader(io.BytesIO(b"short\n")), small, limit=256 << 10)
    assert b"".join(small) == b"short\n"
