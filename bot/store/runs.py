"""Runs and check results in the database (SQLite by default, PostgreSQL for teams).

Calls are synchronous SQLModel underneath and pushed to a thread, so the event loop
that serves Slack never waits on the disk."""

from __future__ import annotations

import asyncio
import contextvars
import math
import os
import statistics
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, create_engine, select

from bot.audit.chain import Action
from bot.engine.report import RunReport
from bot.store import migrate
from bot.store.audit import Note, append, save_config
from bot.store.faults import Timeouts, acking, bound
from bot.store.models import (
    CheckDistribution,
    CheckRecord,
    Run,
    RunStatus,
    SlackThread,
    as_utc,
    utcnow,
)
from checks.base import CheckResult, Status

_RAN = [s.value for s in Status if s not in (Status.SKIPPED, Status.INTERRUPTED)]
DATABASE_ENV = "DATABASE_URL"
DEFAULT_DATABASE = "sqlite:///.preprod/preprod.db"

T = TypeVar("T")


def database_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get(DATABASE_ENV) or DEFAULT_DATABASE


def make_engine(url: str, timeouts: Timeouts | None = None) -> Engine:
    """The engine, its connections bounded by ``timeouts`` (bot/store/faults.py): a
    stopped or hung database answers with an error in seconds, not never."""
    bounds = timeouts or Timeouts()
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"check_same_thread": False, "timeout": bounds.sqlite_busy}
        engine = create_engine(url, connect_args=connect_args, pool_timeout=bounds.pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect = {
        "connect_timeout": max(1, math.ceil(bounds.connect)),
        # A server gone from the network (no reset) is noticed in ~30 s, not hours:
        # otherwise a worker thread waits on its socket for as long as the kernel does.
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "tcp_user_timeout": 30_000,
    }
    return create_engine(url, pool_pre_ping=True, pool_timeout=bounds.pool, connect_args=connect)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode, NORMAL syncs at checkpoints rather than at every commit: a commit
    # survives a crash or kill of any process (what the bot must survive) and only an
    # OS crash or power cut can roll the newest ones back. PostgreSQL for more.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


ACK_THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="preprod-ack-db")
"""Threads for the database calls an ack waits on (inside ``answering``). In the shared
default pool they queued behind every other call: a burst of webhooks and runs made
clicks miss their deadline ("the bot's database is unavailable") and be made again."""


