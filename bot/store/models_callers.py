"""Tables of the callers from outside Slack: the web pages' signed-in sessions, the
pipelines' tokens and their requests by idempotency key, and the GitHub jobs runs answer
with the answers owed to GitHub. Split from models.py (which re-exports them, so
``from bot.store.models import WebSession`` still works and every table registers)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Text
from sqlmodel import Field, SQLModel

from bot.store.times import utcnow


class WebSession(SQLModel, table=True):
    """A signed-in browser of the web pages. The cookie carries a random token; only its
    SHA-256 is stored, so a copy of the database opens no session. Ending one (sign-out,
    ``preprod sessions revoke``, removal from the roles, a limit passed) sets ``ended_at``
    and every replica refuses the cookie from then on. See bot/store/sessions.py."""

    token_hash: str = Field(primary_key=True, max_length=64)
    user: str = Field(max_length=64, index=True)
    name: str = Field(default="", max_length=80)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    last_seen: datetime = Field(default_factory=utcnow)
    """Written at most once a minute per session (see ``sessions.TOUCH_EVERY``)."""
    ended_at: datetime | None = None
    ended_why: str | None = Field(default=None, max_length=64)


class PipelineToken(SQLModel, table=True):
    """A deployment pipeline's credential for the API (``ppt_<id>_<secret>``). Only the
    secret's SHA-256 is kept; the patterns (fnmatch) bound the services and environments
    it may request and read. See bot/store/tokens.py."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    service: str = Field(max_length=100)
    environment: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(default="", max_length=64)
    last_used_at: datetime | None = None
    """Written at most once a minute (``tokens.TOUCH_EVERY``)."""
    revoked_at: datetime | None = None


class ApiRequest(SQLModel, table=True):
    """A pipeline's request by its ``Idempotency-Key``: the same key from the same token
    is the same run, on whichever replica it lands."""

    token_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    key: str = Field(primary_key=True, max_length=200)
    run_id: int | None = Field(default=None, foreign_key="run.id", index=True)
    """None while the request that claimed the key is starting its run."""
    at: datetime = Field(default_factory=utcnow)


class GitHubJob(SQLModel, table=True):
    """The GitHub workflow job a run answers (a deployment protection rule): where the
    decision goes, and which installation's token may send it. Migration 0016."""

    run_id: int = Field(
        primary_key=True, foreign_key="run.id", sa_column_kwargs={"autoincrement": False}
    )
    owner: str = Field(max_length=39)
    repo: str = Field(max_length=100)
    workflow_run: int = Field(sa_type=BigInteger)
    environment: str = Field(max_length=255)
    installation_id: int = Field(sa_type=BigInteger)
    delivery: str = Field(max_length=64)
    """The ``X-GitHub-Delivery`` GUID that started the run."""
    at: datetime = Field(default_factory=utcnow)
    rerun_delivery: str | None = Field(default=None, max_length=64)
    """A re-run of the job in GitHub (its delivery GUID) that waits for the run's next
    decision: GitHub took an earlier one and keeps it, so only a new attempt can hear
    another. Cleared once that decision is owed to it (migration 0019e)."""


class GitHubAnswer(SQLModel, table=True):
    """An answer the bot owes GitHub (a progress comment, or the decision under
    ``github:<run>:decision``), recorded before it is sent and marked once GitHub took it,
    so that a crash or a 5xx never loses or doubles it. See bot/store/github.py."""

    key: str = Field(primary_key=True, max_length=64)
    run_id: int = Field(index=True)
    state: str | None = Field(default=None, max_length=16)
    """``approved`` or ``rejected`` for the decision; None for a progress comment."""
    comment: str = Field(sa_type=Text)
    at: datetime = Field(default_factory=utcnow)
    claimed_at: datetime | None = None
    """When a process last started sending it; another waits until that is stale."""
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=255)
    answered_at: datetime | None = Field(default=None, index=True)
