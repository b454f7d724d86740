"""Property: whatever arrives at /slack/events over real HTTP (random bodies and headers,
unsigned or signed; signed random interaction payloads) the bot never answers 5xx, never
logs a traceback, and an unsigned or malformed request changes no row in the database."""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.slack.actions import (
    APPROVE,
    ATTEST,
    ATTEST_MODAL,
    OPEN_RUN,
    REASON_BLOCK,
    REASON_INPUT,
    REJECT,
    REJECT_MODAL,
    WAIVE,
    WAIVE_MODAL,
)
from handlers import after_ack
from slack_standin import sign
from tests.hostile_bot import quick_bot, state, tracebacks
from tests.slackbot import CHANNEL, Harness

text = st.text(max_size=30)
ids = st.one_of(st.sampled_from(["U0OUT", "U0RM", "", CHANNEL]), text)
"""Never a role member: no signed payload here may legitimately change anything."""
targets = st.one_of(
    st.builds(
        lambda r, g, s: f"{r}:{g}:{s}",
        st.integers(-5, 2**70),
        st.integers(-1, 3),
        st.sampled_from(["sre", "security", "one", "two", "oncall", "x"]),
    ),
    text,
)
junk = st.recursive(
    st.none() | st.booleans() | st.integers() | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)


def maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field that is usually right, sometimes junk, sometimes missing."""
    return st.one_of(value, value, junk, st.just(MISSING))


MISSING = object()


def _dict(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not MISSING}


actions = st.builds(
    lambda a, v, ts: _dict(action_id=a, value=v, action_ts=ts, type="button"),
    maybe(st.sampled_from([APPROVE, REJECT, WAIVE, ATTEST, OPEN_RUN, "other"])),
    maybe(targets),
    maybe(st.uuids().map(str)),
)
clicks = st.builds(
    lambda user, trigger, container, channel, acts: _dict(
        type="block_actions",
        user=user,
        trigger_id=trigger,
        container=container,
        channel=channel,
        actions=acts,
    ),
    maybe(st.builds(lambda i: {"id": i}, ids)),
    maybe(st.uuids().map(str)),
    maybe(st.builds(lambda c: {"type": "message", "channel_id": c, "message_ts": "1.1"}, ids)),
    maybe(st.builds(lambda c: {"id": c}, ids)),
    maybe(st.lists(actions, max_size=2)),
)
views = st.builds(
    lambda user, trigger, view: _dict(
        type="view_submission", user=user, trigger_id=trigger, view=view
    ),
    maybe(st.builds(lambda i: {"id": i}, ids)),
    maybe(st.uuids().map(str)),
    maybe(
        st.builds(
            lambda vid, callback, meta, state: _dict(
                id=vid, callback_id=callback, private_metadata=meta, state=state
            ),
            maybe(st.uuids().map(str)),
            maybe(st.sampled_from([REJECT_MODAL, WAIVE_MODAL, ATTEST_MODAL, "other"])),
            maybe(targets),
            maybe(
                st.builds(lambda v: {"values": {REASON_BLOCK: {REASON_INPUT: {"value": v}}}}, text)
            ),
        )
    ),
)
payloads = st.one_of(clicks, views, st.dictionaries(text, junk, max_size=4))
header_names = st.sampled_from(
    ["X-Slack-Request-Timestamp", "X-Slack-Signature", "Content-Type", "Content-Length", "X-Other"]
)
header_values = st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=40) | (
    st.sampled_from(["application/json", "v0=", str(int(time.time())), "-1", "99999999999"])
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, dict[str, str], bool]:
    """(body, headers, signed). Signed requests carry a random payload of ours; unsigned
    ones random bytes or forms with random Slack headers."""
    if draw(st.booleans()):
        payload = draw(payloads)
        body = urlencode({"payload": json.dumps(payload)})
        return body.encode(), {}, True
    body = draw(
        st.one_of(
            st.binary(max_size=200),
            st.builds(lambda p: urlencode({"payload": json.dumps(p)}).encode(), payloads),
            st.text(max_size=100).map(str.encode),
        )
    )
    headers = draw(st.dictionaries(header_names, header_values, max_size=3))
    headers.pop("Content-Length", None)  # httpx sets the true one; a false one hangs uvicorn
    return body, headers, False


@dataclass
class LiveBot:
    """The harness in a thread of its own, so hypothesis's synchronous examples can talk
    to it over HTTP while it serves."""

    harness: Harness
    loop: asyncio.AbstractEventLoop

    def settle(self) -> None:
        async def quiet() -> None:
            await asyncio.sleep(0.05)
            while after_ack.pending():
                await asyncio.sleep(0.01)

        asyncio.run_coroutine_threadsafe(quiet(), self.loop).result(10)


@pytest.fixture
def live_bot(tmp_path: Path, scripted_kinds: None) -> Iterator[LiveBot]:
    ready: queue.Queue[LiveBot | BaseException] = queue.Queue()
    stop = threading.Event()

    async def serve() -> None:
        try:
            async with quick_bot(tmp_path) as harness:
                await harness.command("start svc 1.0 staging")  # run 1 with its panel
                await harness.settle()
                ready.put(LiveBot(harness, asyncio.get_running_loop()))
                while not stop.is_set():
                    await asyncio.sleep(0.05)
        except BaseException as exc:
            ready.put(exc)
            raise

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    found = ready.get(timeout=60)
    if isinstance(found, BaseException):
        raise found
    yield found
    stop.set()
    thread.join(30)


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(cases=st.lists(requests(), min_size=1, max_size=4))
def test_no_request_makes_a_5xx_a_traceback_or_a_change(
    live_bot: LiveBot,
    caplog: pytest.LogCaptureFixture,
    cases: list[tuple[bytes, dict[str, str], bool]],
) -> None:
    caplog.set_level(logging.INFO)
    harness = live_bot.harness
    before = state(harness)
    secret = harness.standin.signing_secret
    with httpx.Client(timeout=10) as client:
        for body, headers, signed in cases:
            sent = {"Content-Type": "application/x-www-form-urlencoded", **headers}
            if signed:
                ts = str(int(time.time()))
                sent["X-Slack-Request-Timestamp"] = ts
                sent["X-Slack-Signature"] = sign(secret, ts, body)
            response = client.post(harness.standin.bot_url, content=body, headers=sent)
            assert response.status_code < 500, (body, headers, response.text)
    live_bot.settle()
    assert not tracebacks(caplog), [r.getMessage() for r in tracebacks(caplog)]
    assert state(harness) == before
