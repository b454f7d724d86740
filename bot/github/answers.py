"""Answers to the waiting GitHub job, exactly once: a gate listener (like the Slack
panel's) that turns a decision into ``approved`` / ``rejected`` and the end of the
checks into a progress comment, and the sender every answer goes through.

Each answer is recorded (bot/store/github.py) under its key before GitHub is called and
marked answered after, so a crash or a 5xx never loses it (the reconciler sends what is
owed) and never doubles a decision: a 422 "already approved/rejected" after a lost
answer means GitHub took it. Other refusals of a progress comment (GitHub's limit of 10)
drop that comment; a decision is retried until GitHub takes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bot.audit.chain import Action
from bot.gate.events import GateEvent, PanelChanged, RunDecided
from bot.gate.view import GateView
from bot.github import comments
from bot.github.client import GitHubProblem, ProtectionRuleClient
from bot.github.target import DeploymentTarget
from bot.store.audit_log import AuditLog
from bot.store.github import GitHubStore, decision_key
from bot.store.models import GitHubAnswer, GitHubJob, RunStatus
from bot.store.requests import Requests
from bot.store.runs import RunStore
from checks.base import Status

log = logging.getLogger(__name__)
PROBLEMS = {status.value for status in Status if status.is_problem}
STALE_AFTER = 30.0
"""Seconds after which an answer still unanswered may be sent again by anyone."""


def target_of(job: GitHubJob) -> DeploymentTarget:
    return DeploymentTarget(
        job.owner, job.repo, job.workflow_run, job.environment, job.installation_id
    )


def settled_by(problem: GitHubProblem, answer: GitHubAnswer) -> bool:
    """Whether a refusal ends the answer: the job was decided already (the decision got
    through before, its answer lost), or a comment GitHub will never take."""
    if problem.status != 422:
        return False
    return answer.state is None or "already" in str(problem)


class GitHubAnswers:
    """Listens to the gate; sends what the runs of GitHub jobs owe GitHub."""

    def __init__(
        self,
        store: RunStore,
        client: ProtectionRuleClient,
        page_url: Callable[[int], str],
        stale_after: float = STALE_AFTER,
    ) -> None:
        self.store = store
        self.github = GitHubStore(store)
        self.audit = AuditLog(store)
        self.requests = Requests(store)
        self.client = client
        self.page_url = page_url
        self.stale_after = stale_after
        self.sending: set[asyncio.Task[None]] = set()
        self.inflight: set[str] = set()

    async def __call__(self, event: GateEvent) -> None:
        if isinstance(event, RunDecided):
            await self.decided(event.view)
        elif isinstance(event, PanelChanged):
            await self.checks_done(event.view)

    async def decided(self, view: GateView) -> None:
        """``approved`` on GO, ``rejected`` on anything else, with who and why."""
        if await self.github.job(view.run_id) is None:
            return
        head = await self.audit.last_of(view.run_id, Action.DECISION)
        state, text = comments.decision(view, self.page_url(view.run_id), head)
        await self.owe(decision_key(view.run_id), view.run_id, text, state)

    async def checks_done(self, view: GateView) -> None:
        """Once the checks are over and the run still waits for people: a progress comment."""
        if view.decision.outcome.final or await self.github.job(view.run_id) is None:
            return
        key = f"github:{view.run_id}:checks:{view.generation}"
        if await self.github.get(key) is not None:
            return
        run = await self.store.get_run(view.run_id)
        if run is None or run.status == RunStatus.RUNNING:
            return
        results = [c.status for c in await self.requests.checks(view.run_id)]
        passed = sum(s in (Status.PASSED.value, Status.WARNED.value) for s in results)
        failed = sum(s in PROBLEMS for s in results)
        text = comments.checks_done(view, passed, failed, self.page_url(view.run_id))
        await self.owe(key, view.run_id, text)

    async def started(
        self, run_id: int, service: str, version: str, environment: str, thread: str | None
    ) -> None:
        text = comments.started(
            run_id, service, version, environment, thread, self.page_url(run_id)
        )
        await self.owe(f"github:{run_id}:started", run_id, text)

    async def owe(self, key: str, run_id: int, text: str, state: str | None = None) -> None:
        """Record the answer, then send it in the background if this call may (it
        recorded it, or the one that did has been silent for ``stale_after``). The gate
        holds the run's lock while it tells listeners: GitHub's retries must not."""
        created = await self.github.owe(key, run_id, state, text)
        if not created and not await self.github.claim(key, self.stale_after):
            return
        answer = await self.github.get(key)
        if answer is not None and answer.answered_at is None:
            task = asyncio.create_task(self._sent(answer))
            self.sending.add(task)
            task.add_done_callback(self.sending.discard)

    async def _sent(self, answer: GitHubAnswer) -> None:
        try:
            await self.send(answer)
        except Exception:
            log.exception("github: %s could not be sent; the reconciler retries", answer.key)

    async def aclose(self) -> None:
        for task in list(self.sending):
            task.cancel()
        await asyncio.gather(*self.sending, return_exceptions=True)

    async def send(self, answer: GitHubAnswer) -> bool:
        """Send a claimed answer; True once GitHub has it (or settled it). An answer this
        process is sending already is left to that call (its retries outlast a claim)."""
        if answer.key in self.inflight:
            return False
        self.inflight.add(answer.key)
        try:
            return await self._send(answer)
        finally:
            self.inflight.discard(answer.key)

    async def _send(self, answer: GitHubAnswer) -> bool:
        job = await self.github.job(answer.run_id)
        if job is None:
            await self.github.failed(answer.key, "no GitHub job is recorded for the run")
            return False
        target = target_of(job)
        try:
            if answer.state == comments.APPROVED:
                await self.client.approve(target, answer.comment)
            elif answer.state == comments.REJECTED:
                await self.client.reject(target, answer.comment)
            else:
                await self.client.comment(target, answer.comment)
        except GitHubProblem as problem:
            if settled_by(problem, answer):
                log.info("github: %s settled by GitHub's refusal: %s", answer.key, problem)
                await self.github.answered(answer.key)
                return True
            log.warning("github: %s not sent (%s); the reconciler retries", answer.key, problem)
            await self.github.failed(answer.key, str(problem))
            return False
        await self.github.answered(answer.key)
        log.info(
            "github: %s sent to %s/%s run %s", answer.key, job.owner, job.repo, job.workflow_run
        )
        return True
