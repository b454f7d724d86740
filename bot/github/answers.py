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
from bot.gate.rounds import read_round
from bot.gate.view import GateView
from bot.github import comments
from bot.github.client import GitHubProblem, ProtectionRuleClient
from bot.github.target import DeploymentTarget
from bot.store.audit_log import AuditLog
from bot.store.gate import GateStore
from bot.store.github import GitHubStore, decision_key, rerun_key
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
    return answer.state is None or (
        "already" in str(problem) and not held_otherwise(problem, answer)
    )


def held_otherwise(problem: GitHubProblem, answer: GitHubAnswer) -> bool:
    """Whether GitHub refused a decision because the job holds the other one (an earlier
    decision of a reopened run got there first): this answer never will."""
    other = comments.REJECTED if answer.state == comments.APPROVED else comments.APPROVED
    return problem.status == 422 and "already" in str(problem) and other in str(problem)


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
        self.gates = GateStore(store)
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
        """``approved`` on GO, ``rejected`` on anything else, with who and why; once per
        decision and job attempt. A decision after a reopen first withdraws the earlier
        ones GitHub never took, and goes to GitHub only if an attempt of the job waits for
        it: GitHub keeps a decision it took, so after one the job must be re-run there
        (the Slack thread says so: bot/slack/gate_panel.py)."""
        run_id = view.run_id
        job = await self.github.job(run_id)
        if job is None:
            return
        decided = await read_round(self.audit, run_id)
        key = decided.key(decision_key(run_id))
        if decided.round is not None:
            await self.github.withdraw(run_id, keep=key, stale_after=self.stale_after)
            closed = await self.github.closed_to(run_id, key)
            if closed is not None:
                log.info(
                    "github: run %s decided again; GitHub keeps its %s for %s/%s run %s",
                    run_id, closed[1].state, job.owner, job.repo, job.workflow_run,
                )  # fmt: skip
                return
        state, text = comments.decision(view, self.page_url(run_id), decided.head)
        await self.owe(key, run_id, text, state)
        if job.rerun_delivery is not None:
            await self.github.rerun_owed(run_id, job.rerun_delivery)

    async def closed(self, run_id: int) -> bool:
        """Whether GitHub took a decision of the run and no re-run of the job waits."""
        job = await self.github.job(run_id)
        return (
            job is not None
            and job.rerun_delivery is None
            and await self.github.told(run_id) is not None
        )

    async def rerun(self, run_id: int, delivery: str) -> bool:
        """A new delivery of the run's job with a new GUID: GitHub re-ran it. True when
        that attempt waits on this run: the run was reopened after GitHub took its
        decision and has not told GitHub one since (still pending: it gets the next;
        decided with nobody to tell: it gets that one, see :meth:`decided`). False when
        GitHub heard the run's newest decision (or the run was never reopened): the
        re-run is a run of its own, as before."""
        if await self.github.get(rerun_key(run_id, delivery)) is not None:
            return True  # a redelivery of a re-run that follows the run already
        if await self.github.told(run_id) is None:
            return False
        if await self.gates.decision(run_id) is None:  # pending: reopened since GitHub's
            if await self.audit.last_of(run_id, Action.REOPEN) is None:
                return False
        else:
            decided = await read_round(self.audit, run_id)
            key = decided.key(decision_key(run_id))
            if decided.round is None or await self.github.get(key) is not None:
                return False
        await self.github.await_rerun(run_id, delivery)
        text = comments.rerun(run_id, self.page_url(run_id))
        await self.owe(rerun_key(run_id, delivery), run_id, text)
        return True

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
        if await self.closed(view.run_id):
            return  # reopened after GitHub took its decision: that job hears nothing more
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

    async def current(self, answer: GitHubAnswer) -> bool:
        """Whether a decision's answer is the run's decision now: a reopen sets it aside
        (the run is pending again, or was decided again under another key)."""
        if await self.gates.decision(answer.run_id) is None:
            return False
        decided = await read_round(self.audit, answer.run_id)
        return decided.key(decision_key(answer.run_id)) == answer.key

    async def resend(self, answer: GitHubAnswer) -> bool:
        """Send again an answer GitHub did not take (the reconciler, its claim taken); a
        decision a reopen has set aside since is withdrawn instead, never sent. (An answer
        :meth:`owe` sends is the run's current one: its key was just worked out.)"""
        if answer.state is not None and not await self.current(answer):
            if await self.github.forget(answer.key):
                log.info("github: %s withdrawn: the run was reopened", answer.key)
            return False
        return await self.send(answer)

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
            if answer.state is not None and held_otherwise(problem, answer):
                log.warning(
                    "github: %s refused, the job holds another decision (%s); a re-run of "
                    "the job in GitHub gets this one", answer.key, problem,
                )  # fmt: skip
                await self.github.forget(answer.key)
                return False
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
