"""The contract every check kind implements: declared options in, a CheckResult out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from checks.context import CheckContext


class Status(StrEnum):
    PASSED = "passed"
    WARNED = "warned"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"
    """Cut off by a crash or a restart and not safe to run again by itself (a failover
    drill): a person re-runs it or waives it."""

    @property
    def is_problem(self) -> bool:
        """The statuses that block a release when the check is critical."""
        return self in (Status.FAILED, Status.ERROR, Status.INTERRUPTED)


class CheckResult(BaseModel):
    """What a check found. Checks fill status, summary, metrics and evidence;
    the engine stamps identity, timing and ``blocking``."""

    status: Status
    summary: str
    metrics: dict[str, float] = Field(default_factory=dict)
    evidence: str = ""
    blocking: bool = False
    check_id: str = ""
    check_type: str = ""
    critical: bool = True
    started_at: datetime | None = None
    finished_at: datetime | None = None
    distribution: dict[str, Any] | None = Field(default=None, exclude=True)
    """The run's response times for later comparisons (``checks.regression.Distribution``
    as JSON): stored beside the record, never shown or serialized with the result."""

    @property
    def duration_s(self) -> float:
        if self.started_at is None or self.finished_at is None:
            return 0.0
        return (self.finished_at - self.started_at).total_seconds()

    @classmethod
    def passed(cls, summary: str, **kwargs: Any) -> CheckResult:
        return cls(status=Status.PASSED, summary=summary, **kwargs)

    @classmethod
    def warned(cls, summary: str, **kwargs: Any) -> CheckResult:
        return cls(status=Status.WARNED, summary=summary, **kwargs)

    @classmethod
    def failed(cls, summary: str, **kwargs: Any) -> CheckResult:
        return cls(status=Status.FAILED, summary=summary, **kwargs)

    @classmethod
    def error(cls, summary: str, **kwargs: Any) -> CheckResult:
        return cls(status=Status.ERROR, summary=summary, **kwargs)

    @classmethod
    def skipped(cls, summary: str, **kwargs: Any) -> CheckResult:
        return cls(status=Status.SKIPPED, summary=summary, **kwargs)


class CheckOptions(BaseModel):
    """Base of every kind's options model: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


OptionsT = TypeVar("OptionsT", bound=CheckOptions)


class Check(ABC, Generic[OptionsT]):
    """One kind of check. Subclasses set ``type_name`` and ``Options`` and implement ``run``.

    ``run`` must not raise for an unreachable target: it returns ``error`` with the
    reason. (The engine still turns any exception into ``error``, as a safety net.)
    """

    type_name: ClassVar[str]
    Options: ClassVar[type[CheckOptions]] = CheckOptions
    exclusive: ClassVar[bool] = False
    """Runs alone, never beside other checks (load tests, drills)."""
    default_timeout: ClassVar[float] = 60.0
    repeat_safe: ClassVar[bool] = True
    """False for checks that must not be re-run blindly after an interruption (failover)."""
    own_placeholders: ClassVar[frozenset[str]] = frozenset()
    """``{names}`` this kind fills itself (a drill's ``{marker}``): the run's substitution
    (checks/placeholders.py) leaves them alone and load-time validation accepts them."""

    def __init__(self, options: OptionsT) -> None:
        self.options = options

    @abstractmethod
    async def run(self, ctx: CheckContext) -> CheckResult: ...

    def natural_timeout(self) -> float:
        """The timeout when the plan sets none; kinds whose length follows from their
        options (a 2-minute load test) override this."""
        return self.default_timeout


CheckKind = type[Check[Any]]
"""A check class, as the registry holds it."""
