"""Web sessions that end: stored server-side (bot/store/sessions.py), so a cookie copied
before sign-out, a revocation, an idle spell or removal from the roles opens nothing.

The acceptance tests sign in for real (the stand-in's OpenID provider) against the real
ASGI app over HTTP; the store's tests run on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event
from sqlmodel import Session, select

from bot.cli.main import main
from bot.settings import Settings, SettingsError
from bot.store.models import WebSession
from bot.store.runs import RunStore
from bot.store.sessions import (
    EXPIRED,
    IDLE,
    REMOVED_FROM_ROLES,
    REVOKED,
    SIGNED_OUT,
    TOUCH_EVERY,
    Limits,
    WebSessions,
    token_hash,
    touch_due,
    why_over,
)
from bot.web.signin import SESSION_COOKIE
from tests.slackbot import Harness, running_bot
from tests.support.signin import session_cookie
from tests.support.target import REPO_ROOT

START = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
LIMITS = Limits(ttl=timedelta(hours=8), idle=timedelta(hours=1))


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


# -- pure decisions -----------------------------------------------------------------------


def test_a_session_ends_past_either_limit_or_when_ended() -> None:
    row = WebSession(token_hash="h", user="U0RM", created_at=START, last_seen=START)
    assert why_over(row, START + timedelta(minutes=59), LIMITS) is None
    assert why_over(row, START + timedelta(minutes=61), LIMITS) == IDLE
    active = WebSession(
        token_hash="h", user="U0RM", created_at=START, last_seen=START + timedelta(hours=8)
    )
    assert why_over(active, START + timedelta(hours=8, minutes=1), LIMITS) == EXPIRED
    # SQLite hands datetimes back naive: they are UTC all the same
    naive = WebSession(
        token_hash="h", user="U0RM", created_at=START.replace(tzinfo=None), last_seen=START
    )
    assert why_over(naive, START + timedelta(hours=8, seconds=1), LIMITS) == EXPIRED
    ended = WebSession(token_hash="h", user="U0RM", ended_at=START, ended_why=SIGNED_OUT)
    assert why_over(ended, START, LIMITS) == SIGNED_OUT
    assert not touch_due(START, START + TOUCH_EVERY)
    assert touch_due(START, START + TOUCH_EVERY + timedelta(seconds=1))


# -- the store, on both databases ---------------------------------------------------------


@pytest.fixture
def store(either_store: RunStore) -> RunStore:
    return either_store


def writes_to_sessions(store: RunStore) -> list[str]:
    """Every INSERT/UPDATE/DELETE the store sends to the ``websession`` table, from now."""
    seen: list[str] = []

    def record(conn: object, cursor: object, statement: str, *rest: object) -> None:
        words = statement.split()
        if words and words[0] in ("INSERT", "UPDATE", "DELETE") and "websession" in statement:
            seen.append(words[0])

    event.listen(store.engine, "before_cursor_execute", record)
    return seen


async def test_store_keeps_only_the_hash_and_ends_sessions(store: RunStore) -> None:
    clock = Clock()
    sessions = WebSessions(store, LIMITS, clock)
    token = await sessions.open("U0RM", "rita")
    other = await sessions.open("U0RM", "rita")
    sam = await sessions.open("U0SRE1", "sam")
    assert len(token) >= 43 and token != other  # 256 random bits, base64url
    with Session(store.engine) as db:
        rows = db.exec(select(WebSession)).all()
    assert {row.token_hash for row in rows} == {token_hash(t) for t in (token, other, sam)}
    assert all(token not in (row.token_hash, row.user, row.name) for row in rows)

    checked = await sessions.check(token)
    assert checked is not None and (checked.user, checked.name) == ("U0RM", "rita")
    assert await sessions.check("not-a-token") is None

    assert await sessions.end(token, SIGNED_OUT)
    assert not await sessions.end(token, REVOKED)  # ended once: keeps its first reason
    assert await sessions.check(token) is None
    assert await sessions.check(other) is not None  # another browser of the same person

    assert await sessions.end_user("U0RM") == 1  # only the one still live
    assert await sessions.check(other) is None
    assert await sessions.check(sam) is not None
    live = await sessions.listing()
    assert [(s.user, s.name, s.key) for s in live] == [("U0SRE1", "sam", token_hash(sam)[:12])]
    every = {s.key: s.ended_why for s in await sessions.listing(ended=True)}
    assert every == {
        token_hash(token)[:12]: SIGNED_OUT,
        token_hash(other)[:12]: REVOKED,
        token_hash(sam)[:12]: None,
    }


async def test_idle_and_total_limits_with_a_write_at_most_once_a_minute(store: RunStore) -> None:
    clock = Clock()
    sessions = WebSessions(store, LIMITS, clock)
    token = await sessions.open("U0RM", "rita")
    writes = writes_to_sessions(store)
    for _ in range(20):  # a busy minute: twenty requests, no write
        clock.advance(seconds=3)
        assert await sessions.check(token) is not None
    assert writes == []
    clock.advance(seconds=2)  # 62 s since the last write
    assert await sessions.check(token) is not None
    assert writes == ["UPDATE"]

    # activity keeps it: 59 minutes idle at a time, well past one hour in all
    for _ in range(3):
        clock.advance(minutes=59)
        assert await sessions.check(token) is not None
    clock.advance(minutes=61)
    assert await sessions.check(token) is None
    with Session(store.engine) as db:
        row = db.get(WebSession, token_hash(token))
    assert row is not None and row.ended_why == IDLE

    # the 8 h maximum holds however active the person is
    busy = await sessions.open("U0SRE1", "sam")
    for _ in range(8):
        clock.advance(minutes=55)
        assert await sessions.check(busy) is not None
    clock.advance(minutes=45)  # 8 h 5 min after sign-in, seen 45 min ago
    assert await sessions.check(busy) is None
    [listed] = [s for s in await sessions.listing(ended=True) if s.user == "U0SRE1"]
    assert listed.ended_why == EXPIRED


async def test_a_touch_racing_a_revocation_does_not_revive_the_session(store: RunStore) -> None:
    clock = Clock()
    sessions = WebSessions(store, LIMITS, clock)
    token = await sessions.open("U0RM", "rita")
    clock.advance(minutes=5)  # every check now wants to move last_seen
    results = await asyncio.gather(
        *[sessions.check(token) for _ in range(4)], sessions.end_user("U0RM"),
        *[sessions.check(token) for _ in range(4)],
    )  # fmt: skip
    assert results[4] == 1
    assert await sessions.check(token) is None
    with Session(store.engine) as db:
        row = db.get(WebSession, token_hash(token))
    assert row is not None and row.ended_why == REVOKED


async def test_old_rows_are_deleted_at_the_next_sign_in(store: RunStore) -> None:
    clock = Clock()
    sessions = WebSessions(store, LIMITS, clock)
    old = await sessions.open("U0RM", "rita")
    clock.advance(days=7, hours=9)  # past the 8 h maximum and a week kept
    await sessions.open("U0SRE1", "sam")
    with Session(store.engine) as db:
        assert db.get(WebSession, token_hash(old)) is None
        assert [row.user for row in db.exec(select(WebSession))] == ["U0SRE1"]


# -- settings and start-up ----------------------------------------------------------------

SIGN_IN_ENV = {
    "SLACK_BOT_TOKEN": "xoxb-test",
    "SLACK_SIGNING_SECRET": "signing",
    "PREPROD_SLACK_CLIENT_ID": "client",
    "PREPROD_SLACK_CLIENT_SECRET": "secret",
    "PREPROD_SLACK_TEAM_ID": "T0TEAM",
}


def test_settings_read_the_limits_and_want_a_session_secret_with_sign_in() -> None:
    settings = Settings.from_env(SIGN_IN_ENV)
    assert (settings.session_ttl, settings.session_idle) == (8 * 3600.0, 3600.0)
    refusal = settings.web_refusal()
    assert refusal is not None and refusal.startswith("PREPROD_SESSION_SECRET is not set")
    given = Settings.from_env(
        {**SIGN_IN_ENV, "PREPROD_SESSION_SECRET": "s" * 64, "PREPROD_SESSION_IDLE": "900"}
    )
    assert given.web_refusal() is None and given.session_idle == 900.0
    assert given.session_key() == "s" * 64
    without_sign_in = {k: v for k, v in SIGN_IN_ENV.items() if "CLIENT_ID" not in k}
    assert Settings.from_env(without_sign_in).web_refusal() is None
    with pytest.raises(SettingsError, match="PREPROD_SESSION_IDLE must be a number"):
        Settings.from_env({**SIGN_IN_ENV, "PREPROD_SESSION_IDLE": "1h"})


def test_serve_with_sign_in_and_no_session_secret_refuses_to_start(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PREPROD_", "SLACK_"))},
        **SIGN_IN_ENV,
        "DATABASE_URL": f"sqlite:///{tmp_path}/bot.db",
        "PYTHONPATH": str(REPO_ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve", "--port", "9"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "preprod: PREPROD_SESSION_SECRET is not set" in done.stderr
    assert not (tmp_path / "bot.db").exists()  # refused before anything was opened


# -- acceptance: the real app over HTTP ---------------------------------------------------

CONFIG = """\
channel: C0RELEASES
roles:
  sre: {label: SRE, usergroup: S0SRE}
