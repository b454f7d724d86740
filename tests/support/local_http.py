"""Small real HTTP servers on 127.0.0.1 for tests that need a target of their own shape
(a handler class of their own): ``serving`` runs one for a block; ``HealthTarget`` is the
stage tests' target, whose ``/health`` answers 503 until ``healthy`` is set. Lighter than
the example target (no TLS, no defects), and one copy instead of one per test file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread


@contextmanager
def serving(
    handler: type[BaseHTTPRequestHandler], *, daemon_threads: bool = False
) -> Iterator[str]:
    """Serve ``handler`` on a free 127.0.0.1 port from a daemon thread for the block;
    yields the base URL (``http://127.0.0.1:N``). ``daemon_threads``: the requests'
    threads do not hold up the end (a server that streams forever)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = daemon_threads
    Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class HealthTarget:
    """``/health`` answers 503 until ``healthy`` is set, every other path 200; every path
    asked for is recorded in ``seen``. Serves from creation; ``url`` is its base URL."""

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

        self._stack = ExitStack()
        self.url = self._stack.enter_context(serving(Handler))

    def close(self) -> None:
        self._stack.close()


@contextmanager
def health_target() -> Iterator[HealthTarget]:
    """A ``HealthTarget`` for the block, closed afterwards."""
    served = HealthTarget()
    try:
        yield served
    finally:
        served.close()
