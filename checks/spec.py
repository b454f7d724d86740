"""The plan schema: which checks an environment runs, each ``{id, type, ...options}``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from checks.base import Check, CheckKind, CheckOptions
from checks.placeholders import fill, unknown_names
from checks.quantities import Duration
from checks.registry import get_check_type, kind_facts

COMMON_KEYS = frozenset(
    {
        "id",
        "type",
        "critical",
        "timeout",
        "exclusive",
        "repeat_safe",
        "description",
        "quarantine",
        "stage",
    }
)
STAGE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
ONE_STAGE = "checks"
"""The name of a flat plan's one stage."""


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
    stage: str | None = Field(default=None, pattern=STAGE_NAME, max_length=64)
    """The stage this check runs in (a plan's ``stages:`` name it, or this key does)."""

    _options: CheckOptions | None = PrivateAttr(default=None)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        kind_facts(value)  # UnknownCheckType lists the known ones
        return value

    @model_validator(mode="after")
    def _known_placeholders(self) -> CheckSpec:
        if unknown := unknown_names(self.raw_options, kind_facts(self.type).own_placeholders):
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
            self._options = kind_facts(self.type).options.model_validate(self.raw_options)
        return self._options

    def bind(self, options: CheckOptions | None = None) -> None:
        """Validate the options now (raises pydantic's ValidationError), or take ``options``
        that the loader validated from this same mapping, if they are this kind's."""
        model = kind_facts(self.type).options
        self._options = (
            options if type(options) is model else model.model_validate(self.raw_options)
        )

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


class StageSpec(BaseModel):
    """An ordered group of checks: a blocking failure in it ends the run after it (unless
    ``fail_fast: false`` here or on the plan, or the run keeps going)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=STAGE_NAME, max_length=64)
    checks: list[CheckSpec] = Field(default_factory=list)
    """Left out: the plan's checks that say ``stage:`` this name."""
    fail_fast: bool | None = None
    """Left out: the plan's ``fail_fast``."""


@dataclass(frozen=True)
class Stage:
    """A stage as the engine runs it: its name, whether it ends the run on a blocking
    failure, and its checks in plan order."""

    name: str
    fail_fast: bool
    checks: tuple[CheckSpec, ...]


class PlanSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    checks: list[CheckSpec] = Field(default_factory=list, min_length=1)
    """Left out with ``stages:``; given, not empty. After validation: every check of the
    plan, stage by stage (a staged plan's each with its ``stage``)."""
    stages: list[StageSpec] = Field(default_factory=list)
    fail_fast: bool = True
    """A blocking failure ends the run after its stage (a stage may say otherwise)."""
    attestations: list[AttestationSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _staged(self) -> PlanSpec:
        """Gather the checks stage by stage: ``stages:`` name them, in order; a check of
        the flat ``checks:`` list joins the stage its ``stage:`` names."""
        flat = self.checks
        declared = [s.name for s in self.stages]
        if twice := sorted({n for n in declared if declared.count(n) > 1}):
            raise ValueError(f"stages: stage name {twice[0]!r} is used twice")
        placed: dict[str, str] = {}
        for index, stage in enumerate(self.stages):
            for pos, spec in enumerate(stage.checks):
                if spec.stage is not None and spec.stage != stage.name:
                    raise ValueError(
                        f"stages[{index}].checks[{pos}]: check {spec.id!r} is listed in stage "
                        f"{stage.name!r} but says stage: {spec.stage!r}"
                    )
        order = list(declared)
        for pos, spec in enumerate(flat):
            if spec.stage is None:
                if self.stages or any(s.stage is not None for s in flat):
                    raise ValueError(
                        f"checks[{pos}]: check {spec.id!r} has no stage: once a plan has "
                        "stages, every check names one (stage: NAME)"
                    )
            elif self.stages and spec.stage not in declared:
                raise ValueError(
                    f"checks[{pos}].stage: no stage named {spec.stage!r}; "
                    f"stages: {', '.join(declared)}"
                )
            elif spec.stage not in order:
                order.append(spec.stage)
        gathered: list[CheckSpec] = [] if order else list(flat)
        for name in order:
            listed = next((s.checks for s in self.stages if s.name == name), [])
            members = [*listed, *(c for c in flat if c.stage == name)]
            for spec in members:
                if spec.id in placed and placed[spec.id] != name:
                    raise ValueError(
                        f"check {spec.id!r} is listed in two stages: "
                        f"{placed[spec.id]!r} and {name!r}"
                    )
                placed[spec.id] = name
            gathered += [s if s.stage == name else s.model_copy(update={"stage": name})
                         for s in members]  # fmt: skip
        if not gathered:
            raise ValueError("a plan needs at least one check (checks: or stages:)")
        if empty := [s.name for s in self.stages if s.name not in placed.values()]:
            raise ValueError(f"stage {empty[0]!r} has no checks")
        self.__dict__["checks"] = gathered  # frozen: set once, here
        return self

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

    def stage_list(self) -> list[Stage]:
        """The stages in order (a flat plan: one stage named ``checks``)."""
        names = list(dict.fromkeys(spec.stage or ONE_STAGE for spec in self.checks))
        own = {s.name: s.fail_fast for s in self.stages}
        return [
            Stage(
                name,
                self.fail_fast if own.get(name) is None else bool(own[name]),
                tuple(spec for spec in self.checks if (spec.stage or ONE_STAGE) == name),
            )
            for name in names
        ]
