"""Terminal output for ``preprod check``: a live table on a terminal, plain lines in CI logs.

Everything a target, a check or a person wrote (ids, summaries, progress, evidence,
attestation texts) is printed through :func:`~bot.cli.common.plain` / ``printable``:
escaped, and never read as Rich markup."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from bot.cli.common import plain
from bot.cli.safe_text import printable
from bot.engine.events import (
    CheckFinished,
    CheckProgressed,
    CheckStarted,
    Event,
    RunFinished,
    RunStarted,
)
from bot.record.report import RunReport, Verdict
from bot.reports import figures
from checks.base import CheckResult, Status
from checks.units import format_duration

STYLE = {
    "pending": ("·", "dim"),
    "running": ("…", "cyan"),
    Status.PASSED: ("✓", "green"),
    Status.WARNED: ("!", "yellow"),
    Status.FAILED: ("✗", "red"),
    Status.ERROR: ("⚠", "bold red"),
    Status.SKIPPED: ("-", "dim"),
}
PLAIN_PROGRESS_EVERY = 5.0


def style_of(state: str) -> tuple[str, str]:
    """Symbol and colour; a status added later (or by a plug-in) still prints."""
    return STYLE.get(state, ("?", "bold red"))


HEADLINE_FIGURES = 3


@dataclass
class _Row:
    check_id: str
    check_type: str
    state: str = "pending"
    detail: str = ""
    started: float | None = None
    elapsed: float | None = None


@dataclass
class TerminalProgress:
    """Listens to engine events and shows them; never touches the engine's state."""

    console: Console
    rows: dict[str, _Row] = field(default_factory=dict)
    live: Live | None = None
    _last_plain: dict[str, float] = field(default_factory=dict)

    @property
    def interactive(self) -> bool:
        return self.console.is_terminal

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.rows = {c.check_id: _Row(c.check_id, c.check_type) for c in event.checks}
            if self.interactive:
                self.live = Live(self._table(), console=self.console, refresh_per_second=4)
                self.live.start()
        elif isinstance(event, CheckStarted):
            row = self.rows[event.check_id]
            row.state, row.started = "running", time.monotonic()
            self._plain(f"▶ {event.check_id} started")
        elif isinstance(event, CheckProgressed):
            self.rows[event.progress.check_id].detail = event.progress.message
            self._plain_progress(event.progress.check_id, event.progress.message)
        elif isinstance(event, CheckFinished):
            self._finished(event.result)
        elif isinstance(event, RunFinished):
            self.stop()
        if self.live is not None:
            self.live.update(self._table())

    def stop(self) -> None:
        if self.live is not None:
            self.live.update(self._table())
            self.live.stop()
            self.live = None

    def _finished(self, result: CheckResult) -> None:
        row = self.rows[result.check_id]
        row.state, row.detail, row.elapsed = result.status, result.summary, result.duration_s
        if result.status is not Status.SKIPPED:
            symbol, _ = style_of(result.status)
            took = format_duration(result.duration_s)
            self._plain(
                f"{symbol} {result.check_id} {result.status.value} ({took}): {result.summary}"
            )

    def _plain(self, line: str) -> None:
        if not self.interactive:
            self.console.print(printable(line), markup=False, highlight=False)

    def _plain_progress(self, check_id: str, message: str) -> None:
        now = time.monotonic()
        if now - self._last_plain.get(check_id, 0.0) >= PLAIN_PROGRESS_EVERY:
            self._last_plain[check_id] = now
            self._plain(f"  {check_id}: {message}")

    def _table(self) -> RenderableType:
        table = Table(box=None, show_header=False, pad_edge=False)
        for _ in range(4):
            table.add_column()
        done = 0
        for row in self.rows.values():
            symbol, style = STYLE.get(row.state, ("?", ""))
            if row.state not in ("pending", "running"):
                done += 1
            elapsed = row.elapsed
            if elapsed is None and row.started is not None:
                elapsed = time.monotonic() - row.started
            took = format_duration(elapsed) if elapsed is not None else ""
            table.add_row(
                Text(symbol, style=style),
                plain(row.check_id, "bold"),
                Text(took, style="dim"),
                Text(printable(row.detail), overflow="ellipsis", no_wrap=True),
            )
        header = Text(f"{done}/{len(self.rows)} checks done", style="dim")
        return Group(header, table)


