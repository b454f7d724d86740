"""What the pipelines' API reads and writes beside the run itself: requests claimed by
their ``Idempotency-Key``, the runs a request supersedes or a Flagger call names, and
the decisions of many waited runs in one query (the shared poller's)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.store.attempts import LatestAttempt, latest_attempts
from bot.store.models import ApiRequest, DecisionRecord, Run
from bot.store.runs import RunStore

CLAIMED = 0
"""What :meth:`Requests.claim` returns when this caller claimed the key (no run yet)."""


class Requests:
    def __init__(self, store: RunStore) -> None:
        self.store = store

    async def claim(self, token_id: int, key: str) -> int | None:
        """Claim ``key`` for a new run (:data:`CLAIMED`), or the run an earlier request
        with it started (its id; None while that one is still starting its run). The
        primary key decides between two replicas given the same key at once."""

        def work(session: Session) -> int | None:
            found = session.get(ApiRequest, (token_id, key))
            if found is not None:
                return found.run_id
            session.add(ApiRequest(token_id=token_id, key=key, at=self.store.clock.now()))
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                again = session.get(ApiRequest, (token_id, key))
                return again.run_id if again is not None else None
            return CLAIMED

        return await self.store.call(work)

    async def settle(self, token_id: int, key: str, run_id: int | None) -> None:
        """The claimed key's run (or, with None, let the key go: the request failed)."""

        def work(session: Session) -> None:
            where = (col(ApiRequest.token_id) == token_id, col(ApiRequest.key) == key)
            if run_id is None:
                session.execute(delete(ApiRequest).where(*where))
            else:
                session.execute(update(ApiRequest).where(*where).values(run_id=run_id))
            session.commit()

        await self.store.call(work)

    async def undecided_before(self, service: str, environment: str, run_id: int) -> list[Run]:
        """Runs of ``service`` on ``environment`` older than ``run_id`` with no decision."""

        def work(session: Session) -> list[Run]:
            decided = select(DecisionRecord.run_id)
            query = (
                select(Run)
                .where(Run.service == service, Run.environment == environment)
                .where(col(Run.id) < run_id, col(Run.id).not_in(decided))
                .order_by(col(Run.id))
            )
            return list(session.exec(query))

        return await self.store.call(work)

    async def newest(self, service: str, version: str, environment: str) -> Run | None:
        def work(session: Session) -> Run | None:
            query = (
                select(Run)
                .where(Run.service == service, Run.version == version)
                .where(Run.environment == environment)
                .order_by(col(Run.id).desc())
                .limit(1)
            )
            return session.exec(query).first()

        return await self.store.call(work)

    async def outcomes(self, run_ids: Iterable[int]) -> dict[int, tuple[str, datetime]]:
        """The recorded decisions of ``run_ids`` (those decided), in one query."""
        wanted = list(run_ids)

        def work(session: Session) -> dict[int, tuple[str, datetime]]:
            if not wanted:
                return {}
            query = select(DecisionRecord).where(col(DecisionRecord.run_id).in_(wanted))
            return {row.run_id: (row.outcome, row.at) for row in session.exec(query)}

        return await self.store.call(work)

    async def checks(self, run_id: int) -> list[LatestAttempt]:
        """The latest attempt of each of the run's checks, in plan order: what a polling
        pipeline reads, so their columns, not the records (bot/store/attempts.py)."""
        return await self.store.read(
            lambda session: list(latest_attempts(session, run_id).values())
        )
