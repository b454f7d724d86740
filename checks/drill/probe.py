"""The probe: a steady stream of requests while a drill runs, and what it measured.

Requests are started on a fixed schedule (``rate`` a second), each on its own, so a hung
request does not slow the stream down: the failed requests, the longest outage and the
latency are what users would have seen. Figures are computed by pure functions."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from checks._http import transport_reason

MAX_IN_FLIGHT = 100
MAX_SAMPLES = 100_000


@dataclass(frozen=True)
class Sample:
    at: float
    """Seconds since the probe started, when the request was sent."""
    ok: bool
    latency_ms: float
    outcome: str
    """``200``, ``503`` or a transport reason."""


class Prober:
    """Send ``GET path`` ``rate`` times a second until :meth:`stop`."""

    def __init__(
        self, client: httpx.AsyncClient, path: str, rate: float, statuses: Sequence[int]
    ) -> None:
        self.client = client
        self.path = path
        self.interval = 1.0 / rate
        self.statuses = frozenset(statuses)
        self.samples: list[Sample] = []
        self._stopped = asyncio.Event()
        self._started = 0.0

    async def run(self) -> None:
        self._started = time.monotonic()
        pending: set[asyncio.Task[None]] = set()
        tick = 0
        try:
            while not self._stopped.is_set() and len(self.samples) < MAX_SAMPLES:
                if len(pending) < MAX_IN_FLIGHT:
                    task = asyncio.create_task(self._one())
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                tick += 1
                delay = self._started + tick * self.interval - time.monotonic()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopped.wait(), delay)
            if pending:
                await asyncio.wait(pending)
        finally:
            for task in pending:
                task.cancel()

    def stop(self) -> None:
        self._stopped.set()

    async def _one(self) -> None:
        sent = time.monotonic()
        try:
            response = await self.client.get(self.path)
            ok, outcome = response.status_code in self.statuses, str(response.status_code)
        except httpx.HTTPError as exc:
            ok, outcome = False, transport_reason(exc)
        done = time.monotonic()
        self.samples.append(Sample(sent - self._started, ok, (done - sent) * 1000.0, outcome))


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def longest_outage_ms(samples: Sequence[Sample], interval: float) -> float:
    """The longest time users saw only failures: from the first failed request of a run of
    failures to the first success after it (or one interval past the last failure when
    none followed). 0 when nothing failed."""
    ordered = sorted(samples, key=lambda s: s.at)
    longest = 0.0
    began: float | None = None
    last_failure = 0.0
    for sample in ordered:
        if not sample.ok:
            began = sample.at if began is None else began
            last_failure = sample.at
        elif began is not None:
            longest = max(longest, sample.at - began)
            began = None
    if began is not None:
        longest = max(longest, last_failure + interval - began)
    return longest * 1000.0


def figures(samples: Sequence[Sample], interval: float) -> dict[str, float]:
    """The probe's metrics, under the keys its thresholds read."""
    errors = sum(1 for s in samples if not s.ok)
    latencies = [s.latency_ms for s in samples if s.ok]
    out = {
        "probe_requests": float(len(samples)),
        "probe_errors": float(errors),
        "probe_error_rate_pct": 100.0 * errors / len(samples) if samples else 0.0,
        "max_outage_ms": longest_outage_ms(samples, interval),
    }
    for name, pct in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100)):
        out[f"probe_{name}_ms"] = percentile(latencies, pct)
    return out


def failures_digest(samples: Sequence[Sample], limit: int = 5) -> list[str]:
    """Evidence lines: how many of each failure, and when the first few happened."""
    failed = [s for s in samples if not s.ok]
    counts: dict[str, int] = {}
    for sample in failed:
        counts[sample.outcome] = counts.get(sample.outcome, 0) + 1
    lines = [f"{count} x {outcome}" for outcome, count in counts.items()]
    lines += [f"at +{s.at:.2f}s: {s.outcome}" for s in failed[:limit]]
    return lines
