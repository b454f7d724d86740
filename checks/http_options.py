"""The ``http`` kind's options, light (pydantic only) so that loading a plan imports no
HTTP client (checks/registry.py)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from checks._http_options import HttpCheckOptions
from checks.regression import LATENCY_METRICS, RegressionOptions


class RequestSpec(BaseModel):
    """One request and what its answer must look like. Redirects are not followed:
    expect the 3xx explicitly if that is the contract."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    method: str = Field(default="GET", pattern=r"^[A-Za-z]+$")
    path: str = Field(pattern=r"^/", description="relative to the environment's base URL")
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    json_body: Any = Field(default=None, alias="json")
    expect_status: int | list[int] = 200
    expect_json: Any = None
    """A subset the JSON answer must contain; see :func:`json_mismatches` (lists match
    "every expected element is matched by some actual element", in any order)."""
    expect_body_contains: str | list[str] | None = None
    max_ms: float | None = Field(default=None, gt=0)
    with_credentials: bool = True

    @field_validator("method")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @field_validator("expect_status")
    @classmethod
    def _status_codes(cls, value: int | list[int]) -> int | list[int]:
        codes = [value] if isinstance(value, int) else value
        if not codes:
            raise ValueError("expect_status needs at least one status code")
        for code in codes:
            if not 100 <= code <= 599:
                raise ValueError(f"{code} is not an HTTP status code")
        return value

    @model_validator(mode="after")
    def _one_body(self) -> RequestSpec:
        if self.body is not None and self.json_body is not None:
            raise ValueError("give either body or json, not both")
        return self

    @property
    def statuses(self) -> list[int]:
        return [self.expect_status] if isinstance(self.expect_status, int) else self.expect_status

    @property
    def needles(self) -> list[str]:
        if self.expect_body_contains is None:
            return []
        if isinstance(self.expect_body_contains, str):
            return [self.expect_body_contains]
        return self.expect_body_contains

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


class HttpOptions(HttpCheckOptions, RegressionOptions):
    requests: list[RequestSpec] = Field(min_length=1)
    regression: dict[str, str] | None = None
    """Limits on latency, the only figure an http check compares (``{p95: +10%}``; any of
    p50, p90, p95, p99 with ``+N%``); default ``{p95: +10%}``."""
    repeat: int = Field(default=1, ge=1, le=100)
    """Send the whole list this many times, judging every answer: a latency sample large
    enough for ``compare_to`` to tell a slower release from noise (20 or more; a handful
    of requests can never be significant at 99%)."""

    @field_validator("regression")
    @classmethod
    def _latency_only(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        """Each request's expectations already fail the check on an error, and requests
        sent one after another have no throughput of their own: latency is compared."""
        for metric in value or {}:
            if metric not in LATENCY_METRICS:
                known = ", ".join(LATENCY_METRICS)
                raise ValueError(f"an http check compares latency only ({known}); got {metric!r}")
        return value
