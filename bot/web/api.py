"""The pipelines' HTTP API under ``/api/v1``: JSON, a pipeline token (``Authorization:
Bearer ppt_…``) and nothing else. A web session cookie or a Slack signature opens
nothing here, and the pages never read a token.

A request starts a run exactly as ``/preprod start`` does (the plan, the release
channel's thread, the gate), with the token's name as requester (``token:NAME``); its
``Idempotency-Key`` makes a retried request the same run. A run outside the token's
scope is answered 404, as if it did not exist. Errors are ``{"error": {"code",
"message"}}``. Anchors for Argo Rollouts, Flagger and Spinnaker are in
bot/web/api_anchors.py; the OpenAPI document in bot/web/api_openapi.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.engine.request import RequestError, RunRequest
from bot.gate.refusals import Refused
from bot.input_limits import is_run_id
from bot.slack.opening import ReplyError
from bot.store.audit import Note
from bot.store.audit_log import AuditLog
from bot.store.models import Run
from bot.store.requests import CLAIMED, Requests
from bot.store.tokens import Caller, Tokens
from bot.web.api_anchors import Anchors
from bot.web.api_http import (
    ApiError,
    answer,
    encoded,
    error,
    idempotency_key,
    json_body,
    read_json,
)
from bot.web.api_models import RunRequestBody, RunView
from bot.web.api_openapi import openapi
from bot.web.api_view import API, Viewer, superseded_reason
from bot.web.api_wait import MAX_WAIT, Shared, Waiters
from bot.web.bot import Bot

log = logging.getLogger(__name__)
CLAIM_WAIT = 5.0
"""Seconds a repeated key waits for the first request with it to store its run."""
RUN_SOURCE = "slack"
"""A requested run lives in Slack as a ``/preprod start`` does (its thread, its panel,
reminders to its signers), so it is stored with the same source: ``serve --workers``'
workers and other replicas resume only runs of that source (``Leases.orphaned``), and
with another one they never executed it. The pipeline that asked is the run's
``origin``."""


def stopped_poll() -> Response:
    """The answer to a long poll that ``serve``'s graceful stop cut short: uvicorn cancels
    the requests still held when its grace (``REQUEST_GRACE_S``) runs out, and a
    cancelled handler is answered 500, which ends a pipeline's wait (exit 5). A 503 with
    ``Retry-After`` says come back: the pipeline retries until the gate (restarted, or
    another replica) answers. The cancellation is the server's and ends here."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()
    log.info("a long poll was cut short by the stop; answered 503")
    return error(503, "stopping", "the gate is stopping; retry", retry_after=1)


