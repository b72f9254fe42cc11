"""Serve a run directory on 127.0.0.1 so its ``viewer.html`` can load the videos beside it."""

from __future__ import annotations

import functools
import logging
import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

log = logging.getLogger(__name__)


class _QuietHandler(SimpleHTTPRequestHandler):
    """Static files; request lines go to debug logging instead of stderr."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".mp4": "video/mp4", ".js": "text/javascript"}

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (signature of the base class)
        log.debug("%s " + format, self.address_string(), *args)


class RunServer:
    """A static HTTP server for ``root`` in a background thread. Use as a context manager or call
    :meth:`start` / :meth:`stop`. ``port=0`` picks a free port."""

    def __init__(self, root: str | os.PathLike, port: int = 0, host: str = "127.0.0.1"):
        root = Path(root)
        if not root.is_dir():
            raise ValueError(f"{root}: not a folder; pass a worldstereo run directory")
        handler = functools.partial(_QuietHandler, directory=str(root))
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
