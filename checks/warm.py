"""Load, before a process serves anyone, what the first run of its plans would load.

A run's first check imported its kind's module, the HTTP client's connection stack
(httpcore's async pool, anyio's backend, certifi) and built its environment's TLS
context, all on the event loop that answers Slack: in ``preprod serve``, the first
``/preprod start`` after a deploy held the acks of everyone else for 50-70 ms
(bench/ack_latency.py: the six slowest acks of a 10 s phase were its first 170 ms).
Loaded at start-up instead, it is also settled out of the collector's view with the
rest of the start-up heap (bot/engine/heap.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import suppress
from importlib import import_module
from pathlib import Path

from checks.context import verifying_context
from checks.registry import UnknownCheckType, get_check_type

log = logging.getLogger(__name__)

HTTP_STACK = ("httpx", "httpcore._async", "httpcore._backends.anyio",
              "anyio._backends._asyncio", "certifi")  # fmt: skip
"""What the first request of a run imports (its connection pool, its async backend)."""


def load_for_runs(kinds: Iterable[str], ca_bundles: Iterable[Path | None]) -> list[str]:
    """Import each kind's implementation and the HTTP stack, and build each CA bundle's
    TLS context (cached: checks/context.py). Whatever fails is left for the run to
    report, as it would have without this; returns what failed, for the log."""
    failed = []
    for kind in sorted(set(kinds)):
        try:
            get_check_type(kind)
        except UnknownCheckType:
            failed.append(f"check type {kind!r}")
    for module in HTTP_STACK:
        with suppress(ImportError):  # another version of a library: its first run loads it
            import_module(module)
    for bundle in set(ca_bundles):  # None: the system's store
        try:
            verifying_context(bundle)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            failed.append(f"CA bundle {bundle} ({exc})")
    return failed
