"""Serve a run directory on 127.0.0.1 so its ``viewer.html`` can load the videos beside it.

The run folder may come from someone else and the browser visiting the port may be driven by any
web page, so the server is narrow on purpose:

- only GET and HEAD, only for loopback ``Host`` names (``127.0.0.1``, ``localhost``, ``[::1]``, with
  this server's port or none): a DNS-rebinding page that reaches the port under its own host name
  gets 403;
- only the files a run writes (:func:`served_path`), as regular files whose real path (symlinks
  resolved) stays inside the run folder and is itself such a file; no directory listings;
- every answer carries ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` and the
  page's Content-Security-Policy, and the ``Server`` header names no Python version.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional

from ..safepath import UnsafePathError, inside
from .html import content_security_policy
from ..runlayout import CACHE, INPUT_IMAGE, MEMORY, RECORD, TRAJECTORIES, VIEWER
from .rundata import read_run_record

log = logging.getLogger(__name__)

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
# What a run writes (DESIGN §6): these files at its top, and under these folders files of these kinds.
TOP_FILES = frozenset({RECORD, INPUT_IMAGE, CACHE, "cache.json", VIEWER})
SUBTREES = {
    MEMORY: frozenset({".json", ".png"}),
    TRAJECTORIES: frozenset({".json", ".png", ".mp4", ".npz"}),
    "reconstruction": frozenset({".json", ".png", ".ply", ".npz", ".obj", ".mtl", ".gltf", ".glb", ".bin", ".fbx",
                                 ".usda", ".usdc", ".usdz", ".pcd", ".xyz", ".las"}),
}
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".json": "application/json", ".png": "image/png",
                 ".mp4": "video/mp4", ".ply": "application/octet-stream"}
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def served_path(rel: str) -> bool:
    """Whether the run-relative path ``rel`` ("a/b/c", "/"-separated) is one of a run's own outputs.

    Hidden names (a leading dot: the run lock, atomic writes' temporaries) are never served.
    """
    parts = rel.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") or "\\" in p or "\0" in p for p in parts):
        return False
    if len(parts) == 1:
        return parts[0] in TOP_FILES
    suffixes = SUBTREES.get(parts[0])
    return suffixes is not None and os.path.splitext(parts[-1])[1].lower() in suffixes


class _RunHandler(BaseHTTPRequestHandler):
    """GET/HEAD of a run's own files, with single byte-range requests; request lines go to debug logging.

    Browsers fetch media with ``Range`` and can only seek a video whose server answers 206; without it
    every video stays stuck at its first frame.
    """

    server_version = "worldstereo"
    sys_version = ""
    root: Path  # the run folder, resolved (set on the subclass made per server)
    port: int

    def version_string(self) -> str:
        return self.server_version

    def end_headers(self) -> None:
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Security-Policy", content_security_policy())
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        super().end_headers()

    def _host_ok(self) -> bool:
        host = (self.headers.get("Host") or "").strip().lower()
        return host in LOOPBACK or host in {f"{name}:{self.port}" for name in LOOPBACK}

    def _file(self) -> Optional[Path]:
        """The real path of the requested file, or None after answering with an error."""
        if not self._host_ok():
            self.send_error(HTTPStatus.FORBIDDEN, "Host must be a loopback name (127.0.0.1, localhost, [::1])")
            return None
        url_path = urllib.parse.urlsplit(self.path).path
        if url_path == "/":
            self.send_response(HTTPStatus.FOUND)
            self.send_header("Location", "/viewer.html")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        rel = urllib.parse.unquote(url_path, errors="strict").removeprefix("/") if url_path.startswith("/") else ""
        if not served_path(rel):
            self.send_error(HTTPStatus.NOT_FOUND, "Not a file of this run")
            return None
        try:
            real = inside(self.root / rel, self.root).resolve(strict=True)
            # the link's target must itself be a file a run writes (not, say, a key beside run.json)
            ok = served_path(real.relative_to(self.root).as_posix()) and stat.S_ISREG(real.stat().st_mode)
        except (UnsafePathError, OSError, ValueError):
            ok = False
        if not ok:
            self.send_error(HTTPStatus.NOT_FOUND, "Not a file of this run")
            return None
        return real

    def _send(self, head_only: bool) -> None:
        try:
            path = self._file()
        except UnicodeDecodeError:
            self.send_error(HTTPStatus.NOT_FOUND, "Not a file of this run")
            return
        if path is None:
            return
        try:
            f = open(path, "rb")
        except OSError:
            self.send_error(HTTPStatus.NOT_FOUND, "Not a file of this run")
            return
        with f:
            length = self._head(f, path)
            while length and not head_only:  # in chunks: a run's scene.npz can be large
                chunk = f.read(min(length, 1 << 20))
                if not chunk:
                    break
                self.wfile.write(chunk)
                length -= len(chunk)

    def _head(self, f, path: Path) -> int:
        """Send the status and headers for ``f`` (honouring one byte range); return the body length."""
        size = os.fstat(f.fileno()).st_size
        match = _RANGE.match(self.headers.get("Range", "").strip())
        start, end, status = 0, size - 1, HTTPStatus.OK
        if match is not None and match.groups() != ("", ""):
            first, last = match.groups()
            if first:
                start, end = int(first), min(int(last) if last else size - 1, size - 1)
            else:  # "bytes=-N": the last N bytes
                start = max(0, size - int(last))
            if start >= size or start > end:
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return 0
            status = HTTPStatus.PARTIAL_CONTENT
        f.seek(start)
        length = max(end - start + 1, 0)
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream"))
        if status == HTTPStatus.PARTIAL_CONTENT:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        return length

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._send(head_only=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._send(head_only=True)

    def _not_allowed(self) -> None:
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _not_allowed

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (signature of the base class)
        log.debug("%s " + format, self.address_string(), *args)


class RunServer:
    """An HTTP server for the run in ``root`` in a background thread (see the module docstring). Use
    as a context manager or call :meth:`start` / :meth:`stop`. ``port=0`` picks a free port.

    Raises :class:`~worldstereo.viewer.rundata.NotARunError` when ``root`` holds no run record.
    """

    def __init__(self, root: str | os.PathLike, port: int = 0, host: str = "127.0.0.1"):
        if host != "127.0.0.1":
            raise ValueError(f"host {host!r}: the viewer serves on 127.0.0.1 only (its files are for this machine)")
        read_run_record(root)
        handler = type("RunHandler", (_RunHandler,), {"root": Path(root).resolve()})
        try:
            self.httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise ValueError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port") from None
        handler.port = self.httpd.server_address[1]
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="worldstereo-view", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> "RunServer":
        self._thread.start()
        log.info("serving %s", self.url)
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "RunServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
