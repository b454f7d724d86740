"""The pipelines' API as pydantic models: what a request carries, what a run looks like
to a pipeline, and the answers of the Argo Rollouts, Flagger and Spinnaker anchors. The
OpenAPI document (bot/web/api_openapi.py) is built from these, so it cannot drift."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.input_limits import ENVIRONMENT, PLAN, SERVICE, VERSION, Name

SourceKind = Literal["github", "gitlab", "argo", "flagger", "spinnaker", "jenkins", "cli", "other"]
Decision = Literal["pending", "go", "no-go", "expired", "cancelled", "superseded"]
Status = Literal["running", "finished", "cancelled", "failed"]


def _named(name: Name, value: str) -> str:
    if problem := name.problem(value):
        raise ValueError(problem.replace("`", "'"))
    return value


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Source(_Closed):
    """Where the request comes from, shown in the run's Slack thread (escaped)."""

    kind: SourceKind
    url: str | None = Field(default=None, max_length=2000)
    triggered_by: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=200)

    @field_validator("url")
    @classmethod
    def _web(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("expected an http:// or https:// URL")
        return value


class RunRequestBody(_Closed):
    """``POST /api/v1/requests`` (and ``/api/v1/spinnaker``)."""

    service: str
    version: str
    environment: str
    plan: str | None = None
    commit: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$"
    )
    source: Source
    keep_going: bool = False
    """Run every stage even after a stage's blocking failure (default: stop there)."""

    @field_validator("service")
    @classmethod
    def _service(cls, value: str) -> str:
        return _named(SERVICE, value)

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        return _named(VERSION, value)

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: str) -> str:
        return _named(ENVIRONMENT, value)

    @field_validator("plan")
    @classmethod
    def _plan(cls, value: str | None) -> str | None:
        return None if value is None else _named(PLAN, value)


class CheckItem(BaseModel):
    id: str
    status: str
    """pending, running, or the result: passed, failed, error, skipped..."""
    critical: bool
    summary: str


class Checks(BaseModel):
    total: int
    done: int
    failed: int
    items: list[CheckItem]


class Awaited(BaseModel):
    role: str
    label: str


class SignOffItem(BaseModel):
    role: str
    user: str
    vote: Literal["approve", "reject"]
    reason: str


class Links(BaseModel):
    self: str
    report: str
    thread: str | None


class AuditRef(BaseModel):
    """The decision's audit event: its number and hash (``preprod audit verify``)."""

    seq: int
    hash: str


class SourceView(BaseModel):
    kind: str
    url: str | None = None
    triggered_by: str | None = None
    name: str | None = None


class RunView(BaseModel):
    """A run as a pipeline sees it (``GET /api/v1/runs/{id}``)."""

    id: int
    service: str
    version: str
    environment: str
    plan: str
    status: Status
    decision: Decision
    reasons: list[str]
    checks: Checks
    awaiting: list[Awaited]
    signoffs: list[SignOffItem]
    links: Links
    audit: AuditRef | None
    superseded_by: int | None
    source: SourceView | None
    commit: str | None


class ArgoView(BaseModel):
    """For an Argo Rollouts ``web`` metric: ``jsonPath: "{$.decision}"``."""

    decision: Decision


class FlaggerBody(BaseModel):
    """What Flagger POSTs to a ``confirm-rollout`` / ``confirm-promotion`` webhook."""

    name: str = Field(max_length=253)
    namespace: str = Field(max_length=253)
    phase: str = Field(default="", max_length=64)
    checksum: str = Field(default="", max_length=200)
    metadata: dict[str, str] = Field(default_factory=dict, max_length=32)


class FlaggerAnswer(BaseModel):
    run: int | None
    decision: Decision | None
    message: str


class SpinnakerAnswer(BaseModel):
    """A Spinnaker Webhook stage polls ``status_url`` with ``statusJsonPath: $.decision``."""

    id: int
    status_url: str
    decision: Decision


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail
