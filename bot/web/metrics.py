"""``GET /metrics``: Prometheus text from a snapshot of the bot's state. The snapshot is
gathered asynchronously; rendering it is a pure function."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlmodel import Session, select

from bot.store.models import DecisionRecord, ProductionOutcome, Run, as_utc
from bot.store.runs import RunStore


@dataclass(frozen=True)
class Snapshot:
    runs_by_status: dict[str, int] = field(default_factory=dict)
    decisions_by_outcome: dict[str, int] = field(default_factory=dict)
    production_by_result: dict[str, int] = field(default_factory=dict)
    cycle_seconds: tuple[float, ...] = ()
    active_runs: int = 0
    slack_calls: dict[str, dict[str, int]] = field(default_factory=dict)
    progress_updates: dict[str, int] = field(default_factory=dict)


async def gather(store: RunStore, active_runs: int, slack_calls: dict[str, dict[str, int]],
                 progress_updates: dict[str, int]) -> Snapshot:  # fmt: skip
    def work(session: Session) -> Snapshot:
        runs = {run.id: run for run in session.exec(select(Run))}
        decisions = list(session.exec(select(DecisionRecord)))
        cycles = tuple(
            (as_utc(d.at) - as_utc(runs[d.run_id].created_at)).total_seconds()
            for d in decisions
            if d.run_id in runs
        )
        return Snapshot(
            runs_by_status=dict(Counter(run.status.value for run in runs.values())),
            decisions_by_outcome=dict(Counter(d.outcome for d in decisions)),
            production_by_result=dict(
                Counter(o.result for o in session.exec(select(ProductionOutcome)))
            ),
            cycle_seconds=cycles,
            active_runs=active_runs,
            slack_calls=slack_calls,
            progress_updates=progress_updates,
        )

    return await store.call(work)


def render(snapshot: Snapshot) -> bytes:
    registry = CollectorRegistry()
    registry.register(_SnapshotCollector(snapshot))
    return generate_latest(registry)


class _SnapshotCollector(Collector):
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot
        runs = GaugeMetricFamily("preprod_runs", "Stored runs by status", labels=["status"])
        for status, count in sorted(s.runs_by_status.items()):
            runs.add_metric([status], count)
        yield runs
        yield GaugeMetricFamily("preprod_active_runs", "Runs executing in this process",
                                value=s.active_runs)  # fmt: skip
        decisions = CounterMetricFamily(
            "preprod_decisions", "Final decisions by outcome", labels=["outcome"]
        )
        for outcome, count in sorted(s.decisions_by_outcome.items()):
            decisions.add_metric([outcome], count)
        yield decisions
        production = CounterMetricFamily(
            "preprod_production_outcomes", "What happened in production after a GO",
            labels=["result"],
        )  # fmt: skip
        for result, count in sorted(s.production_by_result.items()):
            production.add_metric([result], count)
        yield production
        cycle = SummaryMetricFamily(
            "preprod_decision_cycle_seconds", "Time from a run's start to its decision"
        )
        cycle.add_metric([], count_value=len(s.cycle_seconds), sum_value=sum(s.cycle_seconds))
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
