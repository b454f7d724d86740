"""Where deployment tools plug into the API, each answering in its own protocol
(see /work/shared/PIPELINES.md and the README's snippets):

- Argo Rollouts' ``web`` metric reads ``{"decision"}`` (any non-2xx is an Error
  measurement, so a pending run is a 200 ``pending``: Inconclusive, the rollout waits);
- Flagger's ``confirm-rollout`` / ``confirm-promotion`` approve only on 200-202: 200 on
  GO, 403 otherwise (pending included), the run named by its metadata;
- Spinnaker's Webhook stage starts a run (201, ``Location``) and polls
  ``/api/v1/runs/{id}`` with ``statusJsonPath: $.decision``."""

from __future__ import annotations

from typing import Protocol

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from bot.input_limits import is_run_id
from bot.store.models import Run
from bot.store.requests import Requests
from bot.store.tokens import Caller
from bot.web.api_http import ApiError, answer, idempotency_key, read_json
from bot.web.api_models import (
    ArgoView,
    FlaggerAnswer,
    FlaggerBody,
    RunRequestBody,
    RunView,
    SpinnakerAnswer,
)
from bot.web.api_view import API

EXECUTION_HEADER = "x-spinnaker-execution-id"


class SpinnakerBody(RunRequestBody):
    """``/api/v1/requests``' body, plus the pipeline execution's id (``${execution.id}``),
    which makes a retried stage the same run when no Idempotency-Key is sent."""

    execution_id: str | None = Field(default=None, min_length=1, max_length=100)


class RunsApi(Protocol):
    """What the anchors use of the API (bot/web/api.py ``Api``): its runs, as the token
    may read them, and its requests."""

    requests: Requests

    async def readable(self, caller: Caller, run_id: int) -> Run: ...

    async def view(self, run_id: int) -> RunView: ...

    async def start(
        self, caller: Caller, body: RunRequestBody, key: str | None
    ) -> tuple[RunView, bool]: ...


class Anchors:
    def __init__(self, api: RunsApi) -> None:
        self.api = api

    async def argo(self, request: Request, caller: Caller) -> Response:
        run_id = int(request.path_params["run_id"])
        await self.api.readable(caller, run_id)
        view = await self.api.view(run_id)
        return answer(ArgoView(decision=view.decision))

    async def flagger(self, request: Request, caller: Caller) -> Response:
        body = await read_json(request, FlaggerBody)
        run = await self._flagger_run(caller, body.metadata)
        if run is None or run.id is None:
            return answer(
                FlaggerAnswer(
                    run=None,
                    decision=None,
                    message="no run in this token's scope matches the metadata",
                ),
                403,
            )
        view = await self.api.view(run.id)
        if view.decision == "go":
            return answer(FlaggerAnswer(run=run.id, decision="go", message="GO"))
        message = f"run #{run.id} is {view.decision.upper()}"
        return answer(FlaggerAnswer(run=run.id, decision=view.decision, message=message), 403)

    async def _flagger_run(self, caller: Caller, metadata: dict[str, str]) -> Run | None:
        """By ``run`` (an id), else the newest run of ``service``, ``version`` and
        ``environment``; only within the token's scope."""
        run: Run | None = None
        if (number := metadata.get("run", "").strip()).isdigit():
            try:
                run = await self.api.readable(caller, int(number))
            except ApiError:
                return None
        elif all(metadata.get(k) for k in ("service", "version", "environment")):
            run = await self.api.requests.newest(
                metadata["service"], metadata["version"], metadata["environment"]
            )
        if run is None or not caller.scope.allows(run.service, run.environment):
            return None
        return run if run.id is not None and is_run_id(run.id) else None

    async def spinnaker(self, request: Request, caller: Caller) -> Response:
        key = idempotency_key(request, required=False)
        body = await read_json(request, SpinnakerBody)
        execution = request.headers.get(EXECUTION_HEADER) or body.execution_id
        if key is None and execution:
            key = f"spinnaker:{execution}"[:200]
        plain = RunRequestBody.model_validate(body.model_dump(exclude={"execution_id"}))
        view, created = await self.api.start(caller, plain, key)
        status_url = f"{API}/runs/{view.id}"
        reply = SpinnakerAnswer(id=view.id, status_url=status_url, decision=view.decision)
        return answer(reply, 201 if created else 200, {"Location": status_url})
