"""A real package index on 127.0.0.1 for tests, with fault injection.

Serves any number of indexes, each a URL prefix (``whl/cu126``, ``simple``):

- ``GET /<index>/``                  PEP 503 project list
- ``GET /<index>/<project>/``        PEP 503 HTML with ``#sha256=`` and PEP 658
                                     ``data-dist-info-metadata`` / ``data-core-metadata``;
                                     PEP 691 JSON when the client asks for it
- ``GET /<index>/<project>/<file>``  the wheel, and ``<file>.metadata`` its METADATA

Besides the indexes, ``add_links_page`` serves a flat page of links with its files next to it
(PyG's wheel pages: ``/whl/torch-2.7.0+cu126.html`` linking ``torch-2.7.0+cu126/<file>``), and
``add_file`` one file at any path (a release asset reached by its direct URL).

Faults are set per URL path prefix (``server.fault("/whl/cu126/torch/", status=403)``):
a status code, a connection cut after N bytes, a corrupted body (hash mismatch),
a truncated page, a delay, a trickle (one byte at a time), a slow link (``rate`` bytes
per second, for progress output).  Replies go out with TCP_NODELAY: without it, the
header and body writes of a keep-alive reply met the client's delayed ACK and every
request stalled about 40 ms.  Missing pages answer
``missing_status`` (PyTorch's index answers 403, PyPI 404).  Every request is recorded in
``requests`` (path, Accept) and ``calls`` (method, path).  ``auth=(user, password)`` makes
every page ask for HTTP Basic auth (401 without it).
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import threading
import time
import zipfile
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, quote

__all__ = ["Fault", "IndexServer", "normalise"]


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Fault:
    status: int | None = None  # answer this status with a short body
    cut_after: int | None = None  # send headers for the full body, then close after N bytes
    corrupt: bool = False  # flip bytes of the body (the advertised hash no longer matches)
    truncate: int | None = None  # serve only the first N bytes, with a matching Content-Length
    delay: float = 0.0  # sleep before answering
    body: bytes | None = None  # serve this body instead
    trickle: float | None = None  # send the body one byte every this many seconds
    rate: float | None = None  # send the body at about this many bytes per second


@dataclass
class _File:
    filename: str
    data: bytes
    sha256: str
    metadata: bytes | None
    requires_python: str | None


class IndexServer:
    def __init__(self, *, missing_status: int = 404, json_api: bool = True,
                 auth: tuple[str, str] | None = None) -> None:
        self.indexes: dict[str, dict[str, list[_File]]] = {}
        self.static: dict[str, tuple[str, bytes]] = {}  # unquoted path -> (content type, body)
        self.faults: dict[str, Fault] = {}
        self.requests: list[tuple[str, str]] = []  # (path, accept header)
        self.calls: list[tuple[str, str]] = []  # (method, path)
        self.auth = auth
        self.missing_status = missing_status
        self.json_api = json_api
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- content -------------------------------------------------------------
    def add_wheel(self, index: str, path: Path, *, requires_python: str | None = None) -> None:
        data = Path(path).read_bytes()
        filename = Path(path).name
        project = normalise(filename.split("-")[0])
        metadata = None
        try:
            with zipfile.ZipFile(path) as zf:
                for member in zf.namelist():
                    if member.endswith(".dist-info/METADATA") and member.count("/") == 1:
                        metadata = zf.read(member)
                        break
        except zipfile.BadZipFile:
            pass
        if requires_python is None and metadata:
            m = re.search(rb"^Requires-Python: (.+)$", metadata, re.M)
            requires_python = m.group(1).decode().strip() if m else None
        files = self.indexes.setdefault(index.strip("/"), {}).setdefault(project, [])
        files.append(_File(filename, data, hashlib.sha256(data).hexdigest(), metadata, requires_python))

    def add_file(self, path: str, wheel: Path) -> str:
        """Serve ``wheel`` at ``path`` (``/releases/download/v1/x.whl``); returns its URL path."""
        self.static["/" + path.strip("/")] = ("application/octet-stream", Path(wheel).read_bytes())
        return "/" + path.strip("/")

    def add_links_page(self, page: str, wheels: list[Path]) -> str:
        """A flat HTML page of links at ``page`` (``whl/torch-2.7.0+cu126.html``), each wheel served
        under the page's name without ``.html`` and linked relatively, with its sha256, as PyG's pages
        are; returns the page's URL path."""
        base = page.strip("/").removesuffix(".html")
        rows = []
        for wheel in wheels:
            data = Path(wheel).read_bytes()
            self.static[f"/{base}/{Path(wheel).name}"] = ("application/octet-stream", data)
            href = f"{quote(base.rsplit('/', 1)[-1])}/{quote(Path(wheel).name)}#sha256={hashlib.sha256(data).hexdigest()}"
            rows.append(f'<a href="{href}">{html.escape(Path(wheel).name)}</a><br>\n')
        self.static[f"/{base}.html"] = ("text/html", f"<html><body>\n{''.join(rows)}</body></html>\n".encode())
        return f"/{base}.html"

    def add_project(self, index: str, project: str) -> None:
        """An empty project page (a package with no files)."""
        self.indexes.setdefault(index.strip("/"), {}).setdefault(normalise(project), [])

    def fault(self, path_prefix: str, **kwargs) -> Fault:
        f = Fault(**kwargs)
        self.faults[path_prefix] = f
        return f

    def clear_faults(self) -> None:
        self.faults.clear()

    # --- lifecycle ------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def index_url(self, index: str) -> str:
        return f"{self.url}/{index.strip('/')}/"

    def start(self) -> "IndexServer":
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "IndexServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- routing --------------------------------------------------------------
    def _route(self, path: str, accept: str) -> tuple[int, str, bytes]:
        static = self.static.get(unquote(path.split("?")[0].split("#")[0]))
        if static is not None:
            return 200, static[0], static[1]
        parts = [unquote(p) for p in path.split("?")[0].split("/") if p]
        for index in sorted(self.indexes, key=len, reverse=True):
            ip = index.split("/")
            if parts[: len(ip)] != ip:
                continue
            rest = parts[len(ip) :]
            projects = self.indexes[index]
            if not rest:
                return self._root_page(index, projects, accept)
            project = normalise(rest[0])
            if project not in projects:
                break
            if len(rest) == 1:
                return self._project_page(index, project, projects[project], accept)
            if len(rest) == 2:
                for f in projects[project]:
                    if rest[1] == f.filename:
                        return 200, "application/octet-stream", f.data
                    if rest[1] == f.filename + ".metadata" and f.metadata is not None:
                        return 200, "text/plain", f.metadata
            break
        return self.missing_status, "text/plain", f"{self.missing_status} for {path}\n".encode()

    def _wants_json(self, accept: str) -> bool:
        return self.json_api and "application/vnd.pypi.simple.v1+json" in accept

    def _root_page(self, index, projects, accept):
        if self._wants_json(accept):
            body = {"meta": {"api-version": "1.1"}, "projects": [{"name": p} for p in sorted(projects)]}
            return 200, "application/vnd.pypi.simple.v1+json", json.dumps(body).encode()
        links = "".join(f'<a href="{p}/">{p}</a><br/>\n' for p in sorted(projects))
        return 200, "text/html", f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n".encode()

    def _project_page(self, index, project, files, accept):
        if self._wants_json(accept):
            body = {
                "meta": {"api-version": "1.1"},
                "name": project,
                "files": [
                    {
                        "filename": f.filename,
                        "url": f"/{index}/{project}/{quote(f.filename)}",
                        "hashes": {"sha256": f.sha256},
                        "requires-python": f.requires_python,
                        "core-metadata": {"sha256": hashlib.sha256(f.metadata).hexdigest()} if f.metadata else False,
                    }
                    for f in files
                ],
            }
            return 200, "application/vnd.pypi.simple.v1+json", json.dumps(body).encode()
        rows = []
        for f in files:
            attrs = ""
            if f.requires_python:
                attrs += f' data-requires-python="{html.escape(f.requires_python)}"'
            if f.metadata is not None:
                mh = hashlib.sha256(f.metadata).hexdigest()
                attrs += f' data-dist-info-metadata="sha256={mh}" data-core-metadata="sha256={mh}"'
            href = f"/{index}/{project}/{quote(f.filename)}#sha256={f.sha256}"
            rows.append(f'<a href="{href}"{attrs}>{html.escape(f.filename)}</a><br/>\n')
        page = f"<!DOCTYPE html>\n<html><body>\n<h1>Links for {project}</h1>\n{''.join(rows)}</body></html>\n"
        return 200, "text/html", page.encode()


