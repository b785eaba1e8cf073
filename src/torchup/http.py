"""torchup's one small HTTP client (install preflight, catalog refresh): GET/HEAD under
one deadline, with the proxy, CA and credential rules pip and uv follow, and every failure
returned as data.

- Credentials: ``https://user:secret@host/...`` is sent as Basic auth (the URL that goes
  on the wire has no userinfo); a URL without them takes the host's entry from
  ``$NETRC`` / ``~/.netrc``, as pip (through requests) and uv do.
- Proxies: ``http_proxy`` / ``https_proxy`` / ``all_proxy`` (either case, lower case
  first) and ``no_proxy`` by the standard library's rules
  (``urllib.request.proxy_bypass_environment``: ``.corp.example`` matches its
  subdomains, ``*`` matches all), the rules requests applies for pip.
- Deadline: ``Client(deadline=...)`` (a ``time.monotonic()`` value) bounds every request,
  the reads of its body included (a socket timeout is per read; a server trickling a
  byte a second defeats it), and the caller's wait: requests run in daemon threads and
  the calling thread waits on a queue with a timeout, so it is never stuck past the
  deadline and Ctrl-C reaches it at any moment.
- What it reports is shown through ``torchup.output.redact_url``: ``user:***@host``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping

from torchup.errors import UsageError
from torchup.output import redact_url
from torchup.record import field, record

__all__ = [
    "Client",
    "OnBytes",
    "Response",
    "fetch",
    "proxies_for",
    "resolve_pypi_index",
    "strip_credentials",
]

_MAX_BODY = 16 << 20  # an index page larger than this is not an index page
_CHUNK = 64 << 10
OnBytes = Callable[[str, int, "int | None"], None]  # (url, bytes so far, Content-Length or None)
DEADLINE = "deadline"  # Response.failure when the deadline passed before the answer was complete


def strip_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """Pure: ``(url without userinfo, (user, password) or None)``, percent-decoded like pip."""
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=hostport)), (unquote(user), unquote(password))


@record
class Response:
    url: str  # as asked for (it may hold credentials: show it through ``redact_url``)
    status: int | None  # None: no HTTP answer at all
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    failure: str | None = (
        None  # "timeout", "deadline", "refused", "dns", "certificate", "proxy", "reset", or the error text
    )
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _ca_file(env: Mapping[str, str]) -> str | None:
    # the same variables pip, requests and uv's native TLS honour
    for key in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        value = env.get(key)
        if value and os.path.isfile(value):
            return value
    return None


def _proxy_setting(env: Mapping[str, str], name: str) -> str | None:
    # lower case wins, as in urllib.request.getproxies_environment
    return env.get(f"{name}_proxy") or env.get(f"{name.upper()}_PROXY") or None


def proxies_for(env: Mapping[str, str], scheme: str, netloc: str) -> dict[str, str]:
    """The ``{scheme: proxy}`` a request to ``netloc`` goes through: none when ``no_proxy``
    covers the host (the standard library's rules), else ``<scheme>_proxy``, else ``all_proxy``."""
    no_proxy = _proxy_setting(env, "no")
    if no_proxy:
        # documented in urllib.request, though typeshed leaves it out
        from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]

        if proxy_bypass_environment(netloc, {"no": no_proxy}):
            return {}
    proxy = _proxy_setting(env, scheme) or _proxy_setting(env, "all")
    return {scheme: proxy} if proxy else {}


def _netrc_credentials(env: Mapping[str, str], host: str) -> tuple[str, str] | None:
    """The host's login from ``$NETRC``, else ``~/.netrc``; None when there is none or the file is unreadable."""
    path = env.get("NETRC") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".netrc")
    if not os.path.exists(path):
        return None  # the common case, without importing netrc (and shlex with it)
    import netrc

    try:
        found = netrc.netrc(path).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return None
    if not found:
        return None
    login, _account, password = found
    return login or "", password or ""


