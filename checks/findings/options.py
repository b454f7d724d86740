"""The ``findings`` kind's options, light (pydantic only) so that loading a plan runs and
imports no scanner machinery (checks/registry.py)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from checks.base import CheckOptions
from checks.findings.parsers import Format, Severity
from checks.findings.policy import AllowEntry
from checks.quantities import ByteSize, Duration

_SEVERITIES = ("critical", "high", "medium", "low", "info", "unknown")


class FindingsOptions(CheckOptions):
    file: Path | None = None
    command: list[str] | None = Field(default=None, min_length=1, max_length=100)
    """A scanner to run, as an argv list (``trivy image -f json app:2.14`` written as a
    YAML list); its stdout is the report. A non-zero exit, as scanners give when they
    find something, is fine when stdout is a report."""
    format: Format = "auto"
    max: dict[str, int] = Field(default_factory=lambda: {"critical": 0})
    """Most findings allowed per severity (``{critical: 0, high: 3}``); unnamed
    severities are unlimited."""
    allow: list[AllowEntry] = Field(default_factory=list, max_length=1000)
    max_bytes: ByteSize = Field(default=64 * 1024 * 1024, gt=0)
    command_timeout: Duration = Field(default=300.0, gt=0)

    @field_validator("max")
    @classmethod
    def _severities(cls, value: dict[str, int]) -> dict[str, int]:
        for name, most in value.items():
            if name not in _SEVERITIES:
                raise ValueError(f"unknown severity {name!r}; use {', '.join(_SEVERITIES)}")
            if most < 0:
                raise ValueError(f"max {name} cannot be negative")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> FindingsOptions:
        if (self.file is None) == (self.command is None):
            raise ValueError("give either file (a report) or command (a scanner to run)")
        return self

    @property
    def maximum(self) -> dict[Severity, int]:
        return {Severity.parse(name): most for name, most in self.max.items()}
