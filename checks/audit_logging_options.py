"""The ``audit_logging`` kind's options, light (pydantic only) so that loading a plan
imports no HTTP client (checks/registry.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from checks._http_options import HttpCheckOptions
from checks.quantities import ByteSize, Duration


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Action(_Strict):
    """The request to audit; ``{marker}`` anywhere in path, body or headers is replaced
    by the run's unique marker, which is also sent in ``marker_header``."""

    method: str = Field(default="POST", pattern=r"^[A-Za-z]+$")
    path: str = Field(pattern=r"^/")
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    expect_status: list[int] = Field(default_factory=lambda: [200, 201, 202, 204], min_length=1)


class Source(_Strict):
    """Where audit records are read: ``endpoint`` (a path answering JSON records,
    ``{marker}`` may filter them) or ``file`` (JSON lines, only what the action appended)."""

    endpoint: str | None = Field(default=None, pattern=r"^/")
    file: Path | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    max_bytes: ByteSize = Field(default=16 * 1024 * 1024, gt=0)

    @model_validator(mode="after")
    def _one(self) -> Source:
        if (self.endpoint is None) == (self.file is None):
            raise ValueError("give either endpoint or file")
        return self


class AuditLoggingOptions(HttpCheckOptions):
    action: Action
    source: Source
    marker_header: str | None = "X-Request-Id"
    fields: list[str] = Field(default_factory=lambda: ["actor", "action", "time"], min_length=1)
    """Fields every matching record must have, non-empty (dots reach into objects)."""
    expect: dict[str, str] = Field(default_factory=dict)
    """Values some fields must have, e.g. ``{action: order.create}``."""
    time_field: str | None = "time"
    """Must be an ISO 8601 time (or epoch seconds) close to the action (``max_skew``)."""
    max_skew: Duration = 300.0
    within: Duration = Field(default=10.0, gt=0)
    poll_interval: Duration = Field(default=0.5, gt=0)