def _paced(out, body: bytes, rate: float) -> None:
    """Write ``body`` at about ``rate`` bytes per second, in twentieths of a second."""
    step = max(1, int(rate / 20))
    start = time.monotonic()
    for sent in range(0, len(body), step):
        out.write(body[sent : sent + step])
        out.flush()
        ahead = start + (sent + step) / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)


def _basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class _Handler(BaseHTTPRequestHandler):
    owner: IndexServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY (socketserver.StreamRequestHandler)

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        owner = self.owner
        accept = self.headers.get("Accept", "")
        owner.requests.append((self.path, accept))
        owner.calls.append((self.command, self.path))
        if owner.auth is not None and self.headers.get("Authorization") != _basic(*owner.auth):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="test index"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        fault = None
        for prefix in sorted(owner.faults, key=len, reverse=True):
            if self.path.startswith(prefix):
                fault = owner.faults[prefix]
                break
        if fault and fault.delay:
            time.sleep(fault.delay)
        if fault and fault.status:
            status, ctype, body = fault.status, "text/plain", f"{fault.status} injected\n".encode()
        else:
            status, ctype, body = owner._route(self.path, accept)
        if fault and fault.body is not None:
            body = fault.body
        if fault and fault.corrupt and body:
            body = bytes(b ^ 0x5A for b in body[:64]) + body[64:]
        if fault and fault.truncate is not None:
            body = body[: fault.truncate]
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if fault and fault.cut_after is not None:
            self.send_header("Connection", "close")
        self.end_headers()
        if head:
            return
        try:
            if fault and fault.trickle is not None:
                for i in range(len(body)):
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    time.sleep(fault.trickle)
                return
            if fault and fault.rate is not None:
                _paced(self.wfile, body, fault.rate)
                return
            if fault and fault.cut_after is not None:
                self.wfile.write(body[: fault.cut_after])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
