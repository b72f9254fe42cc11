"""Serve a run directory on 127.0.0.1 so its ``viewer.html`` can load the videos beside it."""

from __future__ import annotations

import functools
import io
import logging
import os
import re
import threading
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

log = logging.getLogger(__name__)


_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class _RunHandler(SimpleHTTPRequestHandler):
    """Static files with single byte-range requests; request lines go to debug logging.

    Browsers fetch media with ``Range`` and can only seek a video whose server answers 206; the
    standard handler ignores ranges, which leaves every video stuck at its first frame.
    """

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".mp4": "video/mp4", ".js": "text/javascript"}

    def send_head(self):
        match = _RANGE.match(self.headers.get("Range", "").strip())
        path = Path(self.translate_path(self.path))
        if match is None or not path.is_file() or match.groups() == ("", ""):
            return super().send_head()
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            first, last = match.groups()
            if first:
                start, end = int(first), min(int(last) if last else size - 1, size - 1)
            else:  # "bytes=-N": the last N bytes
                start, end = max(0, size - int(last)), size - 1
            if start >= size or start > end:
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            f.seek(start)
            body = f.read(end - start + 1)
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return io.BytesIO(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (signature of the base class)
        log.debug("%s " + format, self.address_string(), *args)


class RunServer:
    """A static HTTP server for ``root`` in a background thread. Use as a context manager or call
    :meth:`start` / :meth:`stop`. ``port=0`` picks a free port."""

    def __init__(self, root: str | os.PathLike, port: int = 0, host: str = "127.0.0.1"):
        root = Path(root)
        if not root.is_dir():
            raise ValueError(f"{root}: not a folder; pass a worldstereo run directory")
        handler = functools.partial(_RunHandler, directory=str(root))
        try:
            self.httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise ValueError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port") from None
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