class Client:
    """Requests with one proxy / CA / credentials configuration and one deadline; the TLS
    context is built once, when the first https URL is fetched.

    ``timeout``: the most one request may take; ``deadline``: a ``time.monotonic()`` value
    no request outlives (None: none)."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        timeout: float,
        deadline: float | None = None,
        on_bytes: OnBytes | None = None,
    ) -> None:
        self.env = env
        self.timeout = timeout
        self.deadline = deadline
        self.on_bytes = on_bytes  # told (url, bytes so far, Content-Length or None) after each read
        self._context = None

    def _ssl(self):
        if self._context is None:
            import ssl

            self._context = ssl.create_default_context(cafile=_ca_file(self.env))
        return self._context

    def remaining(self) -> float:
        """Seconds a request may still take: the timeout, cut to what is left before the deadline."""
        if self.deadline is None:
            return self.timeout
        return min(self.timeout, self.deadline - time.monotonic())

    def fetch(self, url: str, *, method: str = "GET", accept: str = "text/html") -> Response:
        """Fetch ``url`` in a worker thread, waiting no longer than ``remaining()``;
        never raises for network trouble."""
        return self.fetch_all([(method, url)], accept=accept)[0]

    def fetch_all(self, asks: list[tuple[str, str]], *, accept: str = "text/html") -> list[Response]:
        """``[(method, url), ...]`` fetched concurrently (8 at a time), answers in the same
        order.  What has not answered when the deadline passes is a "deadline" failure."""
        import queue
        import threading

        if not asks:
            return []
        results: list[Response | None] = [None] * len(asks)
        todo = list(enumerate(asks))
        done: queue.SimpleQueue = queue.SimpleQueue()
        lock = threading.Lock()

        def work() -> None:
            while True:
                with lock:
                    if not todo:
                        return
                    i, (method, url) = todo.pop(0)
                try:
                    results[i] = self._request(url, method=method, accept=accept)
                except Exception as exc:  # noqa: BLE001 - anything from the transport is data here
                    results[i] = Response(url=url, status=None, failure=type(exc).__name__, detail=str(exc))
                done.put(i)

        for _ in range(min(8, len(asks))):
            # daemon threads: one stuck in a read never holds up the exit (a ThreadPoolExecutor's would)
            threading.Thread(target=work, daemon=True, name="torchup-http").start()
        for _ in asks:
            # SimpleQueue.get is interrupted by Ctrl-C; its timeout keeps the deadline.  A worker
            # gives up by itself within about twice its time (a read stalled after the last check)
            wait = (
                2 * self.timeout if self.deadline is None else min(2 * self.timeout, self.deadline - time.monotonic())
            )
            try:
                done.get(timeout=max(wait, 0.0) + 0.5)
            except queue.Empty:
                break
        return [r if r is not None else self._late(url) for r, (_, url) in zip(results, asks)]

    def _late(self, url: str) -> Response:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return Response(
                url=url, status=None, failure=DEADLINE, detail="the time allowed ran out before a complete answer"
            )
        return Response(url=url, status=None, failure="timeout", detail=f"no complete answer within {self.timeout:g} s")

    def _request(self, url: str, *, method: str, accept: str) -> Response:
        import urllib.parse

        left = self.remaining()
        if left <= 0:
            return self._late(url)
        end = time.monotonic() + left
        clean, credentials = strip_credentials(url)
        parts = urllib.parse.urlsplit(clean)
        if credentials is None and parts.hostname:
            credentials = _netrc_credentials(self.env, parts.hostname)
        proxies = proxies_for(self.env, parts.scheme, parts.netloc)
        headers = {"Accept": accept, "User-Agent": "torchup"}
        if credentials is not None:
            import base64  # only with credentials: it brings binascii and struct (issue 15)

            token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        if parts.scheme == "http" and not proxies:
            answer = _plain_http(
                url, clean, method, headers, timeout=left, end=end, on_bytes=self.on_bytes, late=self._late
            )
            if answer is not None:
                return answer
        import http.client
        import urllib.error
        import urllib.request

        handlers: list = [urllib.request.ProxyHandler(proxies)]
        if parts.scheme == "https":
            handlers.append(urllib.request.HTTPSHandler(context=self._ssl()))
        opener = urllib.request.build_opener(*handlers)
        auth = headers.pop("Authorization", None)
        request = urllib.request.Request(clean, method=method, headers=headers)
        if auth is not None:
            # unredirected: a redirect to another host does not carry the secret along
            request.add_unredirected_header("Authorization", auth)
        try:
            with opener.open(request, timeout=left) as resp:
                body = _read(resp, end, url, self.on_bytes) if method == "GET" else b""
                if body is None:
                    return self._late(url)
                return Response(url=url, status=resp.status, headers=dict(resp.headers), body=body)
        except urllib.error.HTTPError as exc:
            return Response(
                url=url,
                status=exc.code,
                headers=dict(exc.headers or {}),
                failure=f"HTTP {exc.code}",
                detail=str(exc.reason),
            )
        except urllib.error.URLError as exc:
            return Response(url=url, status=None, failure=_kind(exc.reason), detail=redact_url(str(exc.reason)))
        except TimeoutError as exc:
            return (
                self._late(url)
                if time.monotonic() >= end
                else Response(url=url, status=None, failure="timeout", detail=str(exc))
            )
        except http.client.HTTPException as exc:  # e.g. IncompleteRead: the connection was cut
            return Response(url=url, status=None, failure="connection cut off", detail=f"{type(exc).__name__}: {exc}")
        except (ConnectionError, OSError, ValueError) as exc:
            return Response(url=url, status=None, failure=_kind(exc), detail=redact_url(str(exc)))


# --- plain http, without http.client ---------------------------------------------------------
# A loopback or LAN mirror over http:// is the common case of an index check against a local
# index; urllib would import http.client, email, ssl, urllib.request and tempfile for it, ~20 ms
# of every `install --dry-run` (issue 15).  ``_plain_http`` speaks the little HTTP/1.1 a GET or
# HEAD needs and answers as the urllib path does: the same Response for the same server reply,
# the same failure kinds and details (http.client's exception names), tests/test_http_plain.py.
# What it does not do itself it leaves to urllib (returns None before reading a body): a redirect,
# an informational or chunked answer, a host or path urllib would encode or refuse.
_MAX_LINE = 65536  # http.client's _MAXLINE and _MAXHEADERS
_MAX_HEADERS = 100
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class _Trouble(Exception):
    """A malformed answer, named as http.client names it (``RemoteDisconnected``, ``BadStatusLine``...)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _plain_target(clean: str) -> tuple[str, int, str, str] | None:
    """Pure: (host, port, Host header, request target) of an http:// URL that goes on the wire as
    it is written, or None (urllib decides: IPv6, a non-ASCII host, a path it would refuse)."""
    rest = clean.split("#", 1)[0][len("http://") :]
    netloc, slash, path = rest.partition("/")
    if not netloc.isascii() or any(c <= " " or c in "\x7f?[@" for c in netloc):
        return None
    host, colon, port_text = netloc.partition(":")
    if not host or (colon and not port_text.isdigit()):
        return None
    target = slash + path or "/"
    if not target.isascii() or any(c <= " " or c == "\x7f" for c in target):
        return None
    return host, int(port_text) if colon else 80, netloc, target


