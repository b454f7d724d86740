"""The plan schema: which checks an environment runs, each ``{id, type, ...options}``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from checks.base import Check, CheckKind, CheckOptions
from checks.placeholders import fill, unknown_names
from checks.registry import get_check_type
from checks.units import Duration

COMMON_KEYS = frozenset(
    {"id", "type", "critical", "timeout", "exclusive", "repeat_safe", "description", "quarantine"}
)


class Quarantine(BaseModel):
    """A known-flaky check excused by its owner: its failure does not block until
    ``until`` (inclusive, UTC days), then blocks again (bot/gate/quarantine.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    until: date
    owner: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=200)

    def note(self) -> str:
        """How every page and message says it: ``quarantined until 2026-12-20 by sam: ...``."""
        return f"quarantined until {self.until.isoformat()} by {self.owner}: {self.reason}"


class CheckSpec(BaseModel):
    """One entry of a plan. The keys beyond the common ones are the kind's options,
    validated against that kind's own model by :meth:`bind`."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)
    type: str
    critical: bool = True
    timeout: Duration | None = None
    exclusive: bool | None = None
    repeat_safe: bool | None = None
    """Run again by itself after a crash? Default: the kind's (load tests yes, drills no)."""
    description: str = ""
    quarantine: Quarantine | None = None

    _options: CheckOptions | None = PrivateAttr(default=None)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        get_check_type(value)  # UnknownCheckType lists the known ones
        return value

    @model_validator(mode="after")
    def _known_placeholders(self) -> CheckSpec:
        if unknown := unknown_names(self.raw_options, self.kind.own_placeholders):
            raise ValueError("; ".join(unknown))
        return self

    @property
    def raw_options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @property
    def kind(self) -> CheckKind:
        return get_check_type(self.type)

    @property
    def options(self) -> CheckOptions:
        if self._options is None:
            self._options = self.kind.Options.model_validate(self.raw_options)
        return self._options

    def bind(self) -> None:
        """Validate the options now (raises pydantic's ValidationError)."""
        self._options = self.kind.Options.model_validate(self.raw_options)

    def build(self, values: Mapping[str, str] | None = None) -> Check[Any]:
        """The check, its options filled with the run's ``values`` (``{version}`` ...)."""
        if values is None:
            return self.kind(self.options)
        raw = fill(self.raw_options, values, self.kind.own_placeholders)
        return self.kind(self.kind.Options.model_validate(raw))

    def is_exclusive(self) -> bool:
        return self.kind.exclusive if self.exclusive is None else self.exclusive

    def is_repeat_safe(self) -> bool:
        return self.kind.repeat_safe if self.repeat_safe is None else self.repeat_safe


class AttestationSpec(BaseModel):
    """A readiness item no machine can check ("on-call rotation staffed"), ticked by a
    member of its role."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)
    text: str = Field(min_length=1, max_length=300)
    role: str
    blocking: bool = True


class PlanSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    checks: list[CheckSpec] = Field(min_length=1)
    attestations: list[AttestationSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> PlanSpec:
        for kind, ids in (("check", [c.id for c in self.checks]),
                          ("attestation", [a.id for a in self.attestations])):  # fmt: skip
            if twice := sorted({i for i in ids if ids.count(i) > 1}):
                raise ValueError(f"{kind} id {twice[0]!r} is used twice in this plan")
        return self

    def select(self, only: list[str] | None) -> list[CheckSpec]:
        if not only:
            return list(self.checks)
        return [spec for spec in self.checks if spec.id in only]
