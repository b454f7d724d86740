"""Sign-offs, waivers, attestation ticks and decisions in the database.

Inserts that must happen once (a signature, a waiver, a decision) rely on unique keys,
so a double click or a second replica racing for the same row records one. Rules that
span rows (one role per person, the requester's own run) are re-decided by the caller
on fresh rows inside :meth:`GateStore.act`'s transaction, under a per-run lock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, cast, exists, func, literal, or_
from sqlalchemy import select as sa_select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, SQLModel, col, select

from bot.audit.chain import Action
from bot.store.attempts import LatestAttempt, latest_attempts
from bot.store.audit import Note, append, hold_run_lock, insert_once_audited
from bot.store.gate_rows import (
    GateRows,
    read_gate_rows,
    signoffs_of,
    ticks_of,
    waivers_of,
)
from bot.store.models import (
    AttestationTick,
    DecisionRecord,
    OutboxMessage,
    ProductionOutcome,
    Run,
    RunStatus,
    SignOff,
    SlackThread,
    Waiver,
    as_utc,
)
from bot.store.runs import RunStore
from bot.store.unique import insert_once


@dataclass(frozen=True)
class Fresh:
    """A run's gate rows as they stand inside the locked transaction of an action."""

    run_id: int
    run: Run
    signoffs: list[SignOff]
    """Of the run's current generation."""
    waivers: list[Waiver]
    ticks: list[AttestationTick]
    checks: dict[str, LatestAttempt]
    """The latest attempt of each check."""
    decided: DecisionRecord | None


ActionPlan = Callable[[Fresh], tuple[SQLModel, Note] | None]
"""Given the fresh rows, the row and event to store, or None (already stored: nothing
to do); raises to refuse (the transaction is rolled back)."""


def read_fresh(session: Session, run_id: int) -> Fresh | None:
    """The run's gate rows, read in the session's transaction (None: no such run)."""
    run = session.get(Run, run_id)
    if run is None:
        return None
    return Fresh(
        run_id=run_id,
        run=run,
        signoffs=signoffs_of(session, run_id, run.generation),
        waivers=waivers_of(session, run_id),
        ticks=ticks_of(session, run_id),
        checks=latest_attempts(session, run_id),
        decided=session.get(DecisionRecord, run_id),
    )


