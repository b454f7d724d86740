"""Database tables. Every state change lands here before anyone is shown it."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Index,
    LargeBinary,
    UniqueConstraint,
    false,
)
from sqlalchemy import text as sql_text
from sqlmodel import Field, SQLModel

# The tables of the callers from outside Slack (models_callers.py) and the time stamps
# (times.py) are named here too: importing this module registers every table, and
# ``from bot.store.models import WebSession, utcnow`` keeps working.
from bot.store.models_callers import (
    ApiRequest as ApiRequest,
)
from bot.store.models_callers import (
    GitHubAnswer as GitHubAnswer,
)
from bot.store.models_callers import (
    GitHubJob as GitHubJob,
)
from bot.store.models_callers import (
    PipelineToken as PipelineToken,
)
from bot.store.models_callers import (
    WebSession as WebSession,
)
from bot.store.times import as_utc as as_utc
from bot.store.times import utcnow as utcnow


class RunStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"
    """The engine itself broke (not a check): the run has no trustworthy verdict."""


class Run(SQLModel, table=True):
    # for the dashboard (migration 0009): a period of runs, and pages filtered by service
    # or environment, newest first
    __table_args__ = (
        Index("ix_run_created_at", "created_at"),
        Index("ix_run_service_id", "service", "id"),
        Index("ix_run_environment_id", "environment", "id"),
    )

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
    generation: int = 1
    """Bumped by every re-run: sign-offs given on an older generation no longer count."""
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    lease_owner: str | None = None
    """The process executing the run (while it is ``running``); see bot/store/leases.py."""
    lease_expires: datetime | None = Field(default=None, index=True)
    """Renewed by the owner's heartbeat; once past, any process may claim the run."""
    cancel_requested_by: str | None = None
    """Who asked, on another process, to cancel the run; its owner sees it and cancels."""
    origin: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    """Where a pipeline's request came from (kind, url, triggered_by, name), migration 0015."""
    origin_commit: str | None = Field(default=None, max_length=100)
    """The commit a pipeline asked about, as it sent it."""
    keep_going: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    """Run every stage even after a blocking failure (migration 0018c): kept with the run so
    that a resumed run and a re-run make the same choice as the request did. The database
    fills it in (no Python-side column default), so bulk inserts that name only the older
    columns still work."""


class CheckRecord(SQLModel, table=True):
    """One attempt of one check in one run; a re-run adds an attempt, never overwrites."""

    __table_args__ = (
        UniqueConstraint("run_id", "check_id", "attempt"),
        # the insights' failure counts read only this index (migration 0009)
        Index("ix_checkrecord_run_status", "run_id", "status", "check_id"),
        # the re-run attempts alone, by start: the dashboard's flaky checks (migration 0019a)
        Index(
            "ix_checkrecord_rerun",
            "started_at",
            sqlite_where=sql_text("attempt > 1"),
            postgresql_where=sql_text("attempt > 1"),
        ),
    )

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


