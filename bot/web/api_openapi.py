"""The OpenAPI 3.1 document of ``/api/v1``, built from the pydantic models: the table
:data:`OPERATIONS` says which path and method take and give which model, and
``tests/test_api_openapi.py`` checks it against the app's routes both ways."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.web.api_anchors import SpinnakerBody
from bot.web.api_models import (
    ArgoView,
    ErrorBody,
    FlaggerAnswer,
    FlaggerBody,
    RunRequestBody,
    RunView,
    SpinnakerAnswer,
)

RUN_ID = {"name": "run_id", "in": "path", "required": True, "schema": {"type": "integer"}}
WAIT = {
    "name": "wait",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 0, "maximum": 60},
    "description": "seconds to wait for the decision to change (long poll)",
}
KEY = {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "maxLength": 200}}


@dataclass(frozen=True)
class Operation:
    path: str
    method: str
    summary: str
    answers: dict[int, type[BaseModel] | None]
    body: type[BaseModel] | None = None
    parameters: tuple[dict[str, Any], ...] = ()
    public: bool = False
    errors: tuple[int, ...] = field(default=(401,))


OPERATIONS = (
    Operation(
        "/api/v1/requests",
        "post",
        "Request a run (as /preprod start does)",
        {201: RunView, 200: RunView},
        RunRequestBody,
        ({**KEY, "required": True},),
        errors=(400, 401, 403, 409, 413, 422),
    ),
    Operation(
        "/api/v1/runs/{run_id}",
        "get",
        "A run, optionally waiting for its decision",
        {200: RunView},
        None,
        (RUN_ID, WAIT),
        errors=(400, 401, 404),
    ),
    Operation(
        "/api/v1/runs/{run_id}/argo",
        "get",
        "Argo Rollouts web metric",
        {200: ArgoView},
        None,
        (RUN_ID,),
        errors=(401, 404),
    ),
    Operation(
        "/api/v1/flagger",
        "post",
        "Flagger confirm-rollout / confirm-promotion gate",
        {200: FlaggerAnswer, 403: FlaggerAnswer},
        FlaggerBody,
        errors=(400, 401, 413, 422),
    ),
    Operation(
        "/api/v1/spinnaker",
        "post",
        "Spinnaker Webhook stage (wait for completion)",
        {201: SpinnakerAnswer, 200: SpinnakerAnswer},
        SpinnakerBody,
        ({**KEY, "required": False},),
        errors=(400, 401, 403, 409, 413, 422),
    ),
    Operation("/api/v1/openapi.json", "get", "This document", {200: None}, public=True, errors=()),
)


@cache
def document() -> dict[str, Any]:
    models = {m for op in OPERATIONS for m in (op.body, *op.answers.values()) if m is not None}
    models.add(ErrorBody)
    keyed: list[tuple[type[BaseModel], Literal["validation"]]] = [
        (m, "validation") for m in sorted(models, key=lambda m: m.__name__)
    ]
    _, defs = models_json_schema(keyed, ref_template="#/components/schemas/{model}")
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        responses: dict[str, Any] = {}
        for status, model in op.answers.items():
            content = {"application/json": {"schema": _ref(model) if model else {}}}
            responses[str(status)] = {"description": str(status), "content": content}
        for status in op.errors:
            content = {"application/json": {"schema": _ref(ErrorBody)}}
            responses.setdefault(str(status), {"description": str(status), "content": content})
        entry: dict[str, Any] = {"summary": op.summary, "responses": responses}
        if op.parameters:
            entry["parameters"] = list(op.parameters)
        if op.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _ref(op.body)}},
            }
        if not op.public:
            entry["security"] = [{"pipelineToken": []}]
        paths.setdefault(op.path, {})[op.method] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "preprod pipelines API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "pipelineToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "ppt_<id>_<secret> from `preprod tokens create`",
                }
            },
        },
    }


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


async def openapi(request: Request) -> Response:
    return JSONResponse(document())
