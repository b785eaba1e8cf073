"""torchup's one small HTTP client (install preflight, catalog refresh): GET/HEAD with a timeout, the
caller's proxy and CA settings, and every failure returned as data."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping

__all__ = ["Client", "Response", "fetch"]

_MAX_BODY = 16 << 20  # an index page larger than this is not an index page


@dataclass(frozen=True, kw_only=True)
class Response:
    url: str
    status: int | None  # None: no HTTP answer at all
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    failure: str | None = None  # "timeout", "refused", "dns", "certificate", "proxy", "reset", or the error text
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


def _proxies(env: Mapping[str, str], host: str) -> dict[str, str]:
    no_proxy = env.get("no_proxy") or env.get("NO_PROXY") or ""
    bypass = {h.strip().lower() for h in no_proxy.split(",") if h.strip()}
    if host.lower() in bypass or host in ("127.0.0.1", "localhost", "::1") or "*" in bypass:
        return {}
    out = {}
    for scheme in ("http", "https"):
        value = env.get(f"{scheme}_proxy") or env.get(f"{scheme.upper()}_PROXY")
        if value:
            out[scheme] = value
    return out


class Client:
    """Requests with one proxy / CA configuration; the TLS context is built once, when
    the first https URL is fetched."""

    def __init__(self, env: Mapping[str, str], *, timeout: float) -> None:
        self.env = env
        self.timeout = timeout
        self._context = None

    def _ssl(self):
        if self._context is None:
            import ssl

            self._context = ssl.create_default_context(cafile=_ca_file(self.env))
        return self._context

    def fetch(self, url: str, *, method: str = "GET", accept: str = "text/html") -> Response:
        """Fetch ``url``; never raises for network trouble."""
        import socket
        import urllib.error
        import urllib.parse
        import urllib.request

        parts = urllib.parse.urlsplit(url)
        handlers: list = [urllib.request.ProxyHandler(_proxies(self.env, parts.hostname or ""))]
        if parts.scheme == "https":
            handlers.append(urllib.request.HTTPSHandler(context=self._ssl()))
        opener = urllib.request.build_opener(*handlers)
        request = urllib.request.Request(url, method=method, headers={"Accept": accept, "User-Agent": "torchup"})
        try:
            with opener.open(request, timeout=self.timeout) as resp:
                body = resp.read(_MAX_BODY) if method == "GET" else b""
                return Response(url=url, status=resp.status, headers=dict(resp.headers), body=body)
        except urllib.error.HTTPError as exc:
            return Response(url=url, status=exc.code, headers=dict(exc.headers or {}), failure=f"HTTP {exc.code}",
                            detail=str(exc.reason))
        except urllib.error.URLError as exc:
            return Response(url=url, status=None, failure=_kind(exc.reason), detail=str(exc.reason))
        except (socket.timeout, TimeoutError) as exc:
            return Response(url=url, status=None, failure="timeout", detail=str(exc))
        except (ConnectionError, OSError, ValueError) as exc:
            return Response(url=url, status=None, failure=_kind(exc), detail=str(exc))

    def fetch_all(self, urls: list[tuple[str, str]]) -> list[Response]:
        """``[(method, url), ...]`` fetched concurrently, answers in the same order."""
        if len(urls) <= 1:
            return [self.fetch(u, method=m) for m, u in urls]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, len(urls))) as pool:
            return list(pool.map(lambda mu: self.fetch(mu[1], method=mu[0]), urls))


def fetch(url: str, *, timeout: float, env: Mapping[str, str], method: str = "GET",
          accept: str = "text/html") -> Response:
    """One request (see ``Client``)."""
    return Client(env, timeout=timeout).fetch(url, method=method, accept=accept)


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
