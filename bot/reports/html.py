"""Self-contained HTML report: one file a reviewer can open, attach, archive or print.

The view data is prepared here (formatting, ordering, labels) so the template stays a
plain layout; Jinja2 autoescaping covers everything user-controlled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined

from bot.engine.report import RunReport
from bot.reports import figures
from bot.reports.junit import clean_text
from checks.base import CheckResult

TEMPLATE = "report.html.j2"


@dataclass(frozen=True)
class CheckView:
    """One check row, already formatted for display."""

    anchor: str
    check_id: str
    check_type: str
    status: str
    label: str
    critical: bool
    blocking: bool
    duration: str
    summary: str
    evidence: str
    metrics: list[tuple[str, str]]
    open: bool


@cache
def _environment() -> Environment:
    """Built once: template loading and compiling is the costly part of rendering."""
    return Environment(
        loader=PackageLoader("bot.reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def format_duration(seconds: float) -> str:
    """``0.42 s``, ``12.3 s``, ``2 min 05 s``, ``1 h 02 min``: short and unambiguous."""
    if seconds < 60:
        return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_time(moment: datetime | None) -> str:
    """Timestamps to the second, with the offset when known, so readers across zones agree."""
    if moment is None:
        return "—"
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    offset = moment.strftime("%z")
    if offset in ("+0000", "-0000"):
        return f"{text} UTC"
    return f"{text} {offset}" if offset else text


def _view(result: CheckResult, index: int) -> CheckView:
    check_id = clean_text(result.check_id) or f"check-{index}"
    return CheckView(
        anchor=f"check-{index}",
        check_id=check_id,
        check_type=clean_text(result.check_type) or "check",
        status=result.status.value,
        label=result.status.value.upper(),
        critical=result.critical,
        blocking=result.blocking,
        duration=format_duration(result.duration_s),
        summary=clean_text(result.summary),
        evidence=clean_text(result.evidence),
        metrics=[(clean_text(f.label), f.value) for f in figures.figures(result.metrics)],
        open=result.status.is_problem,
    )


def render_html(report: RunReport) -> str:
    """The report as a standalone HTML page (pure: no I/O beyond loading the template)."""
    template = _environment().get_template(TEMPLATE)
    return template.render(
        report=report,
        verdict=report.verdict.value,
        counts=report.counts,
        checks=[_view(result, i) for i, result in enumerate(report.results, start=1)],
        started=format_time(report.started_at),
        finished=format_time(report.finished_at),
        duration=format_duration(report.duration_s) if report.finished_at else "—",
    )
