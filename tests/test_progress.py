"""torchup.progress: the heartbeat's behaviour, and bytes and rate for the pages torchup downloads."""

from __future__ import annotations

import io
import time

from tests.support.wheels import make_wheel
from torchup.http import Client
from torchup.progress import Heartbeat, describe_rate


def test_the_heartbeat_speaks_while_the_step_is_quiet_and_is_erased_before_its_output():
    stream = io.StringIO()
    echoed: list[bytes] = []
    with Heartbeat(stream, "pip", enabled=True, echo=echoed.append, interval=0.05) as beat:
        beat.echo(b"Collecting torch\n")
        time.sleep(0.3)  # quiet: the status line is drawn (again and again)
        shown = stream.getvalue()
        beat.echo(b"Installing collected packages: torch\n")
    assert echoed == [b"Collecting torch\n", b"Installing collected packages: torch\n"]
    assert shown.count("torchup: pip, resolving: 0 s") >= 2
    assert stream.getvalue().endswith("\r\x1b[K")  # erased before pip's next line, and at the end


def test_a_disabled_heartbeat_only_passes_the_output_on():
    stream = io.StringIO()
    echoed: list[bytes] = []
    with Heartbeat(stream, "pip", enabled=False, echo=echoed.append, interval=0.01) as beat:
        time.sleep(0.1)
        beat.echo(b"partial")
    assert echoed == [b"partial"] and stream.getvalue() == ""


def test_below_a_half_written_line_not_over_it():
    stream = io.StringIO()
    with Heartbeat(stream, "uv", enabled=True, echo=lambda _: None, interval=0.05) as beat:
        beat.echo(b"Downloading torch")  # no line end yet
        time.sleep(0.2)
    assert stream.getvalue().startswith("\ntorchup: uv, downloading")


def test_bytes_and_rate_in_words():
    assert describe_rate(12_500_000, 393_100_000, 2.5) == "12.5/393.1 MB at 5.0 MB/s"
    assert describe_rate(1_000_000, None, 0.0) == "1.0 MB"


def test_the_client_reports_each_read_of_a_download(index_server, tmp_path):
    wheel = make_wheel(tmp_path, "torchup-demo", "1.0", padding=200_000)
    index_server.add_wheel("whl/cpu", wheel)
    index_server.fault("/whl/cpu/torchup-demo/torchup_demo-", rate=400_000)
    seen: list[tuple[int, int | None]] = []
    url = f"{index_server.url}/whl/cpu/torchup-demo/{wheel.name}"
    resp = Client({}, timeout=10, on_bytes=lambda u, got, total: seen.append((got, total))).fetch(url)
    size = wheel.stat().st_size
    assert resp.ok and len(resp.body) == size
    assert len(seen) > 1 and seen[-1] == (size, size)
    assert [got for got, _ in seen] == sorted({got for got, _ in seen})  # growing, one report per read
