"""Request statistics from Locust's response-time histograms: the final figures (from
Locust's JSON output) and the windows the profiles compare (from the timeline the
generated locustfile writes every second). Pure: numbers in, numbers out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Window:
    """Requests over a span of time, with Locust's (rounded) response-time histogram."""

    requests: int = 0
    failures: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0
    hist: dict[int, int] = field(default_factory=dict)
    start: float | None = None
    end: float | None = None
    users: int = 0

    def add(self, other: Window) -> None:
        self.requests += other.requests
        self.failures += other.failures
        self.total_ms += other.total_ms
        self.max_ms = max(self.max_ms, other.max_ms)
        for rt, count in other.hist.items():
            self.hist[rt] = self.hist.get(rt, 0) + count
        if other.start is not None:
            self.start = other.start if self.start is None else min(self.start, other.start)
        if other.end is not None:
            self.end = other.end if self.end is None else max(self.end, other.end)
        self.users = max(self.users, other.users)

    @property
    def seconds(self) -> float:
        if self.start is None or self.end is None:
            return 0.0
        return max(self.end - self.start, 0.0)

    def percentile(self, fraction: float) -> float:
        """Like Locust's: the smallest response time with at least ``fraction`` of the
        requests at or below it."""
        total = sum(self.hist.values())
        if total == 0:
            return 0.0
        wanted = total * fraction
        seen = 0
        for rt in sorted(self.hist):
            seen += self.hist[rt]
            if seen >= wanted:
                return float(rt)
        return float(max(self.hist))

    @property
    def avg_ms(self) -> float:
        counted = sum(self.hist.values())
        return self.total_ms / counted if counted else 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def error_rate_pct(self) -> float:
        return 100.0 * self.failures / self.requests if self.requests else 0.0

    def figures(self) -> dict[str, float]:
        """The metrics thresholds read: ``p95_ms``, ``error_rate_pct``, ``rps``..."""
        return {
            "rps": round(self.rps, 2),
            "p50_ms": self.percentile(0.50),
            "p90_ms": self.percentile(0.90),
            "p95_ms": self.percentile(0.95),
            "p99_ms": self.percentile(0.99),
            "avg_ms": round(self.avg_ms, 1),
            "max_ms": round(float(self.max_ms), 1),
            "error_rate_pct": round(self.error_rate_pct, 2),
            "requests": float(self.requests),
            "failures": float(self.failures),
        }


def _hist(raw: Mapping[Any, Any] | None) -> dict[int, int]:
    return {int(float(k)): int(v) for k, v in (raw or {}).items()}


def window_from_entry(entry: Mapping[str, Any]) -> Window:
    """A Window from one entry of Locust's ``--json-file`` output."""
    start = entry.get("start_time")
    last = entry.get("last_request_timestamp")
    return Window(
        requests=int(entry.get("num_requests") or 0),
        failures=int(entry.get("num_failures") or 0),
        total_ms=float(entry.get("total_response_time") or 0.0),
        max_ms=float(entry.get("max_response_time") or 0.0),
        hist=_hist(entry.get("response_times")),
        start=float(start) if start is not None else None,
        end=float(last) if last is not None else None,
    )


@dataclass
class FinalStats:
    """Locust's final statistics: the whole test and each task (by stats name)."""

    total: Window
    tasks: dict[str, Window]
    methods: dict[str, str]


def final_stats(entries: Iterable[Mapping[str, Any]]) -> FinalStats:
    total = Window()
    tasks: dict[str, Window] = {}
    methods: dict[str, str] = {}
    for entry in entries:
        window = window_from_entry(entry)
        name = str(entry.get("name", ""))
        if name in tasks:  # same name, different methods: one task figure
            tasks[name].add(window)
        else:
            tasks[name] = window
            methods[name] = str(entry.get("method") or "")
        total.add(window)
    return FinalStats(total, tasks, methods)


@dataclass
class Sample:
    """One line of the timeline: what happened during the last interval."""

    t: float
    users: int
    total: Window
    tasks: dict[str, Window]


def parse_sample(data: Mapping[str, Any]) -> Sample:
    t = float(data["t"])
    span = float(data.get("dt") or 1.0)

    def window(raw: Mapping[str, Any]) -> Window:
        return Window(
            requests=int(raw.get("n", 0)),
            failures=int(raw.get("f", 0)),
            total_ms=float(raw.get("sum", 0.0)),
            max_ms=float(max(_hist(raw.get("h")) or [0])),
            hist=_hist(raw.get("h")),
            start=t - span,
            end=t,
            users=int(data.get("users", 0)),
        )

    tasks = {str(name): window(raw) for name, raw in (data.get("tasks") or {}).items()}
    return Sample(t=t, users=int(data.get("users", 0)), total=window(data["total"]), tasks=tasks)


def merge(samples: Iterable[Sample]) -> Window:
    out = Window()
    for sample in samples:
        out.add(sample.total)
    return out


def merge_task(samples: Iterable[Sample], name: str) -> Window:
    out = Window()
    for sample in samples:
        if name in sample.tasks:
            out.add(sample.tasks[name])
    return out
