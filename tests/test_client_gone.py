"""A client that closes its connection halfway through a body (a pipeline killed
mid-request, a proxy's time-out): Starlette raises ``ClientDisconnect`` in the body
reader, which used to escape as uvicorn's "Exception in ASGI application" with a
traceback. Now: one info line, nothing stored, and the server goes on answering."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlmodel import Session, select

from bot.store.models import ApiRequest, Run
from bot.store.tokens import Tokens
from tests.slackbot import Harness, running_bot
from tests.support.plans import SMOKE_HEALTHZ, config_file, staging_config
from tests.support.target import RunningTarget

BODY = (
    b'{"service": "checkout-api", "version": "2.14.0", "environment": "staging", '
    b'"source": {"kind": "other", "name": "deploy"}}'
)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        return [f"{r.name} {r.levelname} {r.getMessage()}" for r in self.records]


@pytest.fixture
def records() -> Iterator[Records]:
    """uvicorn's error log and ours (uvicorn's does not propagate to the root logger)."""
    handler = Records()
    loggers = [logging.getLogger(name) for name in ("uvicorn.error", "bot.web.api_http")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield handler
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
async def harness(healthy_target: RunningTarget, tmp_path: Path) -> AsyncIterator[Harness]:
    config = config_file(tmp_path, staging_config(healthy_target.http_url, SMOKE_HEALTHZ))
    async with running_bot(config, tmp_path) as found:
        yield found


async def half_a_body(url: str, path: str, headers: dict[str, str], body: bytes) -> None:
    """Send the headers and the first half of ``body`` (its whole length declared),
    then close the socket."""
    where = urlsplit(url)
    assert where.hostname is not None and where.port is not None
    _reader, writer = await asyncio.open_connection(where.hostname, where.port)
    head = [f"POST {path} HTTP/1.1", f"Host: {where.netloc}", f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body[: len(body) // 2])
    await writer.drain()
    await asyncio.sleep(0.2)  # the handler is reading the body by now
    writer.close()
    await writer.wait_closed()


async def until_logged(records: Records, words: str, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not any(words in line for line in records.lines()):
        assert asyncio.get_running_loop().time() < deadline, records.lines()
        await asyncio.sleep(0.05)


async def test_a_request_cut_off_mid_body_is_one_info_line_and_stores_nothing(
    harness: Harness, records: Records
) -> None:
    token = await Tokens(harness.bot.store).create("ci", "*", "*", "test")
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Idempotency-Key": "cut-off",
    }
    await half_a_body(harness.url, "/api/v1/requests", headers, BODY)
    await until_logged(records, "/api/v1/requests: the client left before sending its body")
    slack = {"Content-Type": "application/x-www-form-urlencoded"}
    await half_a_body(harness.url, "/slack/events", slack, b"payload=" + b"x" * 400)
    await until_logged(records, "/slack/events: the client left before sending its body")

    gone = [r for r in records.records if "client left" in r.getMessage()]
    assert [r.levelno for r in gone] == [logging.INFO, logging.INFO]
    assert not [r for r in records.records if r.levelno >= logging.WARNING], records.lines()
    assert not [r for r in records.records if r.exc_info], records.lines()
    with Session(harness.bot.store.engine) as session:
        assert list(session.exec(select(Run))) == []
        assert list(session.exec(select(ApiRequest))) == []
    # the server still answers, and the same key is free for the whole request
    async with httpx.AsyncClient(base_url=harness.url) as http:
        whole = await http.post("/api/v1/requests", content=BODY, headers=headers)
    assert whole.status_code == 201, whole.text
