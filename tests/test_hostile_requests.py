"""Unsigned, oversized and unreadable requests to /slack/events, over real HTTP: a 401,
413 or 400 with one log line (never the body), no traceback and nothing stored."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.web.signed import MAX_BODY
from tests.hostile_bot import log_text, quick_bot, state, tracebacks
from tests.slackbot import Harness

pytestmark = pytest.mark.usefixtures("scripted_kinds")


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    async with quick_bot(tmp_path) as harness:
        yield harness


@pytest.fixture(autouse=True)
def _everything_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)


async def test_a_large_badly_signed_body_is_refused_without_logging_it(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    body = "text=" + "A" * (MAX_BODY - 100)
    response = await harness.standin.send_raw(body, secret="wrong")
    assert response.status_code == 401
    logged = log_text(caplog)
    assert "AAAAAAAAAA" not in logged
    assert len(logged) < 2_000
    assert not tracebacks(caplog)


async def test_a_body_over_the_limit_is_413_whether_declared_or_chunked(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    five_mb = b"text=" + b"A" * 5_000_000
    declared = await harness.standin.send_raw(five_mb, secret="wrong")
    assert declared.status_code == 413

    sent = 0

    def refused() -> bool:
        return any("body over" in r.getMessage() for r in caplog.records)

    async def endless() -> AsyncIterator[bytes]:
        """640 MB if it were all read; stops once the bot has refused it."""
        nonlocal sent
        for _ in range(10_000):
            if refused():
                return
            sent += 65_536
            yield b"A" * 65_536
            await asyncio.sleep(0)

    async with httpx.AsyncClient(timeout=30) as client:
        try:
            chunked = await client.post(harness.standin.bot_url, content=endless())
            assert chunked.status_code == 413
        except httpx.TransportError:
            pass  # the server may close the connection before the client stops sending
    assert refused() and sent < 4 * MAX_BODY
    assert "AAAAAAAAAA" not in log_text(caplog)
    assert not tracebacks(caplog)
    assert state(harness)["Run"] == 0


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe\x00binary\x80\x81",
        b"payload=not-json{",
        b"payload=%5B1%5D",
        b"payload=[1]",
        b"{not json",
        b"command=/preprod&text=start+svc+1+staging&user_id=U0RM&channel_id=C0RELEASES",
    ],
)
async def test_unsigned_bodies_are_401_without_a_traceback(
    harness: Harness, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    before = state(harness)
    response = await harness.standin.send_raw(body, signed=False)
    assert response.status_code == 401
    assert not tracebacks(caplog)
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1
    assert state(harness) == before


@pytest.mark.parametrize("timestamp", ["soon", "", "1e9", "-5", "١٢٣", "9" * 40])
async def test_a_malformed_timestamp_is_401(
    harness: Harness, caplog: pytest.LogCaptureFixture, timestamp: str
) -> None:
    headers = {
        b"Content-Type": b"application/x-www-form-urlencoded",
        b"X-Slack-Request-Timestamp": timestamp.encode(),
        b"X-Slack-Signature": b"v0=00",
    }
    async with httpx.AsyncClient() as client:
        response = await client.post(
            harness.standin.bot_url, content=b"command=/preprod&text=help", headers=headers
        )
    assert response.status_code == 401
    assert not tracebacks(caplog)


async def test_an_old_or_wrongly_signed_request_is_401(harness: Harness) -> None:
    old = await harness.standin.send_command("help", timestamp=int(time.time()) - 600)
    wrong = await harness.standin.send_command("help", secret="wrong")
    assert (old.status_code, wrong.status_code) == (401, 401)


@pytest.mark.parametrize(
    "body", [b"\xff\xfe\x00binary", b"payload=not-json{", b"payload=[1]", b'{"a": [1']
)
async def test_signed_but_unreadable_bodies_are_400_without_a_traceback(
    harness: Harness, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    before = state(harness)
    response = await harness.standin.send_raw(body)
    assert response.status_code == 400
    assert not tracebacks(caplog)
    assert state(harness) == before


async def test_signed_commands_still_work(harness: Harness) -> None:
    assert "Starting the validation" in await harness.command("start svc 1.0 staging")
    await harness.settle()
    assert state(harness)["Run"] == 1
