"""The reconciler: what a crash, an outage or a lost webhook left undone, found and done
on a beat. Runs decided with no decision owed (the process died between the decision
and the listener, or the run was cancelled) are answered; answers GitHub never took
are sent again once their claim is stale; protection-rule deliveries that never got a
2xx and never reached the bot are redelivered through the App's delivery list.

"Never reached the bot" is the bot's own record, not GitHub's list alone: GitHub lists a
delivery the bot answered after its 10 s as failed, and redelivering those (the bot
under load answers the redelivery late too) repeated them every cooldown, for days."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from bot.gate.actions import Gate
from bot.github.answers import GitHubAnswers
from bot.github.client import GitHubProblem
from bot.github.deliveries import AppDeliveries, to_redeliver
from bot.github.webhook import seen_key
from bot.store.models import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reconciled:
    """What one pass did."""

    decided: int = 0
    resent: int = 0
    redelivered: int = 0


class Reconciler:
    def __init__(
        self, answers: GitHubAnswers, gate: Gate, deliveries: AppDeliveries | None
    ) -> None:
        self.answers = answers
        self.gate = gate
        self.deliveries = deliveries

    async def run_once(self) -> Reconciled:
        store = self.answers.github
        decided = 0
        for run_id in await store.decided_unowed():
            await self.answers.decided((await self.gate.load(run_id)).gate)
            decided += 1
        resent = 0
        stale = self.answers.stale_after
        since = store.store.clock.now() - timedelta(seconds=stale)  # compared with stored claims
        for answer in await store.unanswered(since):
            if await store.claim(answer.key, stale):
                resent += await self.answers.resend(answer)
        return Reconciled(decided, resent, await self.redeliver())

    async def redeliver(self) -> int:
        if self.deliveries is None:
            return 0
        try:
            failed = to_redeliver(await self.deliveries.recent(), utcnow())
        except GitHubProblem as problem:
            log.warning("github: the App's deliveries could not be listed: %s", problem)
            return 0
        reached = await self.answers.github.reached([a.guid for a in failed], seen_key)
        for attempt in failed:
            if attempt.guid in reached:
                log.debug("github: %s was answered late, not lost", attempt.guid)
        chosen = [attempt for attempt in failed if attempt.guid not in reached]
        done = 0
        for attempt in chosen:
            try:
                await self.deliveries.redeliver(attempt.id)
            except GitHubProblem as problem:
                log.warning("github: delivery %s not redelivered: %s", attempt.guid, problem)
                continue
            log.info("github: redelivered %s (it never reached the bot)", attempt.guid)
            done += 1
        return done

    async def forever(self, every: float) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("github: reconciling failed; trying again later")
            await asyncio.sleep(every)
