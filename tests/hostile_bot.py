"""A quick bot for the hostile-request tests: the real app over HTTP, the stand-in, and a
plan of scripted checks that finishes at once; plus what counts as a state change."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func
from sqlmodel import Session, SQLModel, select

from bot.store.models import (
    AttestationTick,
    CheckRecord,
    DecisionRecord,
    ProductionOutcome,
    Run,
    SignOff,
    SlackThread,
    Waiver,
)
from tests.slackbot import Harness, running_bot

CONFIG = """\
channel: C0RELEASES
roles:
  sre: {label: SRE, members: [U0SRE1, U0SRE2]}
  security: {label: Security, members: [U0SEC1]}
environments:
  staging:
    base_url: http://127.0.0.1:9
    plan: quick
plans:
  quick:
    checks:
      - {id: one, type: scripted}
      - {id: two, type: scripted, outcome: fail, critical: false}
    attestations:
      - {id: oncall, text: On-call rotation staffed, role: sre}
"""

TABLES: tuple[type[SQLModel], ...] = (
    Run,
    CheckRecord,
    SlackThread,
    SignOff,
    Waiver,
    AttestationTick,
    DecisionRecord,
    ProductionOutcome,
)


@asynccontextmanager
async def quick_bot(tmp_path: Path, config: str = CONFIG) -> AsyncIterator[Harness]:
    path = tmp_path / "preprod.yml"
    path.write_text(config)
    async with running_bot(path, tmp_path) as harness:
        yield harness


def state(harness: Harness) -> dict[str, int]:
    """How many rows each table of runs and sign-offs holds."""
    with Session(harness.bot.store.engine) as session:
        return {
            table.__name__: session.exec(select(func.count()).select_from(table)).one()
            for table in TABLES
        }


def form(payload: dict[str, Any]) -> str:
    """An interaction body, as Slack sends it."""
    return urlencode({"payload": json.dumps(payload)})


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(
        record.getMessage() + (f"\n{record.exc_text or ''}" if record.exc_info else "")
        for record in caplog.records
    )


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
