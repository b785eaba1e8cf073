"""torchup.http's plain-http path (a socket of its own, no http.client) answers exactly as the
urllib path does, for good answers, refusals, broken answers and timeouts, against real
servers on 127.0.0.1; and it leaves redirects, informational and chunked answers to urllib."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.support.index_server import Fault, IndexServer
from torchup import http
from torchup.http import Client


def _both(monkeypatch, url: str, *, method: str = "GET", timeout: float = 5.0, deadline: float | None = None):
    """(plain path's Response, urllib path's Response) for the same request."""
    plain = Client({}, timeout=timeout, deadline=deadline).fetch(url, method=method)
    with monkeypatch.context() as m:
        m.setattr(http, "_plain_target", lambda clean: None)  # every request goes through urllib
        via_urllib = Client({}, timeout=timeout, deadline=deadline).fetch(url, method=method)
    return plain, via_urllib


def _same(a, b) -> None:
    assert (a.url, a.status, a.headers, a.body, a.failure, a.detail) == (
        b.url,
        b.status,
        b.headers,
        b.body,
        b.failure,
        b.detail,
    )


class _RawServer:
    """Answers every connection with ``reply`` (bytes) and records what it was sent."""

    def __init__(self, reply: bytes, *, close: bool = True) -> None:
        self.reply = reply
        self.close = close
        self.requests: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.requests.append(data)
                if self.reply:
                    conn.sendall(self.reply)
                if not self.close:
                    time.sleep(3)

    def url(self, path: str = "/simple/torch/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        """Stop listening for real.  Closing the socket alone leaves the thread blocked in
        ``accept()`` holding the listener: the port keeps answering ``reply``, and a later test's
        index server given the same port by the kernel got some of its connections (seen as
        "hello" for an index page in the full suite).  ``shutdown`` wakes the ``accept()``."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "the raw test server did not stop"


REPLIES = {
    "ok with length": b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello",
    "ok until close": b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\nhello world",
    "short body": b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nonly this",
    "longer than said": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef",
    "header cases and repeats": b"HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a: 2\r\nX-A: 3\r\nContent-length: 2\r\n\r\nok",
    "folded header": b"HTTP/1.1 200 OK\r\nX-Long: one\r\n two\r\nContent-Length: 2\r\n\r\nok",
    "spaces around values": b"HTTP/1.1 200 OK\r\nX-S:   padded  \r\nContent-Length: 2\r\n\r\nok",
    "a line that is no header": b"HTTP/1.1 200 OK\r\nX-A: 1\r\nnot a header\r\nX-B: 2\r\n\r\nbody",
    "bad length": b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\nabc",
    "no content": b"HTTP/1.1 204 No Content\r\n\r\n",
    "forbidden": b"HTTP/1.1 403 Forbidden \r\nContent-Length: 9\r\n\r\nforbidden",
    "server error": b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 3\r\n\r\n",
    "not modified": b"HTTP/1.1 304 Not Modified\r\n\r\n",
    "no reason": b"HTTP/1.1 404\r\n\r\n",
    "nothing at all": b"",
    "bad status line": b"garbage\r\n\r\n",
    "bad status code": b"HTTP/1.1 2x0 OK\r\n\r\n",
    "status out of range": b"HTTP/1.1 99 Low\r\n\r\n",
    "unknown protocol": b"HTTP/2.0 200 OK\r\n\r\n",
    "HTTP/0.9 status": b"HTTP/0.9 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "too many headers": b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(120)) + b"\r\nok",
}


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("name", list(REPLIES))
def test_the_plain_path_answers_as_urllib_does(monkeypatch, name, method):
    server = _RawServer(REPLIES[name])
    try:
        plain, via_urllib = _both(monkeypatch, server.url(), method=method)
    finally:
        server.stop()
    _same(plain, via_urllib)
    # the request on the wire: the same request line and headers (order aside)
    first, second = (sorted(r.split(b"\r\n")) for r in server.requests[:2])
    assert first == second


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 301 Moved\r\nLocation: /elsewhere/\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    ],
)
def test_redirects_informational_and_chunked_answers_are_left_to_urllib(monkeypatch, reply):
    server = _RawServer(reply)
    try:
        plain, via_urllib = _both(monkeypatch, server.url())
        plain_asked = len(server.requests) // 2  # half of the requests are the urllib path's own
    finally:
        server.stop()
    _same(plain, via_urllib)
    assert len(server.requests) % 2 == 1 and plain_asked >= 1  # the plain path's one ask, then urllib's


