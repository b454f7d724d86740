"""The ``load`` check's options: one model for the four profiles (load, stress, soak,
spike), each profile's required keys checked, keys of other profiles refused."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from checks.base import CheckOptions
from checks.load.access_log import TasksFrom
from checks.load.thresholds import Percent, ThresholdExpr
from checks.quantities import Duration
from checks.regression import RegressionOptions

Profile = Literal["load", "stress", "soak", "spike"]
LatencyMetric = Literal["p50", "p90", "p95", "p99", "avg", "max"]

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

# Keys that only make sense for some profiles; anything else is shared.
PROFILE_KEYS: dict[str, frozenset[str]] = {
    "load": frozenset({"users", "spawn_rate", "duration"}),
    "soak": frozenset(
        {"users", "spawn_rate", "duration", "window", "max_degradation", "degradation_metric"}
    ),
    "stress": frozenset(
        {"start_users", "step_users", "step_duration", "max_users", "spawn_rate", "capacity"}
    ),
    "spike": frozenset(
        {
            "users",
            "spawn_rate",
            "spike_users",
            "baseline_duration",
            "spike_duration",
            "recovery_duration",
            "max_recovery",
            "recovery_tolerance",
        }
    ),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "load": ("users", "duration"),
    "soak": ("users", "duration"),
    "stress": ("start_users", "step_users", "step_duration", "max_users"),
    "spike": ("users", "spike_users", "baseline_duration", "spike_duration", "recovery_duration"),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Task(_Strict):
    """One weighted request a simulated user makes."""

    path: str
    method: str = "GET"
    name: str | None = None
    weight: int = Field(default=1, ge=1, le=1000)
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"a task path starts with '/', got {value!r}")
        return value

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        upper = value.upper()
        if upper not in _METHODS:
            raise ValueError(f"unknown HTTP method {value!r}; use one of {', '.join(_METHODS)}")
        return upper

    @property
    def stats_name(self) -> str:
        """The name Locust reports this task under (and task_thresholds refer to)."""
        return self.name or self.path


class Wait(_Strict):
    """Think time between a user's tasks: a constant, or a range picked at random."""

    min: Duration = 0.0
    max: Duration = 0.0

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, value: Any) -> Any:
        if isinstance(value, list | tuple) and len(value) == 2:
            return {"min": value[0], "max": value[1]}
        if isinstance(value, str | int | float):
            return {"min": value, "max": value}
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Wait:
        if self.max < self.min:
            raise ValueError("wait: max is below min")
        return self


class Capacity(_Strict):
    """A stress test's verdict: sustainable rps must reach peak x margin."""

    expected_peak_rps: float = Field(gt=0)
    safety_margin: float = Field(default=1.5, ge=1.0)

    @property
    def required_rps(self) -> float:
        return self.expected_peak_rps * self.safety_margin


