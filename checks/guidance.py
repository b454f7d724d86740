"""One line on what to look at, for a broken load threshold or a regression, computed from
the run's own figures (never generic advice): a tail far above the p95 names the slowest
endpoints; errors that appear only at the higher user counts point at pools and limits;
throughput short while latency stayed flat points away from the service's speed. Pure.

Returns None when the figures show no pattern: no line is better than filler."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

TAIL_RATIO = 2.0
"""p99 at least this many times p95 counts as a tail problem."""


@dataclass(frozen=True)
class RunFigures:
    """What guidance reads: the whole run, each endpoint, and requests/failures by the
    number of users active when they ran (from the per-second timeline)."""

    total: Mapping[str, float]
    tasks: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    by_users: Mapping[int, tuple[int, int]] = field(default_factory=dict)
    baseline: Mapping[str, float] = field(default_factory=dict)
    """The baseline's figures (p50_ms, p95_ms...) when compared with one."""


def _slowest(tasks: Mapping[str, Mapping[str, float]], key: str, n: int = 3) -> str:
    """The slowest endpoints, when there is more than one to tell apart."""
    if len(tasks) < 2:
        return ""
    ranked = sorted(tasks.items(), key=lambda kv: -kv[1].get(key, 0.0))[:n]
    return ", ".join(f"{name} ({figures.get(key, 0.0):.0f} ms)" for name, figures in ranked)


def _failing(tasks: Mapping[str, Mapping[str, float]], n: int = 3) -> str:
    ranked = sorted(
        ((name, f) for name, f in tasks.items() if f.get("failures", 0) > 0),
        key=lambda kv: -kv[1].get("failures", 0.0),
    )[:n]
    return ", ".join(
        f"{name} ({f.get('failures', 0):.0f} of {f.get('requests', 0):.0f})" for name, f in ranked
    )


def latency(figures: RunFigures) -> str | None:
    """For a latency threshold or regression."""
    t = figures.total
    p50, p95, p99 = t.get("p50_ms", 0.0), t.get("p95_ms", 0.0), t.get("p99_ms", 0.0)
    if p95 > 0 and p99 >= TAIL_RATIO * p95:
        where = _slowest(figures.tasks, "p99_ms")
        line = f"tail latency: p99 {p99:.0f} ms is {p99 / p95:.1f}x p95"
        return f"{line}; slowest endpoints by p99: {where}" if where else line
    base50, base95 = figures.baseline.get("p50_ms", 0.0), figures.baseline.get("p95_ms", 0.0)
    if base50 > 0 and base95 > 0:
        rise50, rise95 = (p50 / base50 - 1) * 100, (p95 / base95 - 1) * 100
        where = _slowest(figures.tasks, "p95_ms")
        if rise50 >= 0.5 * rise95 > 0:
            line = (
                f"the whole distribution moved (p50 {rise50:+.0f}%, p95 {rise95:+.0f}%): "
                "every request pays it, so look at what they all share (code path, "
                "dependency, host)"
            )
        elif rise95 > 0:
            line = (
                f"p95 rose {rise95:+.0f}% but p50 only {rise50:+.0f}%: a slower subset of requests"
            )
        else:
            return None
        return f"{line}; slowest endpoints by p95: {where}" if where else line
    if len(figures.tasks) > 1:
        return f"slowest endpoints by p95: {_slowest(figures.tasks, 'p95_ms')}"
    return None


def errors(figures: RunFigures) -> str | None:
    """For an error-rate threshold or regression."""
    loads = sorted(u for u, (n, _) in figures.by_users.items() if n > 0)
    where = _failing(figures.tasks)
    suffix = f"; failing endpoints: {where}" if where else ""
    if len(loads) >= 2:
        clean = [u for u in loads if figures.by_users[u][1] == 0]
        failing = [u for u in loads if figures.by_users[u][1] > 0]
        if clean and failing and min(failing) > max(clean):
            return (
                f"errors only under load: none up to {max(clean)} users, from "
                f"{min(failing)} users on: look at connection pools and rate limits{suffix}"
            )
    if where:
        return f"failing endpoints: {where}"
    return None


def throughput(figures: RunFigures) -> str | None:
    """For a throughput threshold or regression."""
    t = figures.total
    p95, base95 = t.get("p95_ms", 0.0), figures.baseline.get("p95_ms", 0.0)
    if base95 > 0:
        rise = (p95 / base95 - 1) * 100
        if rise > 5:
            return f"throughput fell because responses slowed (p95 {rise:+.0f}%)"
        return (
            f"throughput fell while p95 held ({rise:+.0f}%): fewer requests were sent, "
            "look at the load generator's users and wait time or a connection limit"
        )
    if t.get("error_rate_pct", 0.0) > 0:
        return f"{t['error_rate_pct']:.1f}% of requests failed: failing requests lower it"
    return None


def for_metric(metric: str, figures: RunFigures) -> str | None:
    """The line for a threshold or regression on ``metric`` (p95, error_rate, rps...)."""
    if metric == "error_rate":
        return errors(figures)
    if metric == "rps":
        return throughput(figures)
    return latency(figures)
