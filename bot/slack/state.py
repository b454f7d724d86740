"""A run as the Slack thread shows it, folded from engine events by a pure reducer.

The publisher keeps one ``RunState`` per run and re-renders it after every event; keeping
the fold pure means a restarted bot can rebuild the same picture from stored results.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal, Protocol, TypeAlias

from bot.engine.events import (
    CheckFinished,
    CheckProgressed,
    CheckStarted,
    Event,
    RunFinished,
    RunStarted,
)
from bot.record.report import RunReport, Verdict
from checks.base import CheckResult, Status

Pending = Literal["pending"]
Running = Literal["running"]
RowState: TypeAlias = Pending | Running | Status
RunPhase = Literal["running", "finished", "cancelled", "failed"]

PENDING: Pending = "pending"
RUNNING: Running = "running"
NOT_SELECTED = "not selected for this run"
"""Equal to ``bot.engine.runner.NOT_SELECTED`` (not imported: rendering needs no engine)."""
_PHASES: tuple[RunPhase, ...] = ("running", "finished", "cancelled", "failed")


class StoredRun(Protocol):
    """What :meth:`RunState.from_run` reads of ``bot.store.models.Run`` (no database import)."""

    @property
    def id(self) -> int | None: ...
    @property
    def service(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def environment(self) -> str: ...
    @property
    def plan(self) -> str: ...
    @property
    def requester(self) -> str: ...
    @property
    def base_url(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


@dataclass(frozen=True)
class CheckRow:
    """One check's line in the thread. ``selected`` is False for plan checks left out
    by ``only=``: they are shown, but not counted in the progress bar."""

    check_id: str
    check_type: str
    critical: bool = True
    selected: bool = True
    state: RowState = PENDING
    summary: str = ""
    progress: str = ""
    figures: Mapping[str, float] = field(default_factory=dict)
    duration_s: float | None = None

    @property
    def is_final(self) -> bool:
        return isinstance(self.state, Status)

    @property
    def is_problem(self) -> bool:
        """Failed or error: worth a thread reply with evidence."""
        return isinstance(self.state, Status) and self.state.is_problem

    @property
    def blocking(self) -> bool:
        """A problem on a critical check: it stops the release unless waived."""
        return self.critical and self.is_problem


@dataclass(frozen=True)
class RunState:
    """Everything the run's messages show. Build the header fields when the run is
    stored, then fold events in with :func:`apply`."""

    run_id: int
    service: str
    version: str
    environment: str
    plan: str
    requester: str
    base_url: str
    started_at: datetime
    report_url: str | None = None
    status: RunPhase = "running"
    rows: tuple[CheckRow, ...] = ()
    finished_at: datetime | None = None
    origin: Mapping[str, str] | None = None
    """A pipeline's request: kind, url, triggered_by, name (user text)."""
    commit: str | None = None
    keep_going: bool = False
    """Every stage runs even after a blocking failure (stored with the run)."""

    @classmethod
    def from_run(cls, run: StoredRun, report_url: str | None = None) -> RunState:
        """The state of a run just stored by ``Engine.start``, before its first event."""
        if run.id is None:
            raise ValueError("the run has no id yet: store it first")
        return cls(
            run_id=run.id,
            service=run.service,
            version=run.version,
            environment=run.environment,
            plan=run.plan,
            requester=run.requester,
            base_url=run.base_url,
            started_at=run.created_at,
            report_url=report_url,
            origin=getattr(run, "origin", None),
            commit=getattr(run, "origin_commit", None),
            keep_going=getattr(run, "keep_going", False),
        )

    @classmethod
    def from_report(cls, report: RunReport, report_url: str | None = None) -> RunState:
        """The state of a stored run (``/preprod status`` after a restart, or a rerun)."""
        base = cls(
            run_id=report.run_id,
            service=report.service,
            version=report.version,
            environment=report.environment,
            plan=report.plan,
            requester=report.requester,
            base_url=report.base_url,
            started_at=report.started_at,
            report_url=report_url,
            keep_going=report.keep_going,
        )
        rows = tuple(
            _finished_row(CheckRow(r.check_id, r.check_type, r.critical), r) for r in report.results
        )
        return _finish(replace(base, rows=rows), report)

    def row(self, check_id: str) -> CheckRow | None:
        return next((row for row in self.rows if row.check_id == check_id), None)

    @property
    def selected(self) -> tuple[CheckRow, ...]:
        return tuple(row for row in self.rows if row.selected)

    @property
    def total(self) -> int:
        """Checks this run executes (the bar's denominator)."""
        return len(self.selected)

    @property
    def done(self) -> int:
        return sum(1 for row in self.selected if row.is_final)

    @property
    def failures(self) -> tuple[CheckRow, ...]:
        return tuple(row for row in self.rows if row.is_problem)

    @property
    def blocking_failures(self) -> tuple[CheckRow, ...]:
        return tuple(row for row in self.rows if row.blocking)

    @property
    def counts(self) -> dict[str, int]:
        """Selected rows per state, every state present (zero when none)."""
        counted = Counter(str(row.state) for row in self.selected)
        keys = [PENDING, RUNNING, *(status.value for status in Status)]
        return {key: counted.get(key, 0) for key in keys}

    @property
    def verdict(self) -> Verdict:
        """Same rule as ``RunReport.verdict``, usable while the run is still going."""
        if self.blocking_failures:
            return Verdict.FAIL
        if self.status != "finished" or self.done < self.total:
            return Verdict.INCOMPLETE
        return Verdict.PASS


