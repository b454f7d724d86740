"""Runs and check results in the database (SQLite by default, PostgreSQL for teams).

Calls are synchronous SQLModel underneath and pushed to a thread, so the event loop
that serves Slack never waits on the disk (the ack path's calls to threads of their
own: bot/store/lanes.py)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, col, select

from bot.audit.chain import Action
from bot.record.report import RunReport
from bot.store import migrate
from bot.store.attempts import latest_attempts
from bot.store.audit import CLOCK, Note, append
from bot.store.batch import GroupCommit, Write, commit_writes
from bot.store.clock import DatabaseClock
from bot.store.connect import DATABASE_ENV as DATABASE_ENV
from bot.store.connect import DEFAULT_DATABASE as DEFAULT_DATABASE
from bot.store.connect import commits_sent, count_commits, retry_safe
from bot.store.connect import database_url as database_url
from bot.store.connect import make_engine as make_engine
from bot.store.faults import Timeouts, bound, has_deadline
from bot.store.lanes import in_thread
from bot.store.marks import LeaseLost as LeaseLost
from bot.store.marks import NewChecks, finish_write, mark_write, result_write
from bot.store.marks import latest as _latest
from bot.store.models import (
    CheckRecord,
    DecisionRecord,
    Run,
    RunStatus,
    SlackThread,
)
from bot.store.new_runs import NewRun, insert_new_runs
from bot.store.report_read import read_report
from bot.store.threads import upsert_thread
from bot.store.together import Together
from checks.base import CheckResult, Status

_RAN = [s.value for s in Status if s not in (Status.SKIPPED, Status.INTERRUPTED)]
REOPENABLE = "no-go"
"""The one decision a re-run may set aside (bot/gate/policy.py ``Outcome.NO_GO``): the
early NO-GO of a run a failed stage ended."""

T = TypeVar("T")
NEW_RUNS = 100
"""The most runs stored in one transaction."""


class RunStore:
    def __init__(self, url: str | None = None, timeouts: Timeouts | None = None) -> None:
        self.url = database_url(url)
        self.engine = make_engine(self.url, timeouts)
        self._postgres = self.engine.dialect.name == "postgresql"
        self._reader = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
            if self._postgres
            else self.engine
        )
        """Where :meth:`read` runs: on PostgreSQL without a transaction, so a read is its
        statements' round trips alone, not ``BEGIN`` and ``ROLLBACK`` besides (each
        statement sees the data committed when it starts, as under READ COMMITTED)."""
        self.clock = DatabaseClock(self.engine)
        """Now by the database's clock, for the times stamped from Python (a run's creation
        and end, a check's start and end); the process's leases measure it."""
        self._info = {CLOCK: lambda: self.clock.now()}  # the trail's times: the database's
        self._group = GroupCommit(self.engine, info=self._info)
        self._new_runs = Together(self._insert_runs, NEW_RUNS)
        self._kept_configs: set[str] = set()
        """Config digests this store has committed a snapshot of: not inserted again."""
        count_commits(self.engine)
        migrate.upgrade(self.engine)

    async def call(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` with a session in a worker thread (for repositories built on this)."""
        return await self._call(fn)

    async def read(self, fn: Callable[[Session], T]) -> T:
        """:meth:`call` for ``fn`` that only reads: on PostgreSQL outside a transaction
        (no ``BEGIN``, no ``ROLLBACK``), and on the ack path with no statement timeout
        (see ``bound``)."""
        return await self._call(fn, writes=False)

    async def _call(self, fn: Callable[[Session], T], *, writes: bool = True) -> T:
        """``writes=False``: ``fn`` only reads (see :meth:`read`): on PostgreSQL outside a
        transaction, and on the ack path with no statement timeout (faults.py ``bound``)."""
        bind = self.engine if writes else self._reader

        def work() -> T:
            for attempt in (1, 2):
                commits = commits_sent()
                with Session(bind, expire_on_commit=False, info=self._info) as session:
                    bound(session, self._postgres and writes)  # the ack path's deadline
                    try:
                        return fn(session)
                    except DBAPIError as error:
                        if attempt == 2 or not retry_safe(error, commits_sent() - commits):
                            raise
            raise AssertionError("unreachable")

        return await in_thread(work)  # the ack path's calls on threads of their own

    async def _grouped(
        self, write: Write, what: str, key: Hashable = None, hurry: bool = False
    ) -> None:
        """Commit ``write`` with the others queued now (bot/store/batch.py); alone, as
        before, on the ack path, whose deadline binds its own transaction."""
        if has_deadline():
            await self._call(lambda session: commit_writes(session, [write]))
        else:
            await self._group.write(write, what, key, hurry)

    async def create_run(self, run: Run, checks: NewChecks, config_text: str | None = None) -> Run:
        """Store a new run with its checks pending: ``(check_id, check_type, critical)``,
        the config text it uses (secrets redacted) and its audit event; committed with
        the runs other callers store at the same moment (a burst of ``start``s)."""

        digest = run.config_digest
        keep = config_text is not None and bool(digest) and digest not in self._kept_configs
        stored = await self._new_runs.add(NewRun(run, checks, config_text if keep else None))
        if keep:
            self._kept_configs.add(digest)  # committed: later runs of it skip the insert
        return stored

    async def _insert_runs(self, new: list[NewRun]) -> list[Run]:
        """New runs in one transaction (bot/store/together.py)."""

        def work(session: Session) -> list[Run]:
            runs = insert_new_runs(session, new)
            session.commit()
            for run in runs:
                make_transient_to_detached(run)  # as the ORM leaves a run it stored
            return runs

        return await self._call(work)

    async def mark_started(
        self, run_id: int, check_id: str, at: datetime, owner: str | None = None
    ) -> None:
        """The check is running; with ``owner``, only while that process holds the lease.
        Its check waits for it to start: taken without gathering (bot/store/batch.py)."""
        mark = mark_write(run_id, check_id, at, owner)
        await self._grouped(mark, f"check {check_id} running", hurry=True)

    def mark_started_soon(
        self, run_id: int, check_id: str, at: datetime, owner: str | None = None
    ) -> None:
        """:meth:`mark_started` without waiting: for a check safe to repeat, which a
        resume runs again whether it was left pending or running. Committed before any
        later write of this store (its result among them)."""
        mark = mark_write(run_id, check_id, at, owner)
        self._group.write_soon(mark, f"check {check_id} running", (run_id, check_id))

    async def save_result(
        self, run_id: int, result: CheckResult, owner: str | None = None, last: bool = False
    ) -> None:
        """Store a check's result; with ``owner``, only while that process holds the lease
        (a process that lost it must not overwrite what the new owner found). ``last``:
        no other result is coming soon (it is written without waiting for company)."""
        write = result_write(run_id, result, owner)
        what, key = f"the result of {result.check_id}", (run_id, result.check_id)
        await self._grouped(write, what, key, hurry=last)

    async def new_attempts(
        self,
        run_id: int,
        check_ids: list[str],
        lease: tuple[str, datetime] | None = None,
        actor: str = "preprod",
        reopen: str | None = None,
    ) -> bool:
        """Queue a re-run: a fresh pending attempt per check, the old ones kept as history;
        the run is running again (owned through ``lease``, ``(owner, expiry)``, if given).
        ``reopen`` (the failed stage's name): the run's NO-GO is set aside in the same
        transaction, with its ``gate.reopen`` event, so that the gate decides again; False
        (nothing stored) when the run's decision is no longer a NO-GO to reopen."""

        def work(session: Session) -> bool:
            run = session.get(Run, run_id)
            if run is None:
                raise LookupError(f"no run {run_id}")
            decided = session.get(DecisionRecord, run_id)
            if reopen is not None:
                if decided is None or decided.outcome != REOPENABLE:
                    return False
                details = {
                    "outcome": decided.outcome,
                    "reasons": list(decided.reasons),
                    "stage": reopen,
                    "generation": run.generation + 1,
                }
                append(session, Note(Action.REOPEN, actor, run_id, details))
                session.delete(decided)
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
            return True

        return await self._call(work)

    async def check_states(self, run_id: int) -> dict[str, str]:
        """Each check's latest attempt: ``pending``, ``running`` or its final status."""

        def work(session: Session) -> dict[str, str]:
            return {c: a.status for c, a in latest_attempts(session, run_id).items()}

        return await self.read(work)

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
            query = select(
                col(CheckRecord.check_id),
                col(CheckRecord.started_at),
                col(CheckRecord.finished_at),
            ).where(
                col(CheckRecord.run_id).in_(ids),
                col(CheckRecord.check_id).in_(check_ids),
                col(CheckRecord.status).in_(_RAN),
            )
            spans: dict[str, list[float]] = {}
            for check_id, started, finished in session.exec(query):
                if started is not None and finished is not None:
                    seconds = (finished - started).total_seconds()
                    spans.setdefault(check_id, []).append(max(0.0, seconds))
            return {check_id: statistics.median(found) for check_id, found in spans.items()}

        return await self._call(work)

    async def finish_run(
        self, run_id: int, status: RunStatus, owner: str | None = None, actor: str = "preprod"
    ) -> None:
        """The run's automated phase ended (finished, cancelled by ``actor``, or failed).
        Committed with the check writes queued before it (bot/store/batch.py), in order."""
        write = finish_write(run_id, status, _ENDED[status], actor, owner, self.clock.now)
        await self._grouped(write, f"the end of run {run_id}", hurry=True)

    async def get_run(self, run_id: int) -> Run | None:
        return await self.read(lambda session: session.get(Run, run_id))

    async def list_runs(self, limit: int = 20) -> list[Run]:
        def work(session: Session) -> list[Run]:
            query = select(Run).order_by(col(Run.id).desc()).limit(limit)
            return list(session.exec(query))

        return await self.read(work)

    async def save_thread(self, thread: SlackThread) -> None:
        """Store where a run lives in Slack, in one statement: two processes opening the
        same thread at once (a serve handing the run to a worker) both succeed, and a
        message ts this save does not know yet never erases one already stored."""

        write = self.thread_write(thread)

        def work(session: Session) -> None:
            write(session)
            session.commit()

        await self._call(work)

    def thread_write(self, thread: SlackThread) -> Write:
        """:meth:`save_thread` as a write in another one's transaction (an outbox
        message's ``sent``)."""
        statement = upsert_thread(thread, postgres=self._postgres)

        def write(session: Session) -> None:
            session.execute(statement)

        return write

    async def get_thread(self, run_id: int) -> SlackThread | None:
        return await self.read(lambda session: session.get(SlackThread, run_id))

    async def report(self, run_id: int) -> RunReport:
        """The run as reports see it: the latest attempt of each check, in plan order."""
        return await self.read(lambda session: read_report(session, run_id))


_ENDED = {
    RunStatus.FINISHED: Action.RUN_FINISHED,
    RunStatus.CANCELLED: Action.RUN_CANCELLED,
    RunStatus.FAILED: Action.RUN_FAILED,
    RunStatus.RUNNING: Action.RUN_FINISHED,
}
