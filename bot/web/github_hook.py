"""``POST /github/webhook``: the GitHub App's webhook, registered when the App is
configured. A ``deployment_protection_rule`` ``requested`` delivery starts (or finds)
the run the config maps the repository's environment to, exactly as a pipeline's API
request does (bot/web/api.py), with GitHub as its source.

Order: the body is read up to a bound and its ``X-Hub-Signature-256`` checked before
anything is parsed (401, nothing started); the ``X-GitHub-Delivery`` GUID is claimed in
the seen-requests table (a repeat is a quiet 200; the claim is let go if the work
fails, so a redelivery is handled); the run is stored under the workflow run and
environment as idempotency key (a new delivery for a job whose run was decided is a
re-run of the job: a new run, which the key then names; unless the run was reopened
after GitHub took its decision and GitHub has not heard one since: then the re-run
waits on that run, bot/github/answers.py ``rerun``), then 202 within GitHub's 10 s.
The thread opens and the "started" comment goes out in the background. An unmapped
repository or environment is answered 202, logged, and rejected on GitHub with a
comment unless the config says otherwise."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.github import comments, mapping, webhook
from bot.github.client import GitHubProblem
from bot.github.mapping import PayloadProblem, Requested
from bot.github.wiring import GitHubApp
from bot.store.github import GITHUB_TOKEN_ID, GitHubStore
from bot.store.models import GitHubJob
from bot.store.seen import SeenRequests
from bot.store.tokens import Caller, Scope
from bot.web.api import Api
from bot.web.api_http import ApiError
from bot.web.api_models import RunRequestBody
from bot.web.api_view import thread_url
from bot.web.bot import Bot

log = logging.getLogger(__name__)
PATH = "/github/webhook"
GITHUB = Caller(GITHUB_TOKEN_ID, "github", Scope("*", "*"))
"""The requester of the runs GitHub starts (``token:github``); the config's mapping is
what bounds them."""
THREAD_WAIT = 30.0
"""Seconds the "started" comment waits for the run's Slack thread to open."""
THREAD_POLL, THREAD_POLL_MAX = 0.5, 4.0
"""The first and the longest pause between reads of a thread opened elsewhere."""


def _json(status: int, **body: Any) -> JSONResponse:
    return JSONResponse(body, status_code=status)


