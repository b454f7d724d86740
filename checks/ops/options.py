"""The ``ops_readiness`` kind's options, light (pydantic only) so that loading a plan
imports no HTTP client (checks/registry.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from checks._http_options import HttpCheckOptions
from checks.base import CheckOptions
from checks.ops.metrics import MetricRequirement


def _path_shorthand(value: Any) -> Any:
    """``health: /healthz`` means ``health: {path: /healthz}``."""
    return {"path": value} if isinstance(value, str) else value


class HealthSpec(CheckOptions):
    path: str = Field(default="/healthz", pattern=r"^/")
    expect_status: int | list[int] = 200
    expect_json: Any = None
    """A subset the answer must contain, e.g. ``{status: ok}``."""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return _path_shorthand(value)


class MetricsSpec(CheckOptions):
    path: str = Field(default="/metrics", pattern=r"^/")
    require: list[MetricRequirement] = Field(default_factory=list, max_length=500)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return _path_shorthand(value)


class AlertsSpec(CheckOptions):
    url: str | None = None
    """A path on the environment (``/ops/alerts.yml``) or an http(s) URL."""
    file: Path | None = None
    """A local file (relative to the working directory)."""
    require: list[str] = Field(default_factory=list, max_length=500)
    """Alert names that must exist."""
    require_for: bool = True
    require_severity: bool = True
    require_runbook: bool = True

    @model_validator(mode="after")
    def _one_source(self) -> AlertsSpec:
        if (self.url is None) == (self.file is None):
            raise ValueError("give the rules as either `url` or `file`")
        if self.url is not None and not self.url.startswith(("/", "http://", "https://")):
            raise ValueError(f"url is a path starting with / or an http(s) URL, got {self.url!r}")
        return self


class RunbooksSpec(CheckOptions):
    sections: list[str] = Field(default_factory=list, max_length=50)
    """Headings every runbook must have, such as ``Rollback`` and ``Escalation``."""


class OpsReadinessOptions(HttpCheckOptions):
    health: HealthSpec | None = Field(default_factory=HealthSpec)
    metrics: MetricsSpec | None = Field(default_factory=MetricsSpec)
    """Read by default (``/metrics`` must answer Prometheus text); ``null`` skips it."""
    alerts: AlertsSpec | None = None
    runbooks: RunbooksSpec = Field(default_factory=RunbooksSpec)
    """Applies to the runbooks the alerts link to."""