def _plain_http(
    url: str,
    clean: str,
    method: str,
    headers: Mapping[str, str],
    *,
    timeout: float,
    end: float,
    on_bytes: OnBytes | None,
    late: Callable[[str], Response],
) -> Response | None:
    """One GET or HEAD of an http:// URL without a proxy, over a socket of its own (see above);
    None when urllib should do it.  ``late``: the Client's answer for a request out of time."""
    import socket

    where = _plain_target(clean)
    if where is None:
        return None
    host, port, host_header, target = where
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host_header}", "Accept-Encoding: identity"]
    lines += [f"{k}: {v}" for k, v in headers.items()] + ["Connection: close", "", ""]
    try:  # what urllib wraps in URLError: the connection and the request
        # the host as bytes: getaddrinfo encodes a str with the idna codec, which imports unicodedata
        sock = socket.create_connection((host.encode("ascii"), port), timeout)  # type: ignore[arg-type]
    except OSError as exc:
        return Response(url=url, status=None, failure=_kind(exc), detail=redact_url(str(exc)))
    with sock:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall("\r\n".join(lines).encode("latin-1"))
        except OSError as exc:
            return Response(url=url, status=None, failure=_kind(exc), detail=redact_url(str(exc)))
        fp = sock.makefile("rb")
        try:
            status, reason, fields = _read_head(fp)
            if status < 200 or status in _REDIRECTS or "chunked" in fields.get("transfer-encoding", "").lower():
                return None  # urllib's to do, from the start
            answer_headers = _first_values(fields)
            if not 200 <= status < 300:
                return Response(url=url, status=status, headers=answer_headers, failure=f"HTTP {status}", detail=reason)
            body = b""
            if method == "GET" and status not in (204, 304):
                body_or_none = _read(_Body(fp, fields), end, url, on_bytes)
                if body_or_none is None:
                    return late(url)
                body = body_or_none
            return Response(url=url, status=status, headers=answer_headers, body=body)
        except TimeoutError as exc:
            return (
                late(url)
                if time.monotonic() >= end
                else Response(url=url, status=None, failure="timeout", detail=str(exc))
            )
        except _Trouble as exc:
            return Response(url=url, status=None, failure="connection cut off", detail=f"{exc.kind}: {exc}")
        except (ConnectionError, OSError, ValueError) as exc:
            return Response(url=url, status=None, failure=_kind(exc), detail=redact_url(str(exc)))
        finally:
            fp.close()


