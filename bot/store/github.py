"""What the GitHub adapter keeps: the workflow job each run answers, and the answers it
owes GitHub, recorded before they are sent (an outbox for GitHub).

An answer is recorded under a key that names it (``github:7:decision``), claimed by the
process that sends it (``claimed_at``), and marked ``answered_at`` once GitHub took it. A
crash or a 5xx leaves it unanswered; the reconciler sends it again once its claim is
stale. Knows nothing of GitHub's API: plain rows."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, update
from sqlmodel import Session, col, select

from bot.store.models import DecisionRecord, GitHubAnswer, GitHubJob, SeenRequest
from bot.store.runs import RunStore
from bot.store.unique import insert_once

GITHUB_TOKEN_ID = 0
"""The ``apirequest.token_id`` of GitHub's requests (pipeline tokens count from 1): the
key ``github:<repo>:<workflow run>:<environment>`` makes a redelivery the same run."""


def decision_key(run_id: int) -> str:
    """The key of the answer to a run's first decision; a decision after a reopen adds
    its round (bot/gate/rounds.py): ``github:7:decision:123``."""
    return f"github:{run_id}:decision"


def rerun_key(run_id: int | str, delivery: str) -> str:
    """The progress comment to a re-run of the job (``delivery``, a GUID) that follows
    its reopened run; it also records that the delivery reached the bot."""
    return f"github:{run_id}:rerun:{delivery}"


DECISIONS = "github:{}:decision%"
"""A LIKE pattern of every decision answer of a run (the first and those after reopens)."""


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
        process died between the decision and the listener, or nobody listened), or
        with a re-run of the job still waiting for their decision."""

        def work(session: Session) -> list[int]:
            owed = select(GitHubAnswer.run_id).where(col(GitHubAnswer.state).is_not(None))
            query = (
                select(GitHubJob.run_id)
                .join(DecisionRecord, col(DecisionRecord.run_id) == col(GitHubJob.run_id))
                .where(
                    or_(
                        col(GitHubJob.run_id).not_in(owed),
                        col(GitHubJob.rerun_delivery).is_not(None),
                    )
                )
                .order_by(col(GitHubJob.run_id))
                .limit(limit)
            )
            return list(session.exec(query))

        return await self.store.call(work)

    # -- a NO-GO reopened after GitHub took its rejection -------------------------------

    async def told(self, run_id: int, but: str | None = None) -> GitHubAnswer | None:
        """The newest decision of the run GitHub took (other than the answer ``but``):
        GitHub keeps it for the job's attempt that heard it."""

        def work(session: Session) -> GitHubAnswer | None:
            query = (
                select(GitHubAnswer)
                .where(
                    col(GitHubAnswer.run_id) == run_id,
                    col(GitHubAnswer.key).like(DECISIONS.format(run_id)),
                    col(GitHubAnswer.state).is_not(None),
                    col(GitHubAnswer.answered_at).is_not(None),
                )
                .order_by(col(GitHubAnswer.answered_at).desc())
            )
            if but is not None:
                query = query.where(col(GitHubAnswer.key) != but)
            return session.exec(query).first()

        return await self.store.call(work)

    async def closed_to(self, run_id: int, key: str) -> tuple[GitHubJob, GitHubAnswer] | None:
        """The job and the earlier decision GitHub took, when the decision ``key`` (one
        after a reopen) has nobody to go to: GitHub keeps that earlier answer, no re-run
        of the job waits, and ``key`` was never owed. None when it goes to GitHub."""
        job = await self.job(run_id)
        if job is None or job.rerun_delivery is not None or await self.get(key) is not None:
            return None
        told = await self.told(run_id, but=key)
        return None if told is None else (job, told)

    async def withdraw(self, run_id: int, keep: str, stale_after: float) -> int:
        """Delete the run's decision answers GitHub never took, but ``keep`` and any a
        process is sending now (claimed within ``stale_after``): decisions a reopen set
        aside, which must never reach the job. How many went."""
        query = delete(GitHubAnswer).where(
            col(GitHubAnswer.run_id) == run_id,
            col(GitHubAnswer.key).like(DECISIONS.format(run_id)),
            col(GitHubAnswer.key) != keep,
            col(GitHubAnswer.state).is_not(None),
            col(GitHubAnswer.answered_at).is_(None),
            or_(
                col(GitHubAnswer.claimed_at).is_(None),
                col(GitHubAnswer.claimed_at) < self.store.clock.sql_in(-stale_after),
            ),
        )
        return await self._count(query)

    async def forget(self, key: str) -> bool:
        """Delete the answer ``key`` unless GitHub took it (a decision set aside while it
        waited to be sent); True if it went."""
        query = delete(GitHubAnswer).where(
            col(GitHubAnswer.key) == key, col(GitHubAnswer.answered_at).is_(None)
        )
        return bool(await self._count(query))

    async def await_rerun(self, run_id: int, delivery: str) -> None:
        """A re-run of the run's job (``delivery``) now waits for the run's next decision."""
        query = (
            update(GitHubJob).where(col(GitHubJob.run_id) == run_id).values(rerun_delivery=delivery)
        )
        await self._count(query)

    async def rerun_owed(self, run_id: int, delivery: str) -> None:
        """The re-run ``delivery`` has its decision owed: it no longer waits."""
        query = (
            update(GitHubJob)
            .where(col(GitHubJob.run_id) == run_id, col(GitHubJob.rerun_delivery) == delivery)
            .values(rerun_delivery=None)
        )
        await self._count(query)

    async def _count(self, query: Any) -> int:
        def work(session: Session) -> int:
            result = session.connection().execute(query)
            session.commit()
            return int(result.rowcount)

        return await self.store.call(work)

    async def reached(
        self, deliveries: Collection[str], seen_key: Callable[[str], str]
    ) -> set[str]:
        """Which of these delivery GUIDs reached the bot, on any replica: one that started
        or found a run (its job row), a re-run of a job that followed its reopened run
        (the progress comment owed to it, :func:`rerun_key`), or one claimed in the
        seen-requests table (kept 10 minutes) under ``seen_key(guid)``. GitHub lists a
        delivery answered after its 10 s as failed, though the bot has it: such a one must
        not be redelivered."""
        guids = list(deliveries)
        if not guids:
            return set()
        keys = {seen_key(guid): guid for guid in guids}

        def work(session: Session) -> set[str]:
            jobs = select(GitHubJob.delivery).where(col(GitHubJob.delivery).in_(guids))
            seen = select(SeenRequest.key).where(col(SeenRequest.key).in_(list(keys)))
            reruns = select(GitHubAnswer.key).where(
                or_(*(col(GitHubAnswer.key).like(rerun_key("%", guid)) for guid in guids))
            )
            found = {key.rsplit(":", 1)[1] for key in session.exec(reruns)}
            return set(session.exec(jobs)) | {keys[key] for key in session.exec(seen)} | found

        return await self.store.call(work)
