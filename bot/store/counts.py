"""What ``/metrics`` reports of the stored runs: a scrape every few seconds must not read
every run and decision (a million runs took a second and more), so the figures are the
few ``insighttotal`` rows that bot/store/facts.py keeps as it keeps the insight rollups,
following the audit trail (caught up first, as an insights read is)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlmodel import Session, col, select

from bot.store.insights import catch_up
from bot.store.models import InsightTotal
from bot.store.runs import RunStore


@dataclass(frozen=True)
class StoredCounts:
    runs_by_status: dict[str, int]
    decisions_by_outcome: dict[str, int]
    production_by_result: dict[str, int]
    cycles: int
    """Decided runs (the count of the decision cycle summary)."""
    cycle_seconds: float
    """Seconds from start to decision, summed over the decided runs."""


def counts_of(rows: list[tuple[str, int, float]]) -> StoredCounts:
    """``insighttotal`` rows (``runs:finished``, ``decisions:go``, ``production:success``)
    as the figures."""
    groups: dict[str, dict[str, int]] = defaultdict(dict)
    seconds = 0.0
    for name, count, summed in rows:
        group, _, key = name.partition(":")
        if count:
            groups[group][key] = count
        if group == "decisions":
            seconds += summed
    decisions = groups["decisions"]
    return StoredCounts(
        runs_by_status=groups["runs"],
        decisions_by_outcome=decisions,
        production_by_result=groups["production"],
        cycles=sum(decisions.values()),
        cycle_seconds=seconds,
    )


async def stored_counts(store: RunStore) -> StoredCounts:
    def work(session: Session) -> StoredCounts:
        query = select(col(InsightTotal.name), col(InsightTotal.count), col(InsightTotal.seconds))
        return counts_of([(name, count, seconds) for name, count, seconds in session.exec(query)])

    await catch_up(store)  # what was written since the last beat counts too
    return await store.call(work)