def test_a_refused_connection_is_the_same_failure(monkeypatch):
    sock = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/simple/torch/"
    sock.close()  # nobody listens there now
    plain, via_urllib = _both(monkeypatch, url)
    _same(plain, via_urllib)
    assert plain.failure == "refused"


def test_a_silent_server_times_out_alike(monkeypatch):
    server = _RawServer(b"", close=False)
    try:
        plain, via_urllib = _both(monkeypatch, server.url(), timeout=0.5)
        _same(plain, via_urllib)
        assert plain.failure == "timeout"
        plain, via_urllib = _both(monkeypatch, server.url(), timeout=5, deadline=time.monotonic() + 0.5)
        assert (plain.failure, plain.status) == ("deadline", None)
        plain, via_urllib = _both(monkeypatch, server.url(), timeout=5, deadline=time.monotonic() + 0.5)
        assert (via_urllib.failure, via_urllib.status) == ("deadline", None)
    finally:
        server.stop()


@pytest.mark.parametrize(
    "fault",
    [None, Fault(status=500), Fault(cut_after=100), Fault(truncate=10), Fault(body=b"<html></html>")],
)
def test_against_the_test_index_the_answers_are_the_same(monkeypatch, tmp_path, fault):
    from tests.support.wheels import make_wheel

    with IndexServer(missing_status=403) as server:
        server.add_wheel("whl/cpu", make_wheel(tmp_path, "torch", "2.14.1+cpu", tag="cp311-cp311-linux_x86_64"))
        page = server.index_url("whl/cpu") + "torch/"
        if fault is not None:
            server.faults["/whl/cpu/torch/"] = fault
        for url in (page, server.index_url("whl/cpu") + "nothing/"):
            for method in ("GET", "HEAD"):
                plain, via_urllib = _both(monkeypatch, url, method=method)
                plain.headers.pop("Date", None), via_urllib.headers.pop("Date", None)
                _same(plain, via_urllib)


def test_an_index_page_comes_without_http_client(tmp_path):
    import subprocess
    import sys

    from tests.support.wheels import make_wheel

    with IndexServer() as server:
        server.add_wheel("whl/cpu", make_wheel(tmp_path, "torch", "2.14.1+cpu", tag="cp311-cp311-linux_x86_64"))
        code = (
            "import sys; from torchup.http import Client; "
            f"r = Client({{}}, timeout=10).fetch({server.index_url('whl/cpu') + 'torch/'!r}); "
            "assert r.ok and b'torch-2.14.1' in r.body, r; "
            "print(sorted(m for m in ('http.client', 'email', 'ssl', 'urllib.request', 'encodings.idna') "
            "if m in sys.modules))"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "url,want",
    [
        ("http://127.0.0.1:8080/whl/cpu/torch/", ("127.0.0.1", 8080, "127.0.0.1:8080", "/whl/cpu/torch/")),
        ("http://mirror.lan/simple/torch/?x=1#frag", ("mirror.lan", 80, "mirror.lan", "/simple/torch/?x=1")),
        ("http://mirror.lan", ("mirror.lan", 80, "mirror.lan", "/")),
        ("http://[::1]:8080/whl/", None),  # IPv6: urllib's
        ("http://mirror.lan:port/whl/", None),
        ("http://mirr or.lan/whl/", None),
        ("http://mirror.lan/a path/", None),
        ("http://mirror.lan/caf\u00e9/", None),
        ("http://mirror.lan?x/", None),
    ],
)
def test_which_urls_the_plain_path_sends_itself(url, want):
    assert http._plain_target(url) == want


@pytest.mark.parametrize("length_header", [b"Content-Length", b"content-length", b"CONTENT-LENGTH"])
def test_progress_sees_the_length_as_urllib_does(monkeypatch, length_header):
    server = _RawServer(b"HTTP/1.1 200 OK\r\n" + length_header + b": 5\r\n\r\nhello")
    seen: dict[str, list] = {"plain": [], "urllib": []}
    try:
        url = server.url()
        Client({}, timeout=5, on_bytes=lambda *a: seen["plain"].append(a)).fetch(url)
        with monkeypatch.context() as m:
            m.setattr(http, "_plain_target", lambda clean: None)
            Client({}, timeout=5, on_bytes=lambda *a: seen["urllib"].append(a)).fetch(url)
    finally:
        server.stop()
    assert seen["plain"] == seen["urllib"] == [(url, 5, 5)]