environments:
  staging: {base_url: "http://127.0.0.1:9", plan: standard}
plans:
  standard:
    checks:
      - {id: smoke, type: http, requests: [{path: /healthz}]}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "preprod.yml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.now(UTC))


@pytest.fixture
async def harness(config: Path, tmp_path: Path, clock: Clock) -> AsyncIterator[Harness]:
    async with running_bot(config, tmp_path, web=True, session_clock=clock) as running:
        yield running


async def replay(harness: Harness, cookie: str, path: str = "/runs") -> httpx.Response:
    async with httpx.AsyncClient(base_url=harness.url) as http:
        return await http.get(path, headers={"cookie": f"{SESSION_COOKIE}={cookie}"})


def refused_to_sign_in(answer: httpx.Response) -> bool:
    return answer.status_code == 302 and answer.headers["location"].startswith("/auth/login")


def stored(harness: Harness, user: str) -> list[WebSession]:
    with Session(harness.bot.store.engine) as db:
        return list(db.exec(select(WebSession).where(WebSession.user == user)))


async def test_a_cookie_copied_before_sign_out_is_refused(harness: Harness) -> None:
    copied, page = await session_cookie(harness.url, harness.standin, "U0RM")
    assert page.status_code == 200 and "signed in as" in page.text
    assert (await replay(harness, copied)).status_code == 200
    async with httpx.AsyncClient(base_url=harness.url) as http:
        out = await http.post("/auth/logout", headers={"cookie": f"{SESSION_COOKIE}={copied}"})
    assert out.status_code == 200 and "Signed out" in out.text
    assert refused_to_sign_in(await replay(harness, copied))
    assert refused_to_sign_in(await replay(harness, copied, "/insights"))
    [row] = stored(harness, "U0RM")
    assert row.ended_why == SIGNED_OUT
    # signing in again gives a new session; the old cookie stays dead
    again, page = await session_cookie(harness.url, harness.standin, "U0RM")
    assert page.status_code == 200 and again != copied
    assert refused_to_sign_in(await replay(harness, copied))