def _read_head(fp) -> tuple[int, str, _Fields]:
    """The status, reason and header fields of an answer, read as http.client (and the email
    parser it hands the header block to) reads them."""
    line = fp.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise _Trouble("LineTooLong", "got more than 65536 bytes when reading status line")
    if not line:
        raise _Trouble("RemoteDisconnected", "Remote end closed connection without response")
    text = line.decode("iso-8859-1")
    words = text.split(None, 2)
    version, status_text, reason = (*words, "")[:3] if len(words) >= 2 else ("", "", "")
    if not version.startswith("HTTP/"):
        raise _Trouble("BadStatusLine", text)
    try:
        status = int(status_text)
    except ValueError:
        raise _Trouble("BadStatusLine", text) from None
    if not 100 <= status <= 999:
        raise _Trouble("BadStatusLine", text)
    if version not in ("HTTP/1.0", "HTTP/0.9") and not version.startswith("HTTP/1."):
        raise _Trouble("UnknownProtocol", version)
    raw_lines = []
    while True:
        raw = fp.readline(_MAX_LINE + 1)
        if len(raw) > _MAX_LINE:
            raise _Trouble("LineTooLong", "got more than 65536 bytes when reading header line")
        raw_lines.append(raw)
        if len(raw_lines) > _MAX_HEADERS:
            raise _Trouble("HTTPException", f"got more than {_MAX_HEADERS} headers")
        if raw in (b"\r\n", b"\n", b""):
            break
    fields = _Fields()
    for raw in raw_lines[:-1]:
        field_text = raw.decode("iso-8859-1")
        if field_text[:1] in (" ", "\t"):  # a continuation line (obsolete folding); none before a field
            if fields:
                fields[-1] = (fields[-1][0], fields[-1][1] + field_text)
            continue
        name, colon, value = field_text.partition(":")
        if not colon or not all("\x21" <= c <= "\x7e" for c in name):
            break  # not a header line: the email parser takes the rest for the body
        fields.append((name, value.lstrip(" \t")))
    return status, reason.strip(), _Fields((n, v.rstrip("\r\n")) for n, v in fields)