class GateStore:
    def __init__(self, store: RunStore) -> None:
        self.store = store

    async def insert_once(self, row: SQLModel) -> bool:
        """Insert ``row``; False (and nothing changed) when its unique key exists."""

        return await self.store.call(lambda session: insert_once(session, row))

    async def insert_audited(self, row: SQLModel, note: Note) -> bool:
        """Insert ``row`` and its audit event together; False (neither) when it exists."""

        return await self.store.call(lambda session: insert_once_audited(session, row, note))

    async def act(self, run_id: int, plan: ActionPlan) -> bool:
        """Authorise and record one action on run ``run_id`` in one transaction that
        serialises with every other action on the run, on every replica: the run's lock
        is taken first, ``plan`` decides on the rows read after it (raising to refuse),
        and its row and audit event are stored before the lock is let go. False when
        ``plan`` finds it already stored (a repeat) or the row's unique key exists."""

        def work(session: Session) -> bool:
            hold_run_lock(session.connection(), run_id)
            fresh = read_fresh(session, run_id)
            if fresh is None:
                raise LookupError(f"There is no run #{run_id}.")
            planned = plan(fresh)
            if planned is None:
                session.rollback()
                return False
            row, note = planned
            return insert_once_audited(session, row, note)

        return await self.store.call(work)

    async def rows(self, run_id: int) -> GateRows | None:
        """Run ``run_id``'s rows as the gate reads them, in one call (None: no such run)."""
        return await self.store.read(lambda session: read_gate_rows(session, run_id))

    async def signoffs(self, run_id: int, generation: int) -> list[SignOff]:
        """The sign-offs of the run's generation ``generation``, oldest first."""
        return await self.store.read(lambda session: signoffs_of(session, run_id, generation))

    async def ticks(self, run_id: int) -> list[AttestationTick]:
        return await self.store.read(lambda session: ticks_of(session, run_id))

    async def attempts(self, run_id: int) -> dict[str, int]:
        """The latest attempt number of each check (a waiver covers one attempt)."""

        def work(session: Session) -> dict[str, int]:
            return {c: a.attempt for c, a in latest_attempts(session, run_id).items()}

        return await self.store.read(work)

    async def decision(self, run_id: int) -> DecisionRecord | None:
        return await self.store.read(lambda session: session.get(DecisionRecord, run_id))

    async def set_announcement(self, run_id: int, ts: str) -> None:
        def work(session: Session) -> None:
            record = session.get(DecisionRecord, run_id)
            if record is not None:
                record.announcement_ts = ts
                session.add(record)
                session.commit()

        await self.store.call(work)

    async def record_outcome(self, outcome: ProductionOutcome) -> None:
        """The latest word on production wins (a correction replaces a mistake)."""

        def work(session: Session) -> None:
            session.merge(outcome)
            note = Note(Action.OUTCOME, outcome.user, outcome.run_id, {"result": outcome.result})
            append(session, note)
            session.commit()

        await self.store.call(work)

    async def unannounced(self, before: datetime) -> list[int]:
        """Final decisions recorded before ``before`` whose announcement never went out
        (a cancelled run is not announced)."""

        def work(session: Session) -> list[int]:
            query = select(DecisionRecord.run_id).where(
                col(DecisionRecord.announcement_ts).is_(None),
                DecisionRecord.outcome != "cancelled",
                col(DecisionRecord.at) < before,
            )
            return list(session.exec(query))

        return await self.store.call(work)

    async def undecided_runs(
        self, active_since: datetime | None = None, created_before: datetime | None = None
    ) -> list[Run]:
        """Runs whose automated phase is over and that have no decision yet. With either
        bound, only those that finished or got a sign-off, waiver or tick since
        ``active_since``, or were created before ``created_before`` (past a deadline):
        a periodic sweep then costs what changed, not every run waiting on people."""
        where = _undecided(active_since, created_before)
        return await self.store.call(lambda session: list(session.exec(select(Run).where(*where))))

    async def undecided_stamps(
        self, active_since: datetime, created_before: datetime
    ) -> dict[int, Stamp]:
        """The runs :meth:`undecided_runs` finds with both bounds, each with a stamp of
        what its decision reads that can change (when it finished, its generation, how
        many sign-offs, waivers and ticks it has, whether it is past its deadline): a
        run whose stamp a sweep has seen already needs no second look."""
        counts = (
            select(func.count()).where(col(table.run_id) == col(Run.id)).scalar_subquery()
            for table in (SignOff, Waiver, AttestationTick)
        )
        past = col(Run.created_at) < created_before
        columns = (col(Run.id), col(Run.finished_at), col(Run.generation), past, *counts)
        query = sa_select(*columns).where(*_undecided(active_since, created_before))

        def work(session: Session) -> dict[int, Stamp]:
            return {row[0]: tuple(row[1:]) for row in session.execute(query)}

        return await self.store.read(work)

    async def unshown_runs(
        self, finished_before: datetime, claimed_since: datetime | None = None
    ) -> list[Run]:
        """Undecided runs that finished before ``finished_before`` and have a thread but no
        posted sign-off panel (``run:N:panel`` in the outbox): a process died between
        storing the end and showing it. With ``claimed_since``, not those with a message
        claimed since then and not sent yet: a live process is showing them, held behind
        the channel's pace (every process took such a run up again at each beat, and
        waited on that process's claims). One query, whatever the number of runs waiting
        on people, so that looking for them every few seconds stays cheap."""
        panel_key = literal("run:") + cast(col(Run.id), String) + literal(":panel")
        shown = exists().where(
            and_(
                col(OutboxMessage.run_id) == col(Run.id),
                col(OutboxMessage.key) == panel_key,
                col(OutboxMessage.ts).is_not(None),
            )
        )
        threaded = exists().where(col(SlackThread.run_id) == col(Run.id))
        query = select(Run).where(
            Run.status == RunStatus.FINISHED,
            col(Run.finished_at) < finished_before,
            col(Run.id).not_in(select(DecisionRecord.run_id)),
            threaded,
            ~shown,
        )
        if claimed_since is not None:
            being_shown = and_(
                col(OutboxMessage.run_id) == col(Run.id),
                col(OutboxMessage.ts).is_(None),
                col(OutboxMessage.claimed_at) >= claimed_since,
            )
            query = query.where(~exists().where(being_shown))

        def work(session: Session) -> list[Run]:
            return list(session.exec(query))

        return await self.store.call(work)


Stamp = tuple[Any, ...]
"""What an undecided run's decision reads that can change (GateStore.undecided_stamps)."""


def stamp_of(run: Run, created_before: datetime, signoffs: int, waivers: int, ticks: int) -> Stamp:
    """The stamp :meth:`GateStore.undecided_stamps` reads for ``run``, made from rows in
    hand (those a process just loaded it with): the same columns, in the same order."""
    return (run.finished_at, run.generation, as_utc(run.created_at) < created_before,
            signoffs, waivers, ticks)  # fmt: skip


def _undecided(
    active_since: datetime | None, created_before: datetime | None
) -> list[ColumnElement[bool]]:
    """The conditions of :meth:`GateStore.undecided_runs`."""
    where: list[ColumnElement[bool]] = [
        col(Run.status) == RunStatus.FINISHED,
        col(Run.id).not_in(select(DecisionRecord.run_id)),
    ]
    wanted: list[ColumnElement[bool]] = []
    if active_since is not None:
        wanted.append(col(Run.finished_at) >= active_since)
        wanted.extend(
            col(Run.id).in_(select(table.run_id).where(col(table.at) >= active_since))
            for table in (SignOff, Waiver, AttestationTick)
        )
    if created_before is not None:
        wanted.append(col(Run.created_at) < created_before)
    return [*where, or_(*wanted)] if wanted else where
