"""A run's shared connection pool. Apart from checks/context.py so that loading a config
(which reads its ``Target``) imports no HTTP client."""

from __future__ import annotations

import importlib.util
import ssl
import sys
from collections.abc import Callable

import httpx


def remember_missing_sniffio() -> None:
    """httpcore imports ``sniffio`` whenever it makes a lock or shields a close (several
    times a request). anyio no longer needs it, so it is often absent, and Python does
    not remember a failed import: each attempt searched ``sys.path`` again, 0.2 ms,
    most of what a local request costs (bench/engine.py). Recording it as absent makes
    the import fail at once, as it would anyway; an installed sniffio is left alone."""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]  # "absent", per importlib


remember_missing_sniffio()


class SharedTransport(httpx.AsyncBaseTransport):
    """A run's connection pool for one target, lent to every client a check makes: its
    checks reuse connections (keep-alive) instead of each opening and closing its own.
    A client closing it does nothing; whoever made it calls :meth:`close`.
    ``ssl_context``: the target's (``Target.ssl_context``), asked for at first use."""

    def __init__(self, ssl_context: Callable[[], ssl.SSLContext]) -> None:
        self._ssl_context = ssl_context
        self._pool: httpx.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._pool is None:  # made at first use: a bad CA bundle fails that check only
            self._pool = httpx.AsyncHTTPTransport(verify=self._ssl_context())
        return await self._pool.handle_async_request(request)

    async def aclose(self) -> None:
        """A borrowing client is done; the pool stays open for the other checks."""

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
