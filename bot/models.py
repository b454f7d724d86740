"""Database tables. Every state change lands here before anyone is shown it."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class RunStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"
    """The engine itself broke (not a check): the run has no trustworthy verdict."""


class Run(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    service: str
    version: str
    environment: str
    plan: str
    base_url: str
    requester: str = "cli"
    source: str = "cli"
    status: RunStatus = Field(default=RunStatus.RUNNING, index=True)
    config_path: str = ""
    config_digest: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class CheckRecord(SQLModel, table=True):
    """One attempt of one check in one run; a re-run adds an attempt, never overwrites."""

    __table_args__ = (UniqueConstraint("run_id", "check_id", "attempt"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    check_id: str
    check_type: str
    position: int
    attempt: int = 1
    critical: bool = True
    status: str = "pending"
    """pending, running, or a final :class:`checks.base.Status` value."""
    summary: str = ""
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    evidence: str = ""
    blocking: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None


class SlackThread(SQLModel, table=True):
    """Where a run lives in Slack, so updates survive a restart of the bot."""

    run_id: int = Field(foreign_key="run.id", primary_key=True)
    channel: str
    parent_ts: str
    progress_ts: str | None = None
    results_ts: str | None = None
