"""Self-contained HTML report: one file a reviewer can open, attach, archive or print.

The view data is prepared here (formatting, ordering, labels) so the template stays a
plain layout; Jinja2 autoescaping covers everything user-controlled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from bot.record.lines import AuditLine, GateRecord
from bot.record.report import RunReport
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
    quarantine: str = ""


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


def report_time(moment: datetime | None) -> str:
    """:func:`format_time` for the report, where every time says its zone: a naive time
    is UTC (the store keeps UTC; SQLite hands it back naive)."""
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_time(moment)


def _view(result: CheckResult, index: int, quarantine: str = "") -> CheckView:
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
        quarantine=clean_text(quarantine),
    )


@dataclass(frozen=True)
class SignatureView:
    role: str
    user: str
    vote: str
    reason: str
    at: str
    counts: bool


@dataclass(frozen=True)
class GateView:
    """What people did about the run, formatted (text only: the template escapes it)."""

    decision: str | None
    decided_at: str
    reasons: list[str]
    outcome: str | None
    outcome_by: str
    outcome_at: str
    signatures: list[SignatureView]
    waivers: list[dict[str, str]]
    ticks: list[dict[str, str]]
    trail_disagrees: str = ""
    trail_differences: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuditView:
    seq: int
    at: str
    actor: str
    action: str
    details: str
    hash: str
    short_hash: str


Person = Callable[[str], str]


def _as_is(user: str) -> str:
    return user


def people_of(report: RunReport) -> set[str]:
    """Everyone the report names (whose display names a caller may look up)."""
    found = {report.requester, *(line.actor for line in report.audit)}
    found.update(item.ticked_by for item in report.attestations if item.ticked_by)
    if report.gate is not None:
        gate = report.gate
        found.update(s.user for s in gate.signatures)
        found.update(w.user for w in gate.waivers)
        found.update(t.user for t in gate.ticks)
        if gate.outcome_by:
            found.add(gate.outcome_by)
    return found


def _gate(record: GateRecord | None, person: Person = _as_is) -> GateView | None:
    if record is None:
        return None
    return GateView(
        decision=clean_text(record.decision) if record.decision else None,
        decided_at=report_time(record.decided_at) if record.decided_at else "",
        reasons=[clean_text(r) for r in record.decision_reasons],
        outcome=clean_text(record.outcome) if record.outcome else None,
        outcome_by=clean_text(person(record.outcome_by)) if record.outcome_by else "",
        outcome_at=report_time(record.outcome_at),
        signatures=[
            SignatureView(
                role=clean_text(s.role_label),
                user=clean_text(person(s.user)),
                vote=clean_text(s.vote),
                reason=clean_text(s.reason),
                at=report_time(s.at),
                counts=s.counts,
            )
            for s in record.signatures
        ],
        waivers=[
            {
                "check_id": clean_text(w.check_id),
                "attempt": str(w.attempt),
                "user": clean_text(person(w.user)),
                "justification": clean_text(w.justification),
                "at": report_time(w.at),
            }
            for w in record.waivers
        ],
        ticks=[
            {
                "item_id": clean_text(t.item_id),
                "user": clean_text(person(t.user)),
                "note": clean_text(t.note),
                "at": report_time(t.at),
            }
            for t in record.ticks
        ],
        trail_disagrees=clean_text(record.trail_disagrees),
        trail_differences=tuple(clean_text(line) for line in record.trail_differences),
    )


def audit_details(details: Mapping[str, Any]) -> str:
    """An event's details as one line, ``key: value; ...`` by key, then its yes/no fields
    as words (``not blocking, critical``, not ``blocking: False; critical: True``); empty
    fields (no reason, no reasons, no note) are left out rather than shown as ``reason: ;``."""
    fields, flags = [], []
    for key, value in sorted(details.items()):
        if isinstance(value, bool):
            word = key.replace("_", " ")
            flags.append(word if value else f"not {word}")
        elif value is not None and value != "" and value != [] and value != {}:
            fields.append(f"{key}: {_detail(value)}")
    return "; ".join(fields + ([", ".join(flags)] if flags else []))


def _audit(line: AuditLine, person: Person = _as_is) -> AuditView:
    details = audit_details(line.details)
    return AuditView(
        seq=line.seq,
        at=report_time(line.at),
        actor=clean_text(person(line.actor)),
        action=clean_text(line.action),
        details=clean_text(details),
        hash=line.hash,
        short_hash=line.hash[:12],
    )


def _detail(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


def still_waiting(report: RunReport) -> str:
    """``1 blocking attestation still waits``: beside a PASS verdict, what keeps the
    release from GO that the checks cannot show; empty when every blocking one is ticked."""
    count = sum(1 for item in report.attestations if item.blocking and item.ticked_by is None)
    if not count:
        return ""
    return f"{count} blocking attestation{'s still wait' if count > 1 else ' still waits'}"


def render_html(report: RunReport, names: Mapping[str, str] | None = None) -> str:
    """The report as a standalone HTML page (pure: no I/O beyond loading the template).
    ``names``: display names by user id, shown as ``sam-sre (U0SRE1)`` (the web pages
    look them up in Slack; a file written by the CLI shows the ids)."""
    known = dict(names or {})

    def person(user: str) -> str:
        name = known.get(user)
        return f"{name} ({user})" if name and name != user else user

    template = _environment().get_template(TEMPLATE)
    return template.render(
        person=person,
        report=report,
        verdict=report.verdict.value,
        counts=report.counts,
        checks=[
            _view(result, i, report.quarantines.get(result.check_id, ""))
            for i, result in enumerate(report.results, start=1)
        ],
        started=report_time(report.started_at),
        finished=report_time(report.finished_at),
        duration=format_duration(report.duration_s) if report.finished_at else "—",
        gate=_gate(report.gate, person),
        audit=[_audit(line, person) for line in report.audit],
        waiting=still_waiting(report),
    )