class Api:
    """The ``/api/v1`` routes of one process."""

    def __init__(self, bot: Bot, waiters: Waiters | None = None) -> None:
        self.bot = bot
        self.tokens = Tokens(bot.store)
        self.requests = Requests(bot.store)
        self.audit = AuditLog(bot.store)
        self.waiters = waiters or Waiters(self.requests)
        self.viewer = Viewer(bot.store, bot.gate, bot.settings.public_url)
        self.background: set[asyncio.Task[Any]] = set()
        self.building: dict[tuple[int, str], asyncio.Task[bytes]] = {}
        self.opening: dict[int, asyncio.Task[None]] = {}
        """Run id -> the task opening its thread, while it runs."""
        self.shared_callers: Shared[str, Caller | None] = Shared()
        self.shared_runs: Shared[int, Run | None] = Shared()
        self.shared_views: Shared[int, RunView] = Shared()
        # the decision reaches waiters by the gate's events, before Slack is told
        bot.gate.add_listener(self.waiters, first=True)

    def routes(self) -> list[Route]:
        anchors = Anchors(self)
        return [
            Route(f"{API}/requests", self._guarded(self.create), methods=["POST"]),
            Route(f"{API}/runs/{{run_id:int}}", self._guarded(self.read), methods=["GET"]),
            Route(f"{API}/runs/{{run_id:int}}/argo", self._guarded(anchors.argo), methods=["GET"]),
            Route(f"{API}/flagger", self._guarded(anchors.flagger), methods=["POST"]),
            Route(f"{API}/spinnaker", self._guarded(anchors.spinnaker), methods=["POST"]),
            Route(f"{API}/openapi.json", openapi, methods=["GET"]),
        ]

    def _guarded(
        self, handler: Callable[[Request, Caller], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                caller = await self.caller(request)
                return await handler(request, caller)
            except ApiError as exc:
                if exc.status in (401, 403):
                    log.warning(
                        "api refused %s %s: %s", request.method, request.url.path, exc.message
                    )
                return error(exc.status, exc.code, exc.message)

        return endpoint

    async def caller(self, request: Request) -> Caller:
        """The pipeline token of ``Authorization: Bearer``; nothing else is accepted."""
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise ApiError(
                401, "unauthorized", "a pipeline token (Authorization: Bearer ppt_…) is required"
            )
        secret = given.strip()
        caller = await self.shared_callers(secret, lambda: self.tokens.check(secret))
        if caller is None:
            raise ApiError(401, "unauthorized", "the token is unknown, malformed or revoked")
        return caller

    async def readable(self, caller: Caller, run_id: int) -> Run:
        """The run if the token may read it; else 404, whether it exists or not."""
        run = (
            await self.shared_runs(run_id, lambda: self.bot.store.get_run(run_id))
            if is_run_id(run_id)
            else None
        )
        if run is None or not caller.scope.allows(run.service, run.environment):
            raise ApiError(404, "not_found", f"no run #{run_id}")
        return run

    async def view(self, run_id: int) -> RunView:
        try:
            return await self.viewer.view(await self.bot.gate.load(run_id))
        except Refused:
            raise ApiError(404, "not_found", f"no run #{run_id}") from None

    # -- routes ----------------------------------------------------------------------

    async def create(self, request: Request, caller: Caller) -> Response:
        key = idempotency_key(request, required=True)
        body = await read_json(request, RunRequestBody)
        view, created = await self.start(caller, body, key)
        location = f"{API}/runs/{view.id}"
        return answer(view, 201 if created else 200, {"Location": location})

    async def read(self, request: Request, caller: Caller) -> Response:
        run_id = int(request.path_params["run_id"])
        wait = request.query_params.get("wait", "0")
        if not wait.isdigit() or int(wait) > MAX_WAIT:
            raise ApiError(400, "bad_wait", f"wait is a number of seconds from 0 to {MAX_WAIT}")
        await self.readable(caller, run_id)
        view = await self.shared_views(run_id, lambda: self.view(run_id))
        if int(wait) > 0 and view.decision == "pending":
            try:
                woken = await self.waiters.wait(run_id, view.decision, int(wait))
            except asyncio.CancelledError:
                return stopped_poll()
            if woken:
                return json_body(await self.woken_body(run_id, woken))
        return answer(view)

    async def woken_body(self, run_id: int, decision: str) -> bytes:
        """The view after ``decision``, read and encoded once for every waiter it woke (a
        thousand waiters on one run would otherwise read and encode it a thousand times
        at once)."""
        key = (run_id, decision)
        task = self.building.get(key)
        if task is None:
            task = asyncio.create_task(self._encoded(run_id))
            self.building[key] = task
            task.add_done_callback(lambda _: self.building.pop(key, None))
        return await asyncio.shield(task)

    async def _encoded(self, run_id: int) -> bytes:
        return encoded(await self.view(run_id))

    # -- starting --------------------------------------------------------------------

    async def start(
        self, caller: Caller, body: RunRequestBody, key: str | None
    ) -> tuple[RunView, bool]:
        """The run of this request: a new one (True), or the one its key started."""
        run_id, created = await self.request(caller, body, key)
        return await self.view(run_id), created

    async def request(
        self, caller: Caller, body: RunRequestBody, key: str | None
    ) -> tuple[int, bool]:
        """:meth:`start` without reading the run's view: its id, and whether it is new
        (a webhook's answer needs no more; the view is several reads)."""
        if not caller.scope.allows(body.service, body.environment):
            await self.refused(caller, body, "outside the token's scope")
            raise ApiError(
                403,
                "forbidden",
                f"the token {caller.name} may not request {body.service} on {body.environment}",
            )
        if key is not None and (earlier := await self._claim(caller, key)) is not None:
            return earlier, False
        try:
            run = await self._store(caller, body)
        except BaseException:
            if key is not None:
                await self.requests.settle(caller.id, key, None)
            raise
        assert run.id is not None
        if key is not None:
            await self.requests.settle(caller.id, key, run.id)
        await self._supersede(caller, run)
        return run.id, True

    async def _claim(self, caller: Caller, key: str) -> int | None:
        """None when this request claimed ``key``; else the run an earlier one started."""
        loop = asyncio.get_running_loop()
        until = loop.time() + CLAIM_WAIT
        while (found := await self.requests.claim(caller.id, key)) is None:
            if loop.time() > until:
                raise ApiError(
                    409,
                    "in_progress",
                    "a request with this Idempotency-Key is still starting; retry",
                )
            await asyncio.sleep(0.1)
        return None if found == CLAIMED else found

    async def _store(self, caller: Caller, body: RunRequestBody) -> Run:
        manager = self.bot.manager
        origin = body.source.model_dump(exclude_none=True)
        request = RunRequest(
            service=body.service,
            version=body.version,
            environment=body.environment,
            plan=body.plan,
            requester=caller.actor,
            source=RUN_SOURCE,
            origin=origin,
            commit=body.commit,
            keep_going=body.keep_going,
        )
        try:
            manager.engine().resolve(request)  # unknown environment, plan: the CLI's words
        except RequestError as exc:
            raise ApiError(422, "invalid", str(exc).strip("'\"")) from None
        channel = manager.channel("", body.environment)
        if not channel:
            raise ApiError(
                409, "no_channel", "no release channel is configured (channel in preprod.yml)"
            )
        run = await manager.store_run(request)  # its run.started event names token:NAME
        task = asyncio.create_task(self._open(run, request, channel))
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        run_id = run.id
        assert run_id is not None
        self.opening[run_id] = task
        task.add_done_callback(lambda _: self.opening.pop(run_id, None))
        return run

    async def opened(self, run_id: int, timeout: float) -> None:
        """Until the first try to open the thread of a run started here is over (Slack
        answered, or the run was handed to a worker), at most ``timeout`` seconds."""
        task = self.opening.get(run_id)
        if task is not None:
            await asyncio.wait([task], timeout=timeout)

    async def _open(self, run: Run, request: RunRequest, channel: str) -> None:
        try:
            await self.bot.manager.start(run, request, channel)
        except ReplyError as exc:  # Slack failing (the run goes on), or a refused channel
            log.warning("run %s: %s", run.id, exc.reply)
        except Exception:
            log.exception("run %s: its thread could not be opened", run.id)

    async def _supersede(self, caller: Caller, run: Run) -> None:
        """With ``supersede: true`` on the environment, decide the service's older
        undecided runs of other versions there as SUPERSEDED and stop their checks."""
        environment = self.bot.config.environments.get(run.environment)
        if environment is None or not environment.supersede or run.id is None:
            return
        older = await self.requests.undecided_before(run.service, run.environment, run.id)
        reason = superseded_reason(run.id, run.version)
        for old in older:
            if old.id is None or old.version == run.version:
                continue
            if await self.bot.gate.supersede(old.id, reason, caller.actor):
                await self.bot.manager.stop(old.id, caller.actor)

    async def refused(self, caller: Caller, body: RunRequestBody, why: str) -> None:
        details = {
            "service": body.service,
            "version": body.version,
            "environment": body.environment,
            "reason": why,
        }
        await self.audit.record(Note("api.refused", caller.actor, None, details))

    async def aclose(self) -> None:
        await self.waiters.aclose()
        for task in list(self.background):
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