class GitHubHook:
    def __init__(self, bot: Bot, api: Api, github: GitHubApp) -> None:
        self.bot = bot
        self.api = api
        self.github = github
        self.store = GitHubStore(bot.store)
        self.seen = SeenRequests(bot.store)
        self.background: set[asyncio.Task[None]] = set()

    def routes(self) -> list[Route]:
        return [Route(PATH, self.receive, methods=["POST"])]

    async def receive(self, request: Request) -> Response:
        try:
            body = await webhook.read_bounded(request.stream())
            hook = webhook.check(request.headers, body, self.github.settings.webhook_secret)
        except webhook.WebhookProblem as exc:
            log.warning("github: refused a webhook (%s): %s", exc.status, exc)
            return _json(exc.status, error=str(exc))
        if hook.event == "ping":
            return _json(200, ok="pong")
        if hook.event != mapping.EVENT or hook.action != mapping.ACTION:
            return _json(202, ignored=f"{hook.event} {hook.action or ''}".strip())
        key = webhook.seen_key(str(hook.delivery))
        if not await self.seen.first_time(key):
            log.info("github: delivery %s seen already", hook.delivery)
            return _json(200, duplicate=str(hook.delivery))
        try:
            return await self.requested(hook)
        except PayloadProblem as exc:
            log.warning("github: delivery %s names no job: %s", hook.delivery, exc)
            return _json(400, error=str(exc))
        except Exception:
            await self.store.forget_seen(key)  # a redelivery must be handled again
            log.exception("github: delivery %s failed", hook.delivery)
            return _json(500, error="the delivery could not be handled; redeliver it")

    async def requested(self, hook: webhook.Webhook) -> Response:
        job = mapping.requested(hook.payload)
        target = mapping.mapped(self.bot.config, job)
        where = f"{job.repository} environment {job.target.environment}"
        if target is None:
            log.warning("github: no mapping for %s (delivery %s)", where, hook.delivery)
            github = self.bot.config.github
            if github is None or github.reject_unmapped:
                self._later(self._refuse(job, f"preprod has no mapping for {where}."))
            return _json(202, unmapped=where)
        asked = mapping.run_asked(job, target)
        try:
            body = RunRequestBody.model_validate(
                {
                    "service": asked.service,
                    "version": asked.version,
                    "environment": asked.environment,
                    "plan": asked.plan,
                    "commit": asked.commit,
                    "source": asked.source,
                }
            )
        except ValidationError as exc:
            raise PayloadProblem(_first(exc)) from None
        try:  # more reads only for a job seen before: was it re-run, its run decided?
            run_id, created = await self.api.request(GITHUB, body, job.key)
            known = None if created else await self.store.job(run_id)
            if known is not None and known.delivery != str(hook.delivery):
                decided = (await self.api.view(run_id)).decision != "pending"
                if await self.github.answers.rerun(run_id, str(hook.delivery)):
                    # re-run after GitHub took a decision the run's reopen set aside
                    log.info("github: %s re-run waits on the reopened run %s", where, run_id)
                    self._later(self._answer_rerun(run_id))
                elif decided:
                    # the job was re-run after its run was decided: a run of its own
                    rerun = job.rerun_key(str(hook.delivery))
                    run_id, created = await self.api.request(GITHUB, body, rerun)
                    await self.api.requests.settle(GITHUB.id, job.key, run_id)  # the latest
        except ApiError as exc:
            if exc.status == 409 and exc.code == "in_progress":
                raise
            log.warning("github: %s refused: %s", where, exc.message)
            self._later(self._refuse(job, f"preprod refused {where}: {exc.message}"))
            return _json(202, refused=exc.message)
        t = job.target
        await self.store.record_job(
            GitHubJob(
                run_id=run_id,
                owner=t.owner,
                repo=t.repo,
                workflow_run=t.run_id,
                environment=t.environment,
                installation_id=t.installation_id,
                delivery=str(hook.delivery),
            )
        )
        if created:
            log.info("github: %s started run %s", where, run_id)
            self._later(self._started(run_id, body.service, body.version, body.environment))
        return _json(202, run=run_id, created=created)

    async def _started(self, run_id: int, service: str, version: str, environment: str) -> None:
        """The "started" comment, with the thread's link once it is open.

        It waits for the opening itself, then reads the thread; only a thread opened
        elsewhere (a worker, Slack slow) is polled, backing off. Polling every 0.2 s
        from the start, a burst of 200 deliveries made ~1,000 reads a second for as long
        as Slack's pace kept their threads closed, in the thread pool that every
        request's reads queue in (their 2xx and the clicks' acks waited behind them)."""
        loop = asyncio.get_running_loop()
        until = loop.time() + THREAD_WAIT
        await self.api.opened(run_id, THREAD_WAIT)
        thread = await self.bot.store.get_thread(run_id)
        pause = THREAD_POLL
        while thread is None and loop.time() < until:
            await asyncio.sleep(min(pause, max(until - loop.time(), 0.0)))
            pause = min(pause * 2, THREAD_POLL_MAX)
            thread = await self.bot.store.get_thread(run_id)
        await self.github.answers.started(run_id, service, version, environment, thread_url(thread))

    async def _answer_rerun(self, run_id: int) -> None:
        """A re-run of a job whose reopened run is decided already gets that decision
        now (one still pending gets it from the gate listener)."""
        loaded = await self.bot.gate.load(run_id)
        if loaded.recorded is not None:
            await self.github.answers.decided(loaded.gate)

    async def _refuse(self, job: Requested, why: str) -> None:
        """Reject a job preprod will not validate, saying why (not retried: the job can be
        re-run once the config maps it)."""
        try:
            await self.github.client.reject(job.target, comments.fit(comments.md(why)))
        except GitHubProblem as problem:
            log.warning("github: could not reject %s: %s", job.key, problem)

    def _later(self, work: Any) -> None:
        task = asyncio.create_task(_logged(work))
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def aclose(self) -> None:
        for task in list(self.background):
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)


async def _logged(work: Any) -> None:
    try:
        await work
    except Exception:
        log.exception("github: background work failed")


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "request"
    return f"{where}: {error['msg']}"
