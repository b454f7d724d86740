"""What a check sees of the world: the target environment, the run, a way to report progress."""

from __future__ import annotations

import functools
import importlib.util
import os
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from checks.redact import Redactor
from checks.regression import BaselineSource

CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key"})


@dataclass(frozen=True)
class Target:
    """The environment under test, as the config describes it (secrets already resolved)."""

    name: str
    base_url: str
    production_url: str | None = None
    previous_version: str | None = None
    """The version running before this release (what a rollback returns to)."""
    headers: dict[str, str] = field(default_factory=dict)
    ca_bundle: Path | None = None

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying context that trusts the environment's CA bundle (or the system's)."""
        return verifying_context(self.ca_bundle)

    def url(self, path: str) -> str:
        return str(httpx.URL(self.base_url).join(path))


def verifying_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """A verifying TLS context trusting ``ca_bundle`` (else the system's store), built once
    per bundle and shared by every client: loading a trust store took 10 to 130 ms, and
    every check paid it (bench/engine.py). A bundle replaced on disk (its size or
    modification time changed) gets a new context."""
    # The system's store is where SSL_CERT_FILE / SSL_CERT_DIR say (read by ssl when the
    # context is made): they are part of the key, as the bundle's own stamp is.
    system = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    if ca_bundle is None:
        return _context(None, 0, 0, system)
    try:
        found = ca_bundle.stat()
    except OSError:  # let ssl say what is wrong with the file
        return ssl.create_default_context(cafile=str(ca_bundle))
    return _context(str(ca_bundle), found.st_mtime_ns, found.st_size, system)


@functools.lru_cache(maxsize=32)
def _context(
    cafile: str | None, mtime_ns: int, size: int, system: tuple[str | None, str | None]
) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cafile)


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
    A client closing it does nothing; whoever made it calls :meth:`close`."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self._pool: httpx.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._pool is None:  # made at first use: a bad CA bundle fails that check only
            self._pool = httpx.AsyncHTTPTransport(verify=self._target.ssl_context())
        return await self._pool.handle_async_request(request)

    async def aclose(self) -> None:
        """A borrowing client is done; the pool stays open for the other checks."""

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()


@dataclass(frozen=True)
class RunInfo:
    run_id: int
    service: str
    version: str
    environment: str
    plan: str


@dataclass(frozen=True)
class ProgressEvent:
    """A check's live figures (``rps``, ``p95_ms``, ...) and a line of text."""

    check_id: str
    message: str
    figures: dict[str, float] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class CheckContext:
    target: Target
    run: RunInfo
    check_id: str
    redactor: Redactor = field(default_factory=Redactor)
    workdir: Path = field(default_factory=lambda: Path(".preprod") / "work")
    on_progress: Callable[[ProgressEvent], None] = lambda event: None
    baselines: BaselineSource | None = None
    """Finds a check's baseline run (``compare_to``); the engine gives the store's."""
    transport: SharedTransport | None = None
    """The run's pool for the target (the engine's); None: each client has its own."""

    def progress(self, message: str, **figures: float) -> None:
        self.on_progress(ProgressEvent(self.check_id, self.redact(message), dict(figures)))

    def redact(self, text: str) -> str:
        return self.redactor(text)

    def http_client(
        self,
        *,
        with_credentials: bool = True,
        timeout: float = 10.0,
        follow_redirects: bool = False,
        **kwargs: Any,
    ) -> httpx.AsyncClient:
        """An HTTP client for the target: its base URL, its CA bundle and, unless told
        otherwise, its configured headers (credentials included). Without transport
        options of its own it borrows the run's pool (``transport``)."""
        headers = dict(self.target.headers)
        if not with_credentials:
            headers = {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS}
        if self.transport is not None and not kwargs:
            kwargs = {"transport": self.transport}
        return httpx.AsyncClient(
            base_url=self.target.base_url,
            headers=headers,
            verify=self.target.ssl_context(),
            timeout=timeout,
            follow_redirects=follow_redirects,
            **kwargs,
        )