class RunStore:
    def __init__(self, url: str | None = None, timeouts: Timeouts | None = None) -> None:
        self.url = database_url(url)
        self.engine = make_engine(self.url, timeouts)
        self._postgres = self.engine.dialect.name == "postgresql"
        migrate.upgrade(self.engine)

    async def call(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` with a session in a worker thread (for repositories built on this)."""
        return await self._call(fn)

    async def _call(self, fn: Callable[[Session], T]) -> T:
        def work() -> T:
            with Session(self.engine, expire_on_commit=False) as session:
                bound(session, self._postgres)  # the ack path's deadline, if any
                return fn(session)

        if acking():
            context = contextvars.copy_context()  # bound() reads the deadline in it
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(ACK_THREADS, context.run, work)
        return await asyncio.to_thread(work)

    async def create_run(
        self, run: Run, checks: list[tuple[str, str, bool]], config_text: str | None = None
    ) -> Run:
        """Store a new run with its checks pending: ``(check_id, check_type, critical)``,
        the config text it uses (secrets redacted) and its audit event."""

        def work(session: Session) -> Run:
            session.add(run)
            session.flush()
            assert run.id is not None
            if config_text is not None and run.config_digest:
                save_config(session, run.config_digest, run.config_path, config_text)
            append(session, _started(run, [check_id for check_id, _, _ in checks]))
            for position, (check_id, check_type, critical) in enumerate(checks):
                session.add(
                    CheckRecord(
                        run_id=run.id,
                        check_id=check_id,
                        check_type=check_type,
                        position=position,
                        critical=critical,
                    )
                )
            session.commit()
            return run

        return await self._call(work)

    async def mark_started(
        self, run_id: int, check_id: str, at: datetime, owner: str | None = None
    ) -> None:
        """The check is running; with ``owner``, only while that process holds the lease."""

        def work(session: Session) -> None:
            _fence(session, run_id, owner)
            record = _latest(session, run_id, check_id)
            record.status, record.started_at = "running", at
            session.add(record)
            session.commit()

        await self._call(work)

    async def save_result(self, run_id: int, result: CheckResult, owner: str | None = None) -> None:
        """Store a check's result; with ``owner``, only while that process holds the lease
        (a process that lost it must not overwrite what the new owner found)."""

        def work(session: Session) -> None:
            _fence(session, run_id, owner)
            record = _latest(session, run_id, result.check_id)
            record.status = result.status.value
            record.summary = result.summary
            record.metrics = dict(result.metrics)
            record.evidence = result.evidence
            record.blocking = result.blocking
            record.started_at = result.started_at or record.started_at
            record.finished_at = result.finished_at
            session.add(record)
            if result.distribution is not None:
                session.merge(
                    CheckDistribution(
                        run_id=run_id,
                        check_id=record.check_id,
                        attempt=record.attempt,
                        data=result.distribution,
                    )
                )
            append(session, _check_finished(run_id, record))
            session.commit()

        await self._call(work)

    async def new_attempts(
        self,
        run_id: int,
        check_ids: list[str],
        lease: tuple[str, datetime] | None = None,
        actor: str = "preprod",
    ) -> None:
        """Queue a re-run: a fresh pending attempt per check, the old ones kept as history;
        the run is running again (owned through ``lease``, ``(owner, expiry)``, if given)."""

        def work(session: Session) -> None:
            run = session.get(Run, run_id)
            if run is None:
                raise LookupError(f"no run {run_id}")
            for check_id in check_ids:
                last = _latest(session, run_id, check_id)
                session.add(
                    CheckRecord(
                        run_id=run_id,
                        check_id=check_id,
                        check_type=last.check_type,
                        position=last.position,
                        critical=last.critical,
                        attempt=last.attempt + 1,
                    )
                )
            run.status, run.finished_at = RunStatus.RUNNING, None
            run.lease_owner, run.lease_expires = lease or (None, None)
            run.generation += 1
            session.add(run)
            details = {"checks": check_ids, "generation": run.generation}
            append(session, Note(Action.RUN_RERUN, actor, run_id, details))
            session.commit()

        await self._call(work)

    async def check_states(self, run_id: int) -> dict[str, str]:
        """Each check's latest attempt: ``pending``, ``running`` or its final status."""

        def work(session: Session) -> dict[str, str]:
            query = (
                select(CheckRecord)
                .where(CheckRecord.run_id == run_id)
                .order_by(col(CheckRecord.attempt).desc())
            )
            states: dict[str, str] = {}
            for record in session.exec(query):
                states.setdefault(record.check_id, record.status)
            return states

        return await self._call(work)

    async def median_durations(
        self, service: str, environment: str, check_ids: list[str], before: int, runs: int = 20
    ) -> dict[str, float]:
        """Each check's median duration in seconds over the last ``runs`` finished runs of
        the service and environment before run ``before`` (checks that ran, not skipped);
        a check with no such history is left out."""

        def work(session: Session) -> dict[str, float]:
            past = select(Run.id).where(
                Run.service == service,
                Run.environment == environment,
                Run.status == RunStatus.FINISHED,
                col(Run.id) < before,
            )
            ids = list(session.exec(past.order_by(col(Run.id).desc()).limit(runs)))
            if not ids or not check_ids:
                return {}
            query = select(CheckRecord).where(
                col(CheckRecord.run_id).in_(ids),
                col(CheckRecord.check_id).in_(check_ids),
                col(CheckRecord.status).in_(_RAN),
            )
            spans: dict[str, list[float]] = {}
            for record in session.exec(query):
                if record.started_at is not None and record.finished_at is not None:
                    seconds = (record.finished_at - record.started_at).total_seconds()
                    spans.setdefault(record.check_id, []).append(max(0.0, seconds))
            return {check_id: statistics.median(found) for check_id, found in spans.items()}

        return await self._call(work)

    async def finish_run(
        self, run_id: int, status: RunStatus, owner: str | None = None, actor: str = "preprod"
    ) -> None:
        """The run's automated phase ended (finished, cancelled by ``actor``, or failed)."""

        def work(session: Session) -> None:
            _fence(session, run_id, owner)
            run = session.get(Run, run_id)
            assert run is not None
            run.status, run.finished_at = status, utcnow()
            session.add(run)
            details = {"status": status.value, "generation": run.generation}
            append(session, Note(_ENDED[status], actor, run_id, details))
            session.commit()

        await self._call(work)

    async def get_run(self, run_id: int) -> Run | None:
        return await self._call(lambda session: session.get(Run, run_id))

    async def list_runs(self, limit: int = 20) -> list[Run]:
        def work(session: Session) -> list[Run]:
            query = select(Run).order_by(col(Run.id).desc()).limit(limit)
            return list(session.exec(query))

        return await self._call(work)

    async def save_thread(self, thread: SlackThread) -> None:
        def work(session: Session) -> None:
            session.merge(thread)
            session.commit()

        await self._call(work)

    async def get_thread(self, run_id: int) -> SlackThread | None:
        return await self._call(lambda session: session.get(SlackThread, run_id))

    async def report(self, run_id: int) -> RunReport:
        """The run as reports see it: the latest attempt of each check, in plan order."""

        def work(session: Session) -> RunReport:
            run = session.get(Run, run_id)
            if run is None:
                raise LookupError(f"no run {run_id}")
            query = (
                select(CheckRecord)
                .where(CheckRecord.run_id == run_id)
                .order_by(col(CheckRecord.position), col(CheckRecord.attempt).desc())
            )
            latest: dict[str, CheckRecord] = {}
            for record in session.exec(query):
                latest.setdefault(record.check_id, record)
            return RunReport(
                run_id=run_id,
                service=run.service,
                version=run.version,
                environment=run.environment,
                plan=run.plan,
                base_url=run.base_url,
                requester=run.requester,
                status=run.status.value,
                started_at=as_utc(run.created_at),
                finished_at=_utc_or_none(run.finished_at),
                results=[_as_result(record) for record in latest.values()],
            )

        return await self._call(work)


_ENDED = {
    RunStatus.FINISHED: Action.RUN_FINISHED,
    RunStatus.CANCELLED: Action.RUN_CANCELLED,
    RunStatus.FAILED: Action.RUN_FAILED,
    RunStatus.RUNNING: Action.RUN_FINISHED,
}


def _started(run: Run, checks: list[str]) -> Note:
    details: dict[str, object] = {
        "service": run.service,
        "version": run.version,
        "environment": run.environment,
        "plan": run.plan,
        "base_url": run.base_url,
        "source": run.source,
        "config_path": run.config_path,
        "config_sha256": run.config_digest,
        "checks": checks,
    }
    if run.origin or run.origin_commit:  # a pipeline's request (migration 0015)
        details["origin"] = run.origin or {}
        details["commit"] = run.origin_commit or ""
    return Note(Action.RUN_STARTED, run.requester, run.id, details)


def _check_finished(run_id: int, record: CheckRecord) -> Note:
    details = {
        "check": record.check_id,
        "type": record.check_type,
        "attempt": record.attempt,
        "status": record.status,
        "critical": record.critical,
        "blocking": record.blocking,
        "summary": record.summary,
    }
    return Note(Action.CHECK_FINISHED, "preprod", run_id, details)


class LeaseLost(Exception):
    """This process no longer holds the run's lease: another one executes it now, and
    nothing this one found may be written over what that one finds."""


def _fence(session: Session, run_id: int, owner: str | None) -> None:
    """Within the writing transaction: refuse unless ``owner`` holds the run (the row is
    locked on PostgreSQL; SQLite serialises writers anyway)."""
    if owner is None:
        return
    run = session.exec(select(Run).where(col(Run.id) == run_id).with_for_update()).first()
    if run is None or run.lease_owner != owner:
        raise LeaseLost(f"run {run_id} is no longer held by {owner}")


def _latest(session: Session, run_id: int, check_id: str) -> CheckRecord:
    query = (
        select(CheckRecord)
        .where(CheckRecord.run_id == run_id, CheckRecord.check_id == check_id)
        .order_by(col(CheckRecord.attempt).desc())
    )
    record = session.exec(query).first()
    if record is None:
        raise LookupError(f"run {run_id} has no check {check_id!r}")
    return record


def _as_result(record: CheckRecord) -> CheckResult:
    final = record.status in {status.value for status in Status}
    return CheckResult(
        status=Status(record.status) if final else Status.SKIPPED,
        summary=record.summary if final else f"not finished ({record.status})",
        metrics=record.metrics or {},
        evidence=record.evidence,
        blocking=record.blocking,
        check_id=record.check_id,
        check_type=record.check_type,
        critical=record.critical,
        started_at=_utc_or_none(record.started_at),
        finished_at=_utc_or_none(record.finished_at),
    )


def _utc_or_none(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None
