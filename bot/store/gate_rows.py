"""A run's rows as the gate reads them (its report, sign-offs, waivers, ticks, decision),
in one session: the gate loads a run after every click, at every sweep and for every
pipeline polling the API, and loading it call by call was seven worker-thread hops and
seven sessions (on PostgreSQL seven transactions), most of a load's cost (8.5 ms of CPU
on SQLite, 14.6 on PostgreSQL, on the 2-core machine where bench/ack_latency.py runs).
Reads only: on PostgreSQL outside a transaction, each statement seeing what was
committed when it starts, as the separate calls did."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from bot.record.report import RunReport
from bot.store.models import AttestationTick, DecisionRecord, Run, SignOff, Waiver
from bot.store.report_read import read_report_and_attempts


@dataclass(frozen=True)
class GateRows:
    run: Run
    report: RunReport
    signoffs: list[SignOff]
    """Of the run's current generation, oldest first."""
    attempts: dict[str, int]
    """The latest attempt of each check (a waiver covers one attempt), read with the
    report."""
    waivers: list[Waiver]
    """Oldest first, of any attempt."""
    ticks: list[AttestationTick]
    decided: DecisionRecord | None
    """Read last: a decision recorded after the other rows were read is not missed."""


def read_gate_rows(session: Session, run_id: int) -> GateRows | None:
    """Run ``run_id``'s gate rows (None: there is no such run)."""
    run = session.get(Run, run_id)
    if run is None:
        return None
    report, attempts = read_report_and_attempts(session, run_id)
    return GateRows(
        run=run,
        report=report,
        signoffs=signoffs_of(session, run_id, run.generation),
        attempts=attempts,
        waivers=waivers_of(session, run_id),
        ticks=ticks_of(session, run_id),
        decided=session.get(DecisionRecord, run_id),
    )


_SIGNOFFS = (
    select(SignOff)
    .where(SignOff.run_id == bindparam("run"), SignOff.generation == bindparam("generation"))
    .order_by(col(SignOff.at))
)
_WAIVERS = select(Waiver).where(Waiver.run_id == bindparam("run")).order_by(col(Waiver.at))
_TICKS = select(AttestationTick).where(AttestationTick.run_id == bindparam("run"))
"""Built once: building a statement anew (its clauses, its cache key) cost more than
running it on SQLite."""


def signoffs_of(session: Session, run_id: int, generation: int) -> list[SignOff]:
    return list(session.exec(_SIGNOFFS, params={"run": run_id, "generation": generation}))


def waivers_of(session: Session, run_id: int) -> list[Waiver]:
    return list(session.exec(_WAIVERS, params={"run": run_id}))


def ticks_of(session: Session, run_id: int) -> list[AttestationTick]:
    return list(session.exec(_TICKS, params={"run": run_id}))