async def test_a_session_revoked_by_the_cli_is_refused(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    copied, _ = await session_cookie(harness.url, harness.standin, "U0RM")
    kept, _ = await session_cookie(harness.url, harness.standin, "U0SRE1")
    database = harness.bot.settings.database_url
    assert database is not None
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["sessions", "list", "--database", database]) == 0
    listed = capsys.readouterr().out
    assert "U0RM  Rita-Release" in listed and "U0SRE1" in listed, listed
    argv = ["sessions", "revoke", "--user", "U0RM", "--database", database]
    assert await asyncio.to_thread(main, argv) == 0
    assert capsys.readouterr().out.strip() == "ended 1 session of U0RM"
    assert refused_to_sign_in(await replay(harness, copied))
    assert (await replay(harness, kept)).status_code == 200
    assert await asyncio.to_thread(main, ["sessions", "list", "--database", database]) == 0
    assert "U0RM" not in capsys.readouterr().out
    bad = ["sessions", "revoke", "--user", "U0RM; rm -rf /", "--database", database]
    assert await asyncio.to_thread(main, bad) == 2
    assert "--user wants a Slack user id" in capsys.readouterr().err


async def test_an_idle_session_is_refused(harness: Harness, clock: Clock) -> None:
    copied, _ = await session_cookie(harness.url, harness.standin, "U0RM")
    clock.advance(minutes=50)
    assert (await replay(harness, copied)).status_code == 200  # still within the hour
    clock.advance(minutes=50)
    assert (await replay(harness, copied)).status_code == 200  # idle 50 min, not 100
    clock.advance(minutes=61)
    assert refused_to_sign_in(await replay(harness, copied))
    [row] = stored(harness, "U0RM")
    assert row.ended_why == IDLE


async def test_removal_from_the_roles_ends_the_stored_session(
    config: Path, tmp_path: Path, clock: Clock
) -> None:
    async with running_bot(
        config, tmp_path, web=True, web_roles=("sre",), session_clock=clock
    ) as harness:
        harness.standin.workspace.usergroups["S0SRE"] = ["U0RM", "U0SRE1"]
        copied, page = await session_cookie(harness.url, harness.standin, "U0RM")
        assert page.status_code == 200
        harness.standin.workspace.usergroups["S0SRE"] = ["U0SRE1"]
        # within the directory's five-minute cache the old answer still holds ...
        assert (await replay(harness, copied)).status_code == 200
        # ... and once it has passed, the next request ends the session
        directory = harness.bot.gate.directory
        later = directory._clock() + 301  # type: ignore[attr-defined]
        directory._clock = lambda: later  # type: ignore[attr-defined]
        assert refused_to_sign_in(await replay(harness, copied))
        [row] = stored(harness, "U0RM")
        assert row.ended_why == REMOVED_FROM_ROLES
        # put back in the role, the old cookie still opens nothing: sign in again
        harness.standin.workspace.usergroups["S0SRE"] = ["U0RM", "U0SRE1"]
        directory._clock = lambda: later + 301  # type: ignore[attr-defined]
        assert refused_to_sign_in(await replay(harness, copied))
        _, page = await session_cookie(harness.url, harness.standin, "U0RM")
        assert page.status_code == 200


async def test_signing_out_on_one_replica_ends_the_session_on_the_other(
    config: Path, tmp_path: Path, clock: Clock
) -> None:
    async with (
        running_bot(config, tmp_path, web=True, session_clock=clock) as one,
        running_bot(config, tmp_path, web=True, session_clock=clock) as other,
    ):
        assert one.bot.settings.database_url == other.bot.settings.database_url
        copied, _ = await session_cookie(one.url, one.standin, "U0RM")
        assert (await replay(other, copied)).status_code == 200  # one database, one session
        async with httpx.AsyncClient(base_url=one.url) as http:
            await http.post("/auth/logout", headers={"cookie": f"{SESSION_COOKIE}={copied}"})
        assert refused_to_sign_in(await replay(other, copied))
