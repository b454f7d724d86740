"""``GET /metrics``: Prometheus text from a snapshot of the bot's state. The snapshot is
gathered asynchronously; rendering it is a pure function.

Health figures (readiness per part, the probe's latency, database errors by kind, the
outbox backlog and its oldest message's age, Slack errors by method) come from
``/readyz``'s probe (bot/web/ready.py). While the database is failing the stored counts
are not read (a hung query would hang the scrape) and their families are left out."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from bot.store.counts import StoredCounts, stored_counts
from bot.store.runs import RunStore
from bot.web.readiness import Readiness

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Health:
    readiness: Readiness
    probe_seconds: float
    probes: int
    database_errors: dict[str, int]
    slack_errors: dict[str, int]


@dataclass(frozen=True)
class Snapshot:
    stored: StoredCounts = field(default_factory=lambda: StoredCounts({}, {}, {}, 0, 0.0))
    active_runs: int = 0
    slack_calls: dict[str, dict[str, int]] = field(default_factory=dict)
    progress_updates: dict[str, int] = field(default_factory=dict)
    health: Health | None = None


async def gather(store: RunStore, active_runs: int, slack_calls: dict[str, dict[str, int]],
                 progress_updates: dict[str, int], health: Health | None = None,
                 ) -> Snapshot:  # fmt: skip
    """The snapshot; the stored counts only when the probe found the database answering."""
    database_ok = health is None or health.readiness.parts["database"].state == "ok"
    stored = StoredCounts({}, {}, {}, 0, 0.0)
    if database_ok:
        try:
            stored = await stored_counts(store)
        except Exception as exc:  # the database failed since the probe: scrape the rest
            log.warning("metrics: the stored counts cannot be read: %s", type(exc).__name__)
    return Snapshot(stored, active_runs, slack_calls, progress_updates, health)


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
        yield _counts("preprod_decisions", "Final decisions by outcome", "outcome",
                      stored.decisions_by_outcome)  # fmt: skip
        yield _counts("preprod_production_outcomes", "What happened in production after a GO",
                      "result", stored.production_by_result)  # fmt: skip
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
        yield _counts("preprod_progress_updates", "Coalesced progress-message updates", "kind",
                      s.progress_updates)  # fmt: skip
        if s.health is not None:
            yield from _health(s.health)


def _health(health: Health) -> Iterator[Metric]:
    ready = GaugeMetricFamily("preprod_ready", "1 when the part is ok (see /readyz)",
                              labels=["part"])  # fmt: skip
    for part, found in health.readiness.parts.items():
        ready.add_metric([part], 1 if found.state == "ok" else 0)
    yield ready
    yield GaugeMetricFamily("preprod_ready_probe_seconds", "How long the last database probe took",
                            value=health.probe_seconds)  # fmt: skip
    yield CounterMetricFamily("preprod_ready_probes", "Database probes sent by /readyz",
                              value=health.probes)  # fmt: skip
    yield _counts("preprod_database_errors", "Database errors by kind (statement, connect, probe)",
                  "kind", health.database_errors)  # fmt: skip
    outbox = health.readiness.parts["outbox"].details
    if "backlog" in outbox:
        yield GaugeMetricFamily("preprod_outbox_backlog", "Messages owed to Slack, not sent yet",
                                value=outbox["backlog"])  # fmt: skip
        yield GaugeMetricFamily(
            "preprod_outbox_oldest_seconds",
            "Age of the oldest message owed to Slack (0: none)",
            value=outbox["oldest_seconds"] or 0.0,
        )
    yield _counts("preprod_slack_api_errors",
                  "Failed Web API attempts (5xx, network, ok: false) by method", "method",
                  health.slack_errors)  # fmt: skip


def _counts(name: str, documentation: str, label: str, counts: Mapping[str, int]) -> Metric:
    """A counter with one label, a sample per value, in a stable order."""
    family = CounterMetricFamily(name, documentation, labels=[label])
    for value, count in sorted(counts.items()):
        family.add_metric([value], count)
    return family