class _Fields(list):
    """Header fields in order; ``get`` finds the first of a name, any case (as email.message does)."""

    def get(self, name: str, default: str = "") -> str:
        lower = name.lower()
        return next((v for n, v in self if n.lower() == lower), default)


def _first_values(fields) -> dict[str, str]:
    """``dict(message)`` of http.client's headers: each name as sent, with the first value of that name."""
    return {name: fields.get(name) for name, _ in fields}


class _Body:
    """The body as ``HTTPResponse.read1`` gives it: up to Content-Length, else until the server
    closes (a short body is returned as it is, as http.client does)."""

    def __init__(self, fp, fields: _Fields) -> None:
        self.fp = fp
        self.headers = fields  # what _read asks for Content-Length: any case, as http.client's message
        length = fields.get("content-length", "")
        try:
            self.length: int | None = int(length) if length else None
        except ValueError:
            self.length = None
        if self.length is not None and self.length < 0:
            self.length = None

    def read1(self, n: int) -> bytes:
        if self.length is not None:
            n = min(n, self.length)
        chunk = self.fp.read1(n) if n else b""
        if self.length is not None:
            self.length -= len(chunk)
        return chunk


def _read(resp, end: float, url: str = "", on_bytes: OnBytes | None = None) -> bytes | None:
    """The body, one read at a time, each checked against ``end`` (None: it passed).  A socket
    timeout bounds one read only: a server sending a byte a second would never trip it."""
    chunks: list[bytes] = []
    size = 0
    length = resp.headers.get("Content-Length", "") if on_bytes is not None else ""
    total = int(length) if length.isdigit() else None
    while size < _MAX_BODY:
        if time.monotonic() >= end:
            return None
        chunk = resp.read1(_CHUNK)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if on_bytes is not None:
            on_bytes(url, size, total)
    return b"".join(chunks)[:_MAX_BODY]


def fetch(
    url: str,
    *,
    timeout: float,
    env: Mapping[str, str],
    method: str = "GET",
    accept: str = "text/html",
    on_bytes: OnBytes | None = None,
) -> Response:
    """One request (see ``Client``)."""
    return Client(env, timeout=timeout, on_bytes=on_bytes).fetch(url, method=method, accept=accept)


def resolve_pypi_index(env: Mapping[str, str], run: Callable[[list[str]], str | None]) -> tuple[str, str]:
    """The simple-API URL the installer is configured with, and where it came from (the default
    index of install's preflight and of catalog refresh).  ``run(argv)`` runs a command and
    returns its stdout (None on failure)."""
    for key in ("PIP_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX_URL"):
        if env.get(key):
            return env[key].rstrip("/"), key
    out = run([sys.executable, "-m", "pip", "config", "get", "global.index-url"])
    if out and out.strip():
        return out.strip().rstrip("/"), "pip config global.index-url"
    out = run([sys.executable, "-c", "from pip._internal.models.index import PyPI; print(PyPI.simple_url)"])
    if out and out.strip().startswith(("http://", "https://")):
        return out.strip().rstrip("/"), "pip's built-in default index"
    raise UsageError(
        "no package index is configured and pip could not say its default",
        hint="pass --pypi-index URL (the simple API of your package index)",
    )


def _kind(reason: object) -> str:
    import ssl

    if isinstance(reason, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(reason):
        return "certificate"
    if isinstance(reason, ssl.SSLError):
        return "tls"
    if isinstance(reason, (TimeoutError,)) or "timed out" in str(reason):
        return "timeout"
    if isinstance(reason, ConnectionRefusedError):
        return "refused"
    if isinstance(reason, ConnectionResetError):
        return "reset"
    text = str(reason)
    if "Name or service not known" in text or "getaddrinfo" in text or "nodename nor servname" in text:
        return "dns"
    if "Tunnel connection failed" in text or "proxy" in text.lower():
        return "proxy"
    return text or type(reason).__name__
