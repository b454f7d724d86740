"""What the GitHub adapter keeps: the workflow job each run answers, and the answers it
owes GitHub, recorded before they are sent (an outbox for GitHub).

An answer is recorded under a key that names it (``github:7:decision``), claimed by the
process that sends it (``claimed_at``), and marked ``answered_at`` once GitHub took it. A
crash or a 5xx leaves it unanswered; the reconciler sends it again once its claim is
stale. Knows nothing of GitHub's API: plain rows."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime

from sqlalchemy import delete, or_, update
from sqlmodel import Session, col, select

from bot.store.models import DecisionRecord, GitHubAnswer, GitHubJob, SeenRequest
from bot.store.runs import RunStore
from bot.store.unique import insert_once

GITHUB_TOKEN_ID = 0
"""The ``apirequest.token_id`` of GitHub's requests (pipeline tokens count from 1): the
key ``github:<repo>:<workflow run>:<environment>`` makes a redelivery the same run."""


def decision_key(run_id: int) -> str:
    return f"github:{run_id}:decision"


class GitHubStore:
    def __init__(self, store: RunStore) -> None:
        self.store = store

    async def record_job(self, job: GitHubJob) -> bool:
        """Remember the job ``job.run_id`` answers; False when it was recorded already."""
        return await self.store.call(lambda session: insert_once(session, job))

    async def forget_seen(self, key: str) -> None:
        """Let a delivery's seen-request claim go (its handling failed: a redelivery must
        be handled, not taken for a repeat)."""

        def work(session: Session) -> None:
            session.execute(delete(SeenRequest).where(col(SeenRequest.key) == key))
            session.commit()

        await self.store.call(work)

    async def job(self, run_id: int) -> GitHubJob | None:
        return await self.store.call(lambda session: session.get(GitHubJob, run_id))

    async def owe(self, key: str, run_id: int, state: str | None, comment: str) -> bool:
        """Record the answer ``key``, claimed by the caller; False if it was recorded
        before (then :meth:`claim` says whether the caller may send it)."""
        row = GitHubAnswer(
            key=key, run_id=run_id, state=state, comment=comment, claimed_at=self.store.clock.now()
        )
        return await self.store.call(lambda session: insert_once(session, row))

    async def get(self, key: str) -> GitHubAnswer | None:
        return await self.store.call(lambda session: session.get(GitHubAnswer, key))

    async def claim(self, key: str, stale_after: float) -> bool:
        """Take the sending of an unanswered answer nobody has tried for ``stale_after``
        seconds (by the database's clock). One conditional UPDATE: one process wins."""
        now = self.store.clock.sql_now()
        query = (
            update(GitHubAnswer)
            .where(
                col(GitHubAnswer.key) == key,
                col(GitHubAnswer.answered_at).is_(None),
                or_(
                    col(GitHubAnswer.claimed_at).is_(None),
                    col(GitHubAnswer.claimed_at) < self.store.clock.sql_in(-stale_after),
                ),
            )
            .values(claimed_at=now)
        )

        def work(session: Session) -> bool:
            result = session.connection().execute(query)
            session.commit()
            return bool(result.rowcount == 1)

        return await self.store.call(work)

    async def answered(self, key: str) -> None:
        await self._set(key, answered_at=self.store.clock.now())

    async def failed(self, key: str, error: str) -> None:
        """One more failed attempt; the claim stays, so a retry waits until it is stale."""
        await self._set(key, last_error=error[:255], attempts=GitHubAnswer.attempts + 1)

    async def _set(self, key: str, **values: object) -> None:
        query = update(GitHubAnswer).where(col(GitHubAnswer.key) == key).values(**values)

        def work(session: Session) -> None:
            session.connection().execute(query)
            session.commit()

        await self.store.call(work)

    async def unanswered(self, claimed_before: datetime, limit: int = 100) -> list[GitHubAnswer]:
        """Answers not taken by GitHub and not tried since ``claimed_before``, oldest first."""

        def work(session: Session) -> list[GitHubAnswer]:
            query = (
                select(GitHubAnswer)
                .where(col(GitHubAnswer.answered_at).is_(None))
                .where(
                    or_(
                        col(GitHubAnswer.claimed_at).is_(None),
                        col(GitHubAnswer.claimed_at) < claimed_before,
                    )
                )
                .order_by(col(GitHubAnswer.at))
                .limit(limit)
            )
            return list(session.exec(query))

        return await self.store.call(work)

    async def decided_unowed(self, limit: int = 100) -> list[int]:
        """Runs that answer a GitHub job and are decided, with no decision owed yet (the
        process died between the decision and the listener, or nobody listened)."""

        def work(session: Session) -> list[int]:
            owed = select(GitHubAnswer.run_id).where(col(GitHubAnswer.state).is_not(None))
            query = (
                select(GitHubJob.run_id)
                .join(DecisionRecord, col(DecisionRecord.run_id) == col(GitHubJob.run_id))
                .where(col(GitHubJob.run_id).not_in(owed))
                .order_by(col(GitHubJob.run_id))
                .limit(limit)
            )
            return list(session.exec(query))

        return await self.store.call(work)

    async def reached(
        self, deliveries: Collection[str], seen_key: Callable[[str], str]
    ) -> set[str]:
        """Which of these delivery GUIDs reached the bot, on any replica: one that started
        or found a run (its job row), or one claimed in the seen-requests table (kept
        10 minutes) under ``seen_key(guid)``. GitHub lists a delivery answered after its
        10 s as failed, though the bot has it: such a one must not be redelivered."""
        guids = list(deliveries)
        if not guids:
            return set()
        keys = {seen_key(guid): guid for guid in guids}

        def work(session: Session) -> set[str]:
            jobs = select(GitHubJob.delivery).where(col(GitHubJob.delivery).in_(guids))
            seen = select(SeenRequest.key).where(col(SeenRequest.key).in_(list(keys)))
            return set(session.exec(jobs)) | {keys[key] for key in session.exec(seen)}

        return await self.store.call(work)
