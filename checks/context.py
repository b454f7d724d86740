"""What a check sees of the world: the target environment, the run, a way to report progress."""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checks.redact import Redactor
from checks.regression import BaselineSource

if TYPE_CHECKING:
    import httpx

    from checks.transport import SharedTransport

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
        import httpx  # at use: loading a config never needs the HTTP client

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


@functools.lru_cache(maxsize=32)
def _parsed(base_url: str) -> httpx.URL:
    """The base URL parsed once, not by every client a check makes: httpx checks each
    character and an IP address octet by octet, a fifth of what making a client cost."""
    import httpx

    return httpx.URL(base_url)


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
        import httpx  # at use: loading a config never needs the HTTP client

        from checks.transport import remember_missing_sniffio

        remember_missing_sniffio()  # once: a missing sniffio is then recorded as absent
        headers = dict(self.target.headers)
        if not with_credentials:
            headers = {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS}
        if self.transport is not None and not kwargs:
            kwargs = {"transport": self.transport}
        return httpx.AsyncClient(
            base_url=_parsed(self.target.base_url),
            headers=headers,
            verify=self.target.ssl_context(),
            timeout=timeout,
            follow_redirects=follow_redirects,
            **kwargs,
        )
