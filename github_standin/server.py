"""``GitHubStandIn``: GitHub's side of a custom deployment protection rule, over real HTTP
on 127.0.0.1.

The App's client talks to it as to api.github.com (``api_url`` as its base URL): it mints
installation tokens for a valid App JWT and takes the rule's decisions and progress
comments under GitHub's rules. Tests register waiting jobs, send signed webhooks to the
bot (``deliver``/``redeliver``), inject faults and read what happened (``calls``,
``job(...)``, ``hooks.deliveries``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from github_standin import payloads, webpage
from github_standin.app import App, IssuedToken, jwt_problem, utcnow
from github_standin.hooks import Delivery, Hooks
from github_standin.reviews import WaitingJob, check_body, job_key, review
from slack_standin.serving import Served

DOCS = "https://docs.github.com/rest"


def github_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """GitHub's error shape: ``message``, ``documentation_url``, ``status``."""
    body = {"message": message, "documentation_url": DOCS, "status": str(status)}
    return JSONResponse(body, status_code=status, headers=headers)


@dataclass
class RecordedCall:
    """One API call: which route (``access_tokens``, ``review``, ``deliveries``), the
    parsed JSON body, and the status answered."""

    route: str
    path: str
    body: Any
    status: int
    at: datetime


@dataclass
class _Fault:
    status: int
    retry_after: int | None
    route: str | None