class LoadOptions(CheckOptions, RegressionOptions):
    profile: Profile = "load"
    tasks: list[Task] = Field(default_factory=list)
    tasks_from: TasksFrom | None = None
    """Derive ``tasks`` from an access log (``checks/load/access_log.py``)."""
    locustfile: Path | None = None
    wait: Wait | None = None

    # load / soak / spike (baseline users for spike)
    users: int | None = Field(default=None, ge=1, le=100_000)
    spawn_rate: float | None = Field(default=None, gt=0)
    duration: Duration | None = Field(default=None, gt=0)

    # soak
    window: Duration | None = Field(default=None, gt=0)
    max_degradation: Percent | None = None
    degradation_metric: LatencyMetric = "p95"

    # stress
    start_users: int | None = Field(default=None, ge=1)
    step_users: int | None = Field(default=None, ge=1)
    step_duration: Duration | None = Field(default=None, gt=0)
    max_users: int | None = Field(default=None, ge=1, le=100_000)
    capacity: Capacity | None = None

    # spike
    spike_users: int | None = Field(default=None, ge=1, le=100_000)
    baseline_duration: Duration | None = Field(default=None, gt=0)
    spike_duration: Duration | None = Field(default=None, gt=0)
    recovery_duration: Duration | None = Field(default=None, gt=0)
    max_recovery: Duration | None = None
    recovery_tolerance: Percent = 20.0

    # verdicts
    thresholds: list[ThresholdExpr] = Field(default_factory=list)
    task_thresholds: dict[str, list[ThresholdExpr]] = Field(default_factory=dict)
    abort_on_fail: bool = False

    # distribution
    workers: int = Field(default=0, ge=0, le=64)
    master_bind: str | None = None
    expect_workers: int | None = Field(default=None, ge=1, le=1000)
    expect_workers_timeout: Duration = 60.0

    # plumbing
    request_timeout: Duration = Field(default=10.0, gt=0)
    progress_interval: Duration = Field(default=3.0, ge=0.5)

    @field_validator("master_bind")
    @classmethod
    def _bind(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not re.fullmatch(r"[A-Za-z0-9.*:\-\[\]]+?(:\d{1,5})?", value):
            raise ValueError(f'expected "host" or "host:port", e.g. "0.0.0.0:5557"; got {value!r}')
        return value

    @model_validator(mode="after")
    def _profile_keys(self) -> LoadOptions:
        fields = type(self).model_fields
        given = {k for k in self.model_fields_set if getattr(self, k) != fields[k].default}
        for key in REQUIRED[self.profile]:
            if getattr(self, key) is None:
                raise ValueError(f"profile {self.profile!r} needs {key!r}")
        mine = PROFILE_KEYS[self.profile]
        foreign = sorted(
            k for k in given if any(k in keys for keys in PROFILE_KEYS.values()) and k not in mine
        )
        if foreign:
            raise ValueError(f"{', '.join(foreign)} not used by profile {self.profile!r}")
        if self.tasks_from is not None:
            if self.tasks or self.locustfile is not None:
                raise ValueError("give one of tasks, tasks_from or a locustfile")
            if self.tasks_from.deferred:
                return self  # validated again, with the log read, when the run starts
            derived = [Task.model_validate(t) for t in self.tasks_from.task_dicts()]
            object.__setattr__(self, "tasks", derived)  # frozen: set once, while validating
        if not self.tasks and self.locustfile is None:
            raise ValueError(
                "give tasks (a list of {path, weight, ...}), tasks_from or a locustfile"
            )
        if self.tasks and self.locustfile is not None:
            raise ValueError("give tasks or a locustfile, not both")
        if self.tasks:
            names = [t.stats_name for t in self.tasks]
            unknown = sorted(set(self.task_thresholds) - set(names))
            if unknown:
                raise ValueError(
                    f"task_thresholds names {', '.join(unknown)}: no such task "
                    f"(tasks are {', '.join(names)})"
                )
        if self.profile == "stress":
            assert self.start_users is not None and self.max_users is not None
            if self.max_users < self.start_users:
                raise ValueError("max_users is below start_users")
            if not self.thresholds:
                raise ValueError("a stress test needs thresholds to find its breaking point")
        if self.profile == "spike":
            assert self.users is not None and self.spike_users is not None
            if self.spike_users <= self.users:
                raise ValueError("spike_users must exceed the baseline users")
        if self.expect_workers is not None and self.expect_workers < self.workers:
            raise ValueError(
                "expect_workers counts every worker, local ones included: "
                f"it cannot be below workers ({self.workers})"
            )
        return self

    # -- derived ---------------------------------------------------------------

    @property
    def distributed(self) -> bool:
        return self.workers > 0 or self.master_bind is not None or bool(self.expect_workers)

    @property
    def total_workers(self) -> int:
        return self.expect_workers or self.workers

    def effective_spawn_rate(self) -> float:
        if self.spawn_rate is not None:
            return self.spawn_rate
        if self.profile == "stress":
            return float(self.step_users or 1)
        return max(1.0, (self.users or 1) / 10)

    def stress_steps(self) -> list[int]:
        assert self.start_users and self.step_users and self.max_users
        steps = list(range(self.start_users, self.max_users + 1, self.step_users))
        if steps[-1] != self.max_users:
            steps.append(self.max_users)
        return steps

    def planned_seconds(self) -> float:
        """How long the test runs when nothing stops it early."""
        if self.profile in ("load", "soak"):
            return float(self.duration or 0)
        if self.profile == "stress":
            return len(self.stress_steps()) * float(self.step_duration or 0)
        return float(
            (self.baseline_duration or 0)
            + (self.spike_duration or 0)
            + (self.recovery_duration or 0)
        )

    def soak_window(self) -> float:
        if self.window is not None:
            return float(self.window)
        return max(float(self.duration or 0) / 10, 2.0)
