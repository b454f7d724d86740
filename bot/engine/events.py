"""What the engine tells its listeners (terminal progress, the Slack thread). Plain data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.record.report import RunReport
from checks.base import CheckResult
from checks.context import ProgressEvent


@dataclass(frozen=True)
class PlannedCheck:
    check_id: str
    check_type: str
    critical: bool
    selected: bool


@dataclass(frozen=True)
class RunStarted:
    run_id: int
    checks: tuple[PlannedCheck, ...]


@dataclass(frozen=True)
class CheckStarted:
    run_id: int
    check_id: str


@dataclass(frozen=True)
class CheckProgressed:
    run_id: int
    progress: ProgressEvent


@dataclass(frozen=True)
class CheckFinished:
    run_id: int
    result: CheckResult


@dataclass(frozen=True)
class StageFinished:
    """A stage passed and another follows: the thread's "early confidence" line."""

    run_id: int
    stage: str
    passed: tuple[str, ...]
    next_stage: str
    next_checks: tuple[str, ...]
    expected_s: float | None
    """How long the rest should take from past runs' median durations (None: no history)."""


@dataclass(frozen=True)
class RunFinished:
    run_id: int
    report: RunReport


Event = RunStarted | CheckStarted | CheckProgressed | CheckFinished | StageFinished | RunFinished
Listener = Callable[[Event], None]
