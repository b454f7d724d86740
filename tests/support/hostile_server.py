"""A loopback HTTP server that sends what a hostile or broken target sends: huge bodies,
endless chunked streams, a trickle, a gzip bomb. For the body-size tests and
``bench/hostile.py``; 127.0.0.1 only.

    /small            1 KB of text
    /big?mb=50        50 MB with a Content-Length, sent as fast as the client reads
    /endless          a chunked body that never ends (until the client hangs up)
    /trickle          a chunked body of 10 bytes every 0.1 s, forever
    /bigjson?kb=64    a valid JSON document of about that size
    /gzip-bomb?mb=200 that many MB of zeros, gzip-compressed (a few hundred KB on the wire)
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from tests.support.local_http import serving

CHUNK = b"x" * 65536


@cache
def _bomb(mb: int) -> bytes:
    return gzip.compress(b"\0" * (mb * 1024 * 1024), compresslevel=9)


def _json_document(kb: int) -> bytes:
    items = [{"id": i, "name": f"item-{i}"} for i in range(kb * 1024 // 30 + 1)]
    return json.dumps({"version": "2.14.0", "items": items}).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            if url.path == "/small":
                self._whole(b"y" * 1024, "text/plain")
            elif url.path == "/big":
                self._big(int(query.get("mb", "50")))
            elif url.path == "/endless":
                self._chunked(CHUNK, pause=0.0)
            elif url.path == "/trickle":
                self._chunked(b"0123456789", pause=0.1)
            elif url.path == "/bigjson":
                self._whole(_json_document(int(query.get("kb", "64"))), "application/json")
            elif url.path == "/gzip-bomb":
                self._whole(_bomb(int(query.get("mb", "200"))), "text/plain", encoding="gzip")
            else:
                self._whole(b"not found", "text/plain", status=404)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: what a bounded client does

    def _whole(
        self, body: bytes, content_type: str, *, status: int = 200, encoding: str = ""
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _big(self, mb: int) -> None:
        size = mb * 1024 * 1024
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        for _ in range(size // len(CHUNK)):
            self.wfile.write(CHUNK)

    def _chunked(self, chunk: bytes, *, pause: float) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        while True:
            self.wfile.write(frame)
            if pause:
                self.wfile.flush()
                time.sleep(pause)


@contextmanager
def hostile_server() -> Iterator[str]:
    """Serve on a free 127.0.0.1 port; yields the base URL (``http://127.0.0.1:N``)."""
    with serving(_Handler, daemon_threads=True) as url:
        yield url