class CheckDistribution(SQLModel, table=True):
    """One attempt's response-time histogram and counts (migration 0024), kept apart from
    the record so that listing runs never reads them; a later run's ``compare_to`` does."""

    run_id: int = Field(foreign_key="run.id", primary_key=True)
    check_id: str = Field(primary_key=True)
    attempt: int = Field(default=1, primary_key=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """``checks.regression.Distribution.to_json()``: hist (ms -> count), requests,
    failures, seconds."""


class SlackThread(SQLModel, table=True):
    """Where a run lives in Slack, so updates survive a restart of the bot."""

    run_id: int = Field(foreign_key="run.id", primary_key=True)
    channel: str
    parent_ts: str
    progress_ts: str | None = None
    results_ts: str | None = None
    gate_ts: str | None = None


class SignOff(SQLModel, table=True):
    """One person's approval or rejection for one role. The unique key makes a double
    click or a redelivered payload a no-op, whatever the process that receives it."""

    __table_args__ = (UniqueConstraint("run_id", "generation", "role", "user"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    generation: int
    role: str
    user: str
    vote: str
    reason: str = ""
    at: datetime = Field(default_factory=utcnow)


class Waiver(SQLModel, table=True):
    """A non-critical failure accepted with a written justification, for one attempt."""

    __table_args__ = (UniqueConstraint("run_id", "check_id", "attempt"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    check_id: str
    attempt: int
    user: str
    justification: str
    at: datetime = Field(default_factory=utcnow)


class AttestationTick(SQLModel, table=True):
    """A readiness item a person vouched for; it is not evidence, so re-runs keep it."""

    __table_args__ = (UniqueConstraint("run_id", "item_id"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    item_id: str
    user: str
    note: str = ""
    at: datetime = Field(default_factory=utcnow)


class DecisionRecord(SQLModel, table=True):
    """The final outcome of a run. One row per run: whoever inserts it announces it."""

    run_id: int = Field(foreign_key="run.id", primary_key=True)
    outcome: str
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    at: datetime = Field(default_factory=utcnow)
    announcement_ts: str | None = None


class ProductionOutcome(SQLModel, table=True):
    """What happened in production after the release, for the success metrics."""

    run_id: int = Field(foreign_key="run.id", primary_key=True)
    result: str
    user: str
    at: datetime = Field(default_factory=utcnow)


class SeenRequest(SQLModel, table=True):
    """A Slack request already handled, by its unique ids (a command's ``trigger_id``, a
    click's ``action_ts``, a submitted view's id). The primary key makes a replay inside
    the signature window a no-op on whichever replica receives it; old rows expire."""

    key: str = Field(primary_key=True, max_length=255)
    at: datetime = Field(default_factory=utcnow, index=True)


class OutboxMessage(SQLModel, table=True):
    """A Slack message the bot owes, recorded under a key that names it (``run:7:parent``)
    before it is sent; ``ts`` once Slack answered. See bot/store/outbox.py."""

    key: str = Field(primary_key=True, max_length=255)
    run_id: int | None = Field(default=None, index=True)
    channel: str
    thread_ts: str | None = None
    ts: str | None = None
    at: datetime = Field(default_factory=utcnow)
    claimed_by: str | None = None
    """The process sending it now; others wait for its ts rather than post it too."""
    claimed_at: datetime | None = None


class Reminder(SQLModel, table=True):
    """A digest, DM, nudge, warning or outcome notice, recorded under its key before it is
    sent: the job, its slot (a fire time, a nudge number), the run (0 for none) and the
    recipient (a user, or the channel). The message itself goes through the outbox under
    the same key, so no replica or restart sends it twice. See bot/store/reminders.py."""

    job: str = Field(primary_key=True, max_length=32)
    slot: str = Field(primary_key=True, max_length=64)
    run_id: int = Field(default=0, primary_key=True)
    recipient: str = Field(primary_key=True, max_length=64)
    at: datetime = Field(default_factory=utcnow)


class DirectChannel(SQLModel, table=True):
    """The bot's DM channel with a person, from ``conversations.open``, kept so that each
    digest costs one call per person, not two."""

    user: str = Field(primary_key=True, max_length=64)
    channel: str


class AuditEvent(SQLModel, table=True):
    """One append-only audit event; ``hash`` covers it and ``prev_hash`` (the event before
    it), see bot/audit/chain.py. The unique ``prev_hash`` keeps the chain from forking."""

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: datetime
    run_id: int | None = Field(default=None, index=True)
    """No foreign key: the trail outlives whatever it speaks of."""
    actor: str
    action: str = Field(index=True)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    prev_hash: str = Field(max_length=64, unique=True)
    hash: str = Field(max_length=64, unique=True)


class AuditQueued(SQLModel, table=True):
    """An audit event stored with its change but not chained yet. The ack of
    ``/preprod start`` queues its run's event here instead of waiting for the appenders'
    lock behind the runs executing; whoever takes that lock next chains the queue first
    (bot/store/audit.py), so the event precedes every event that follows from it."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime
    run_id: int | None = None
    actor: str
    action: str
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))


class ConfigSnapshot(SQLModel, table=True):
    """The config file a run used, secrets redacted, once per distinct file (by the
    SHA-256 of its bytes as read, which ``run.config_digest`` names)."""

    digest: str = Field(primary_key=True, max_length=64)
    path: str = ""
    text: str
    at: datetime = Field(default_factory=utcnow)


class InsightMark(SQLModel, table=True):
    """How far the insight rows have followed the audit trail: every event up to ``seq``
    is counted (see bot/store/facts.py). One row."""

    id: int = Field(default=1, primary_key=True)
    seq: int = 0


class InsightRun(SQLModel, table=True):
    """What one run adds to the success metrics, as last counted into :class:`InsightDay`
    and :class:`InsightCheck` (see bot/store/facts.py, which brings all three up to date
    from the audit trail). A period's partial first and last
    days are read from these rows; its whole days from the rollups."""

    run_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    started: datetime = Field(index=True)
    service: str
    outcome: str | None = None
    production: str | None = None
    cycle: float | None = None
    """Seconds from the start to the decision."""
    checks: float | None = None
    """Seconds from the start to the end of the automated checks."""
    waivers: int = 0
    tallies: dict[str, list[int]] = Field(default_factory=dict, sa_column=Column(JSON))
    """Per check: ``[failed, finished]`` attempts."""
    status: str | None = None
    """The run's status (``running``, ``finished``, ...), for ``/metrics`` (migration 0018f)."""


class InsightTotal(SQLModel, table=True):
    """What ``/metrics`` reports of every stored run, kept as the insight rows are (bot/store/
    facts.py moves them by each run's difference): runs by status (``runs:finished``),
    decisions by outcome (``decisions:go``, with the seconds from start to decision summed)
    and production outcomes by result (``production:success``). A scrape reads these few
    rows instead of counting a million runs (migration 0018f)."""

    name: str = Field(primary_key=True)
    count: int = 0
    seconds: float = 0.0


class InsightTally(SQLModel):
    """The columns a rollup of runs adds up (no table of its own): counts, and the
    durations whose medians the figures take, each a sorted list of little-endian doubles
    (bot/store/tally.py ``packed``: read back without parsing). They come first in the
    model's column order (the tables keep the migrations' order); every reader names them
    (bot/store/rollups.py ``tally_columns``), none goes by the table's positions."""

    runs: int = 0
    go: int = 0
    no_go: int = 0
    expired: int = 0
    cancelled: int = 0
    succeeded: int = 0
    rolled_back: int = 0
    escaped: int = 0
    waivers: int = 0
    cycles: bytes = Field(default=b"", sa_type=LargeBinary, nullable=False)
    automated: bytes = Field(default=b"", sa_type=LargeBinary, nullable=False)
    waiting: bytes = Field(default=b"", sa_type=LargeBinary, nullable=False)
    automated_sum: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    """``automated``'s exact sum, a few little-endian doubles (bot/store/tally.py
    ``exact_sum``); NULL: add up the list."""
    waiting_sum: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)


class InsightDay(InsightTally, table=True):
    """The runs of one service started on one (UTC) day, added up."""

    day: date = Field(primary_key=True)
    service: str = Field(primary_key=True)


class InsightWeek(InsightTally, table=True):
    """The runs of one service started in one ISO week (``week``: its Monday, UTC), added
    up as :class:`InsightDay` adds up a day: a year's insights read ~50 rows a service,
    not ~365 (migration 0019a)."""

    week: date = Field(primary_key=True)
    service: str = Field(primary_key=True)


class InsightCheck(SQLModel, table=True):
    """A check's finished and failed attempts in the runs of one service and day."""

    day: date = Field(primary_key=True)
    service: str = Field(primary_key=True)
    check_id: str = Field(primary_key=True)
    failed: int = 0
    total: int = 0
