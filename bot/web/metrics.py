"""``GET /metrics``: Prometheus text from a snapshot of the bot's state. The snapshot is
gathered asynchronously; rendering it is a pure function."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from bot.store.counts import StoredCounts, stored_counts
from bot.store.runs import RunStore


@dataclass(frozen=True)
class Snapshot:
    stored: StoredCounts = field(default_factory=lambda: StoredCounts({}, {}, {}, 0, 0.0))
    active_runs: int = 0
    slack_calls: dict[str, dict[str, int]] = field(default_factory=dict)
    progress_updates: dict[str, int] = field(default_factory=dict)


async def gather(store: RunStore, active_runs: int, slack_calls: dict[str, dict[str, int]],
                 progress_updates: dict[str, int]) -> Snapshot:  # fmt: skip
    return Snapshot(await stored_counts(store), active_runs, slack_calls, progress_updates)


def render(snapshot: Snapshot) -> bytes:
    registry = CollectorRegistry()
    registry.register(_SnapshotCollector(snapshot))
    return generate_latest(registry)


class _SnapshotCollector(Collector):
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        s, stored = self.snapshot, self.snapshot.stored
        runs = GaugeMetricFamily("preprod_runs", "Stored runs by status", labels=["status"])
        for status, count in sorted(stored.runs_by_status.items()):
            runs.add_metric([status], count)
        yield runs
        yield GaugeMetricFamily("preprod_active_runs", "Runs executing in this process",
                                value=s.active_runs)  # fmt: skip
        decisions = CounterMetricFamily(
            "preprod_decisions", "Final decisions by outcome", labels=["outcome"]
        )
        for outcome, count in sorted(stored.decisions_by_outcome.items()):
            decisions.add_metric([outcome], count)
        yield decisions
        production = CounterMetricFamily(
            "preprod_production_outcomes", "What happened in production after a GO",
            labels=["result"],
        )  # fmt: skip
        for result, count in sorted(stored.production_by_result.items()):
            production.add_metric([result], count)
        yield production
        cycle = SummaryMetricFamily(
            "preprod_decision_cycle_seconds", "Time from a run's start to its decision"
        )
        cycle.add_metric([], count_value=stored.cycles, sum_value=stored.cycle_seconds)
        yield cycle
        calls = CounterMetricFamily(
            "preprod_slack_api", "Slack Web API calls by method and kind", labels=["method", "kind"]
        )
        for method, kinds in sorted(s.slack_calls.items()):
            for kind, count in sorted(kinds.items()):
                calls.add_metric([method, kind], count)
        yield calls
        updates = CounterMetricFamily(
            "preprod_progress_updates", "Coalesced progress-message updates", labels=["kind"]
        )
        for kind, count in sorted(s.progress_updates.items()):
            updates.add_metric([kind], count)
        yield updates
