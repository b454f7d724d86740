"""The ``drill`` check's options: the script, what must hold after it, what users would
have seen during it (the probe), and the recovery objectives."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainSerializer, model_validator

from checks.base import CheckOptions
from checks.http_options import RequestSpec
from checks.load.thresholds import Threshold, Vocabulary, parse_threshold
from checks.quantities import Duration

PROBE = Vocabulary(
    metrics={
        "errors": ("probe_errors", ""),
        "requests": ("probe_requests", ""),
        "error_rate": ("probe_error_rate_pct", "%"),
        "max_outage": ("max_outage_ms", "ms"),
        **{m: (f"probe_{m}_ms", "ms") for m in ("p50", "p95", "p99", "max")},
    },
    expected='expected "<metric> <op> <number>[unit]", e.g. "errors == 0" or "max_outage < 2s"',
    integers=frozenset({"errors", "requests"}),
)

ProbeThreshold = Annotated[
    Threshold,
    BeforeValidator(lambda value: parse_threshold(value, PROBE)),
    PlainSerializer(lambda t: t.text, return_type=str),
]
"""A probe threshold in a plan (``errors == 0``, ``max_outage < 2s``, ``p95 < 300ms``)."""

PLACEHOLDERS = ("{version}", "{previous_version}", "{marker}")


class Script(CheckOptions):
    """The procedure itself: an argv list, never a shell string."""

    argv: list[Annotated[str, Field(min_length=1, max_length=4096)]] = Field(
        min_length=1, max_length=100
    )
    timeout: Duration = Field(default=300.0, gt=0, le=6 * 3600)
    """The script is killed with its whole process group past this."""
    cwd: Path | None = None
    env: dict[str, str] = Field(default_factory=dict, max_length=100)
    """Added to the script's environment (``${VAR}`` secrets are redacted in its output)."""


class Probe(CheckOptions):
    """A steady stream of requests while the drill runs: what users would have seen."""

    path: str = Field(pattern=r"^/")
    rate: float = Field(default=20.0, gt=0, le=200)
    """Requests per second."""
    expect_status: int | list[int] = 200
    request_timeout: Duration = Field(default=2.0, gt=0, le=60)
    after: Duration = Field(default=1.0, ge=0, le=600)
    """Keep probing this long after the script and the expectations: a switch can break
    things just as the script exits."""
    thresholds: list[ProbeThreshold] = Field(default_factory=list, max_length=20)

    @property
    def statuses(self) -> list[int]:
        return [self.expect_status] if isinstance(self.expect_status, int) else self.expect_status


class Rpo(CheckOptions):
    """A marker written before the drill must be readable after it (backup-restore).
    ``{marker}`` in either request is replaced by a fresh unique value."""

    write: RequestSpec
    read: RequestSpec


class DrillOptions(CheckOptions):
    script: Script
    expect: list[RequestSpec] = Field(default_factory=list, max_length=50)
    """HTTP expectations polled after the script until they all hold or ``settle`` ends."""
    settle: Duration = Field(default=30.0, ge=0, le=3600)
    poll_interval: Duration = Field(default=0.25, gt=0, le=60)
    probe: Probe | None = None
    rto: Duration | None = Field(default=None, gt=0)
    """From the start of the script until the expectations hold."""
    rpo: Rpo | None = None
    cleanup: Script | None = None
    """Run after the proof, whatever it found, to leave the environment as the drill found
    it (the version that was live before a deploy or rollback drill); a cleanup that fails
    fails the drill. The script and the cleanup share ``$PREPROD_DRILL_DIR`` to note what
    they found."""

    @model_validator(mode="after")
    def _rto_needs_expectations(self) -> DrillOptions:
        if self.rto is not None and not self.expect:
            raise ValueError("rto is measured until the expectations hold: give `expect`")
        return self


def substitute(value: Any, values: dict[str, str]) -> Any:
    """``{version}``, ``{previous_version}`` and ``{marker}`` replaced in every string of a
    request spec (path, body, JSON, expectations); other braces are left alone."""
    if isinstance(value, str):
        for name, text in values.items():
            value = value.replace("{" + name + "}", text)
        return value
    if isinstance(value, list):
        return [substitute(item, values) for item in value]
    if isinstance(value, dict):
        return {substitute(k, values): substitute(v, values) for k, v in value.items()}
    return value


def bind(spec: RequestSpec, values: dict[str, str]) -> RequestSpec:
    raw = spec.model_dump(by_alias=True, exclude_defaults=True)
    return RequestSpec.model_validate(substitute(raw, values))


def placeholders_in(spec: RequestSpec) -> set[str]:
    text = spec.model_dump_json(by_alias=True)
    return {p.strip("{}") for p in PLACEHOLDERS if p in text}
