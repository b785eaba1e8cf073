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
- ``redact_url`` hides the secret of every URL in a text: ``user:***@host``.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Mapping

from torchup.errors import UsageError
from torchup.lazyre import lazy
from torchup.record import field, record

__all__ = [
    "Client",
    "OnBytes",
    "Response",
    "fetch",
    "proxies_for",
    "redact_url",
    "resolve_pypi_index",
    "strip_credentials",
]

_MAX_BODY = 16 << 20  # an index page larger than this is not an index page
_CHUNK = 64 << 10
OnBytes = Callable[[str, int, "int | None"], None]  # (url, bytes so far, Content-Length or None)
DEADLINE = "deadline"  # Response.failure when the deadline passed before the answer was complete

# scheme://user[:password]@ - the userinfo of every URL in a text.  The scheme's length is bounded: unbounded,
# every letter of a long run was a start that scanned the rest of the run (100 KB of letters took 13 s)
_USERINFO = lazy(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{0,31}://)(?P<user>[^/@\s:]*)(?P<pw>:[^/@\s]*)?@")


def redact_url(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***`` (``user:***@host``);
    a user name alone (often a token) becomes ``***@host``.  For everything torchup shows or logs."""

    def hide(m: re.Match) -> str:
        return f"{m['scheme']}{m['user']}:***@" if m["pw"] is not None else f"{m['scheme']}***@"

    if "@" not in text:  # no userinfo without one: most texts never reach the pattern
        return text
    return _USERINFO.sub(hide, text)


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
    # documented in urllib.request, though typeshed leaves it out
    from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]

    no_proxy = _proxy_setting(env, "no")
    if no_proxy and proxy_bypass_environment(netloc, {"no": no_proxy}):
        return {}
    proxy = _proxy_setting(env, scheme) or _proxy_setting(env, "all")
    return {scheme: proxy} if proxy else {}


def _netrc_credentials(env: Mapping[str, str], host: str) -> tuple[str, str] | None:
    """The host's login from ``$NETRC``, else ``~/.netrc``; None when there is none or the file is unreadable."""
    import netrc

    path = env.get("NETRC") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".netrc")
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
        import base64
        import http.client
        import urllib.error
        import urllib.parse
        import urllib.request

        left = self.remaining()
        if left <= 0:
            return self._late(url)
        end = time.monotonic() + left
        clean, credentials = strip_credentials(url)
        parts = urllib.parse.urlsplit(clean)
        if credentials is None and parts.hostname:
            credentials = _netrc_credentials(self.env, parts.hostname)
        handlers: list = [urllib.request.ProxyHandler(proxies_for(self.env, parts.scheme, parts.netloc))]
        if parts.scheme == "https":
            handlers.append(urllib.request.HTTPSHandler(context=self._ssl()))
        opener = urllib.request.build_opener(*handlers)
        request = urllib.request.Request(clean, method=method, headers={"Accept": accept, "User-Agent": "torchup"})
        if credentials is not None:
            token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
            # unredirected: a redirect to another host does not carry the secret along
            request.add_unredirected_header("Authorization", f"Basic {token}")
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
