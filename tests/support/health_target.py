"""A tiny real HTTP target for the stages tests: ``/health`` answers 503 until
``healthy`` is set, every other path 200; every path asked for is recorded. Lighter than
the example target (no TLS, no defects), and shared so the stage tests need no copy."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread


class HealthTarget:
    """Serves on 127.0.0.1 (a free port) from a daemon thread; ``url`` is its base URL."""

    def __init__(self) -> None:
        self.healthy = False
        self.seen: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.seen.append(self.path)
                ok = owner.healthy or self.path != "/health"
                self.send_response(200 if ok else 503)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def health_target() -> Iterator[HealthTarget]:
    """A ``HealthTarget`` for the block, closed afterwards."""
    served = HealthTarget()
    try:
        yield served
    finally:
        served.close()