class GitHubStandIn(Served):
    """One GitHub App with its installations, waiting jobs and webhook."""

    def __init__(
        self,
        *,
        app: App | None = None,
        webhook_url: str = "",
        installations: dict[int, str] | None = None,
        token_ttl: int = 3600,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.app_info = app or App()
        for inst_id, account in (installations or {42: "acme"}).items():
            self.app_info.install(inst_id, account)
        self.token_ttl = token_ttl
        self.clock = clock
        self.hooks = Hooks(self.app_info.webhook_secret, webhook_url)
        self.jobs: dict[tuple[str, str, int, str], WaitingJob] = {}
        self.calls: list[RecordedCall] = []
        self._faults: list[_Fault] = []
        self._redelivering: set[asyncio.Task[Delivery]] = set()
        self.app = Starlette(
            routes=[
                Route("/", self._page, methods=["GET"]),
                Route(
                    "/app/installations/{installation_id:int}/access_tokens",
                    self._access_token,
                    methods=["POST"],
                ),
                Route(
                    "/repos/{owner}/{repo}/actions/runs/{run_id:int}/deployment_protection_rule",
                    self._review,
                    methods=["POST"],
                ),
                Route("/app/hook/deliveries", self._deliveries, methods=["GET"]),
                Route(
                    "/app/hook/deliveries/{delivery_id:int}/attempts",
                    self._redeliver_call,
                    methods=["POST"],
                ),
            ]
        )
        self._serve(self.app)

    @property
    def url(self) -> str:
        """The API base URL (``PREPROD_GITHUB_API_URL``), without a trailing slash."""
        return f"http://127.0.0.1:{self.server.port}"

    # -- configuration and inspection --------------------------------------------------

    def add_job(
        self,
        owner: str,
        repo: str,
        run_id: int,
        environment: str,
        *,
        installation_id: int = 42,
        sha: str = "6dcb09b5b57875f334f61aebed695e2e4193db5e",
        ref: str = "refs/heads/main",
    ) -> WaitingJob:
        """A workflow job that reached ``environment`` and now waits on the App's rule."""
        job = WaitingJob(owner, repo, run_id, environment, installation_id, sha, ref)
        self.jobs[job.key] = job
        return job

    def job(self, owner: str, repo: str, run_id: int, environment: str) -> WaitingJob:
        return self.jobs[job_key(owner, repo, run_id, environment)]

    def calls_to(self, route: str) -> list[RecordedCall]:
        return [c for c in self.calls if c.route == route]

    def fail(self, times: int = 1, status: int = 503, route: str | None = None) -> None:
        """The next ``times`` calls (to ``route``, or any) answer ``status`` (5xx)."""
        self._faults.extend([_Fault(status, None, route)] * times)

    def rate_limit(self, times: int = 1, retry_after: int = 1, route: str | None = None) -> None:
        """The next ``times`` calls answer 429 with ``retry-after`` (a secondary limit)."""
        self._faults.extend([_Fault(429, retry_after, route)] * times)

    def requested_payload(self, job: WaitingJob, deployment_id: int | None = None) -> Any:
        """The ``deployment_protection_rule`` ``requested`` payload GitHub sends for ``job``."""
        return payloads.protection_rule_requested(
            self.url,
            owner=job.owner,
            repo=job.repo,
            run_id=job.run_id,
            environment=job.environment,
            installation_id=job.installation_id,
            sha=job.sha,
            ref=job.ref,
            event=job.event,
            deployment_id=deployment_id,
        )

    async def deliver(self, event: str, payload: Any) -> Delivery:
        """POST a signed webhook to ``hooks.url``; the attempt is recorded and returned."""
        return await self.hooks.deliver(self._http(), event, payload)

    async def request_review(self, job: WaitingJob, deployment_id: int | None = None) -> Delivery:
        return await self.deliver(
            "deployment_protection_rule", self.requested_payload(job, deployment_id)
        )

    async def redeliver(self, guid: str) -> Delivery:
        """Send the delivery ``guid`` again, same body and GUID, marked as a redelivery."""
        return await self.hooks.redeliver(self._http(), guid)

    async def stop(self) -> None:
        """Redeliveries still under way are cut off with the server."""
        for task in list(self._redelivering):
            task.cancel()
        await asyncio.gather(*self._redelivering, return_exceptions=True)
        await super().stop()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("the GitHub stand-in is not started")
        return self._client

    # -- HTTP handlers -----------------------------------------------------------------

    def _fault(self, route: str) -> Response | None:
        for i, fault in enumerate(self._faults):
            if fault.route in (None, route):
                del self._faults[i]
                if fault.status == 429:
                    headers = {"retry-after": str(fault.retry_after or 0)}
                    return github_error(429, "You have exceeded a secondary rate limit.", headers)
                return github_error(fault.status, "Server Error")
        return None

    async def _record(self, route: str, request: Request, body: Any, answer: Response) -> Response:
        self.calls.append(
            RecordedCall(route, request.url.path, body, answer.status_code, self.clock())
        )
        return answer

    def _bearer(self, request: Request) -> str | None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return value.strip() if scheme.lower() in ("bearer", "token") and value else None

    def _app_jwt_problem(self, request: Request) -> str | None:
        token = self._bearer(request)
        if token is None:
            return "A JSON web token could not be decoded"
        return jwt_problem(token, self.app_info, self.clock())

    async def _json(self, request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            return None

    async def _access_token(self, request: Request) -> Response:
        body = await self._json(request)
        answer = self._fault("access_tokens") or self._mint(request)
        return await self._record("access_tokens", request, body, answer)

    def _mint(self, request: Request) -> Response:
        problem = self._app_jwt_problem(request)
        if problem is not None:
            return github_error(401, problem)
        inst_id = request.path_params["installation_id"]
        if inst_id not in self.app_info.installations:
            return github_error(404, "Not Found")
        issued = self.app_info.issue_token(inst_id, self.clock(), self.token_ttl)
        return JSONResponse(
            {
                "token": issued.token,
                "expires_at": issued.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "permissions": {"actions": "read", "deployments": "write"},
                "repository_selection": "all",
            },
            status_code=201,
        )

    async def _review(self, request: Request) -> Response:
        body = await self._json(request)
        answer = self._fault("review") or self._answer_review(request, body)
        return await self._record("review", request, body, answer)

    def _answer_review(self, request: Request, body: Any) -> Response:
        token = self._bearer(request)
        issued: IssuedToken | None = (
            None if token is None else self.app_info.token_for(token, self.clock())
        )
        if issued is None:
            return github_error(401, "Bad credentials")
        refusal = check_body(body)
        if refusal is not None:
            return github_error(422, refusal.message)
        params = request.path_params
        key = job_key(params["owner"], params["repo"], params["run_id"], body["environment_name"])
        job = self.jobs.get(key)
        if job is None:
            return github_error(404, "Not Found")
        if job.installation_id != issued.installation_id:
            return github_error(403, "Resource not accessible by integration")
        refusal = review(job, body, self.clock())
        if refusal is not None:
            return github_error(422, refusal.message)
        return Response(status_code=204)

    async def _deliveries(self, request: Request) -> Response:
        answer = self._fault("deliveries")
        if answer is None:
            problem = self._app_jwt_problem(request)
            if problem is not None:
                answer = github_error(401, problem)
            else:
                recent = [d.summary() for d in reversed(self.hooks.deliveries) if d.done]
                answer = JSONResponse(recent[: _per_page(request)])
        return await self._record("deliveries", request, None, answer)

    async def _redeliver_call(self, request: Request) -> Response:
        problem = self._app_jwt_problem(request)
        delivery = self.hooks.by_id(request.path_params["delivery_id"])
        fault = self._fault("deliveries")
        if fault is not None:
            answer = fault
        elif problem is not None:
            answer = github_error(401, problem)
        elif delivery is None:
            answer = github_error(404, "Not Found")
        else:  # as GitHub: accepted at once, sent afterwards
            task = asyncio.create_task(self.redeliver(delivery.guid))
            self._redelivering.add(task)
            task.add_done_callback(self._redelivering.discard)
            answer = JSONResponse({}, status_code=202)
        return await self._record("deliveries", request, None, answer)

    async def _page(self, request: Request) -> Response:
        html = webpage.render(self.app_info.slug, self.jobs.values(), self.hooks.deliveries)
        return HTMLResponse(html)


def _per_page(request: Request) -> int:
    try:
        return max(1, min(100, int(request.query_params.get("per_page", "30"))))
    except ValueError:
        return 30
