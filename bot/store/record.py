"""A run's report with what people did about it (sign-offs, rejections, waivers, ticks,
decision, production outcome) and its audit trail, read in one session, with whatever
of those tables disagrees with the trail (bot/store/agreement.py)."""

from __future__ import annotations

from collections.abc import Mapping

from sqlmodel import Session, col, select

from bot.audit.projection import headline
from bot.record.lines import AuditLine, GateRecord, Signature, TickLine, WaiverLine
from bot.record.report import RunReport
from bot.store.agreement import run_differences
from bot.store.models import (
    AttestationTick,
    AuditEvent,
    DecisionRecord,
    ProductionOutcome,
    Run,
    SignOff,
    Waiver,
    as_utc,
)
from bot.store.runs import RunStore


async def full_report(
    store: RunStore, run_id: int, role_labels: Mapping[str, str] | None = None
) -> RunReport:
    """The stored report with its gate record and audit trail; LookupError for no run."""
    report = await store.report(run_id)
    labels = dict(role_labels or {})
    gate, audit = await store.call(lambda session: _read(session, run_id, labels))
    return report.model_copy(update={"gate": gate, "audit": audit})


def _read(
    session: Session, run_id: int, labels: Mapping[str, str]
) -> tuple[GateRecord | None, list[AuditLine]]:
    run = session.get(Run, run_id)
    if run is None:
        raise LookupError(f"no run {run_id}")
    signoffs = session.exec(
        select(SignOff).where(SignOff.run_id == run_id).order_by(col(SignOff.at), col(SignOff.id))
    ).all()
    waivers = session.exec(
        select(Waiver).where(Waiver.run_id == run_id).order_by(col(Waiver.at))
    ).all()
    ticks = session.exec(
        select(AttestationTick)
        .where(AttestationTick.run_id == run_id)
        .order_by(col(AttestationTick.at))
    ).all()
    decision = session.get(DecisionRecord, run_id)
    outcome = session.get(ProductionOutcome, run_id)
    events = session.exec(
        select(AuditEvent).where(AuditEvent.run_id == run_id).order_by(col(AuditEvent.seq))
    ).all()
    audit = [
        AuditLine(
            seq=e.seq,
            at=as_utc(e.at),
            actor=e.actor,
            action=e.action,
            details=e.details or {},
            prev_hash=e.prev_hash,
            hash=e.hash,
        )
        for e in events
    ]
    differences = run_differences(session, run_id)
    if not (signoffs or waivers or ticks or decision or outcome or differences):
        return None, audit
    gate = GateRecord(
        signatures=[
            Signature(
                role=s.role,
                role_label=labels.get(s.role, s.role),
                user=s.user,
                vote=s.vote,
                reason=s.reason,
                at=as_utc(s.at),
                generation=s.generation,
                counts=s.generation == run.generation,
            )
            for s in signoffs
        ],
        waivers=[
            WaiverLine(
                check_id=w.check_id,
                attempt=w.attempt,
                user=w.user,
                justification=w.justification,
                at=as_utc(w.at),
            )
            for w in waivers
        ],
        ticks=[
            TickLine(item_id=t.item_id, user=t.user, note=t.note, at=as_utc(t.at)) for t in ticks
        ],
        decision=decision.outcome if decision else None,
        decision_reasons=list(decision.reasons) if decision else [],
        decided_at=as_utc(decision.at) if decision else None,
        outcome=outcome.result if outcome else None,
        outcome_by=outcome.user if outcome else None,
        outcome_at=as_utc(outcome.at) if outcome else None,
        trail_disagrees=headline(differences),
        trail_differences=[d.line() for d in differences],
    )
    return gate, audit