def apply(state: RunState, event: Event) -> RunState:
    """Fold one engine event into the state. Events of another run, for unknown checks
    or arriving after a check's result are ignored, so replays are harmless."""
    if event.run_id != state.run_id:
        return state
    if isinstance(event, RunStarted):
        # A re-run selects some checks: the others keep the result they already have.
        kept = {row.check_id: row for row in state.rows if row.is_final}
        rows = tuple(
            CheckRow(c.check_id, c.check_type, c.critical, selected=c.selected)
            if c.selected
            else kept.get(c.check_id)
            or CheckRow(
                c.check_id,
                c.check_type,
                c.critical,
                selected=False,
                state=Status.SKIPPED,
                summary=NOT_SELECTED,
            )
            for c in event.checks
        )
        return replace(state, rows=rows, status="running", finished_at=None)
    if isinstance(event, CheckStarted):
        return _update(state, event.check_id, lambda row: replace(row, state=RUNNING))
    if isinstance(event, CheckProgressed):
        progress = event.progress
        return _update(
            state,
            progress.check_id,
            lambda row: replace(
                row, state=RUNNING, progress=progress.message, figures=dict(progress.figures)
            ),
        )
    if isinstance(event, CheckFinished):
        result = event.result
        if state.row(result.check_id) is None:  # a rerun of a check we never saw
            new = CheckRow(result.check_id, result.check_type, result.critical)
            state = replace(state, rows=(*state.rows, new))
        rows = tuple(
            _finished_row(row, result) if row.check_id == result.check_id else row
            for row in state.rows
        )
        return replace(state, rows=rows)
    if isinstance(event, RunFinished):
        return _finish(state, event.report)
    return state


def mark_cancelled(state: RunState, at: datetime | None = None) -> RunState:
    """The engine emits no RunFinished when cancelled: the publisher calls this instead."""
    return replace(state, status="cancelled", finished_at=at or state.finished_at)


def _update(state: RunState, check_id: str, change: Callable[[CheckRow], CheckRow]) -> RunState:
    """Apply ``change`` to a row that has not finished yet."""
    rows = tuple(
        change(row) if row.check_id == check_id and not row.is_final else row for row in state.rows
    )
    return replace(state, rows=rows)


def _finished_row(row: CheckRow, result: CheckResult) -> CheckRow:
    selected = row.selected and result.summary != NOT_SELECTED
    return replace(
        row,
        check_type=result.check_type or row.check_type,
        critical=result.critical,
        selected=selected,
        state=result.status,
        summary=result.summary,
        progress="",
        figures=dict(result.metrics) or row.figures,
        duration_s=result.duration_s,
    )


def _finish(state: RunState, report: RunReport) -> RunState:
    """Report results win over what the events said: the report is what was stored."""
    by_id = {result.check_id: result for result in report.results}
    rows = tuple(
        _finished_row(row, by_id[row.check_id]) if row.check_id in by_id else row
        for row in state.rows
    )
    phase: RunPhase = next((p for p in _PHASES if p == report.status), "finished")
    return replace(state, rows=rows, status=phase, finished_at=report.finished_at)