def summary_table(report: RunReport) -> Table:
    """One row per check; under each summary, its headline figures with their units."""
    table = Table(title=plain(f"{report.service} {report.version} on {report.environment}"))
    for name in ("", "check", "type", "status", "time", "summary"):
        table.add_column(name, overflow="fold")
    for result in report.results:
        symbol, style = style_of(result.status)
        status = result.status.value + ("" if result.critical else " (non-blocking)")
        summary = plain(result.summary)
        if note := report.quarantines.get(result.check_id):
            status, line = quarantine_note(result, status, note)
            summary.append(printable(f"\n{line}"), style="yellow")
        if headline := figures.brief(result.metrics, limit=HEADLINE_FIGURES):
            summary.append(printable(f"\n{headline}"), style="dim")
        table.add_row(
            Text(symbol, style=style),
            plain(result.check_id),
            plain(result.check_type),
            Text(status, style=style),
            format_duration(result.duration_s),
            summary,
        )
    return table


def quarantine_note(result: CheckResult, status: str, note: str) -> tuple[str, str]:
    """A quarantined check's status word and its line: always shown; a failure it excused
    (recorded not blocking) says so, one recorded after the date says the quarantine
    ended."""
    if not (result.critical and result.status.is_problem):
        return status, note
    if result.blocking:
        return status, f"{note} (ended: it blocks again)"
    return f"{status} (quarantined)", note


def details(report: RunReport) -> list[Text]:
    """``--verbose``: every figure of every check and the full evidence of every problem,
    never cut (the summary names only the first problem)."""
    lines: list[Text] = []
    for result in report.results:
        if result.status is Status.SKIPPED:
            continue
        symbol, style = style_of(result.status)
        lines.append(plain(f"{symbol} {result.check_id}: {result.summary}", style))
        for fig in figures.figures(result.metrics):
            lines.append(plain(f"    {fig.label}: {fig.value}", "dim"))
        if result.status is not Status.PASSED and result.evidence:
            lines.extend(plain(f"    {line}") for line in result.evidence.splitlines())
    return lines


def pending_blocking(report: RunReport) -> list[str]:
    return [item.id for item in report.attestations if item.blocking and item.ticked_by is None]


def verdict_line(report: RunReport) -> Text:
    """The automated verdict, never mistaken for GO while people still have to attest."""
    counts = ", ".join(f"{n} {status}" for status, n in report.counts.items() if n)
    if report.verdict is Verdict.FAIL:
        blocking = ", ".join(report.blocking_failures)
        return plain(f"FAIL: blocking failures: {blocking} ({counts})", "bold red")
    if report.verdict is Verdict.INCOMPLETE:
        return Text(f"INCOMPLETE: the run was {report.status} ({counts})", style="bold yellow")
    waiting = pending_blocking(report)
    if not waiting:
        return Text(f"PASS: no blocking failure ({counts})", style="bold green")
    items = f"{len(waiting)} blocking attestation{'s' if len(waiting) != 1 else ''}"
    line = Text(f"PASS: no blocking failure in the automated checks ({counts})", style="bold green")
    line.append(
        printable(f"\nNot GO yet: {items} still wait for people ({', '.join(waiting)})"),
        style="bold yellow",
    )
    return line


def attestation_lines(report: RunReport) -> list[Text]:
    """Readiness items a person must confirm: pending here, ticked in Slack."""
    pending = [item for item in report.attestations if item.ticked_by is None]
    ticked = [item for item in report.attestations if item.ticked_by is not None]
    lines: list[Text] = []
    if pending:
        lines.append(
            Text(f"Attestations pending ({len(pending)}), to be ticked in Slack:", style="bold")
        )
    for item in pending:
        kind = "blocking" if item.blocking else "non-blocking"
        lines.append(plain(f"  ☐ {item.id} ({item.role}, {kind}): {item.text}", "yellow"))
    for item in ticked:
        lines.append(plain(f"  ☑ {item.id} ({item.role}): ticked by {item.ticked_by}"))
    return lines
