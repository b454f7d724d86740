"""The update coalescer: bounded chat.update calls, latest state wins, final state never lost."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from typing import Any

import pytest

from bot.slack.coalesce import Blocks, Coalescer
from tests.support.processes import until
from tests.test_slack_client import FakeSlack, make_client, slack

__all__ = ["slack"]  # the fixture, re-used from the client tests


class Recorder:
    """A send function that records, can be slow, and can fail a few times."""

    def __init__(self, *, fail: int = 0, delay: float = 0.0) -> None:
        self.sent: list[tuple[Any, str, Blocks, float]] = []
        self.started = time.monotonic()
        self.fail = fail
        self.delay = delay

    async def __call__(self, key: Any, text: str, blocks: Blocks) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            self.fail -= 1
            raise RuntimeError("slack is down")
        self.sent.append((key, text, copy.deepcopy(blocks), time.monotonic()))

    @property
    def texts(self) -> list[str]:
        return [text for _, text, _, _ in self.sent]


async def test_fifty_progress_events_make_a_handful_of_updates(slack: FakeSlack) -> None:
    client = make_client(slack)
    coalescer = Coalescer.for_messages(client, interval=1.0)
    key = ("C1", "1700000000.000001")
    started = time.monotonic()
    for i in range(1, 51):
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": f"{i}/50"}}]
        coalescer.submit(key, f"state {i}", blocks)
        await asyncio.sleep(0.06)
    elapsed = time.monotonic() - started
    await coalescer.aclose()
    await client.aclose()
    updates = slack.delivered("chat.update")
    assert 2 <= len(updates) <= int(elapsed / 1.0) + 2  # elapsed/interval + 1, plus the flush
    assert len(updates) <= 5
    last = updates[-1].args
    assert last["text"] == "state 50"
    assert last["blocks"][0]["text"]["text"] == "50/50"
    assert (last["channel"], last["ts"]) == key
    assert coalescer.stats["submitted"] == 50


async def test_latest_state_wins_with_leading_and_trailing_send() -> None:
    send = Recorder()
    coalescer: Coalescer[str] = Coalescer(send, interval=0.2)
    coalescer.submit("k", "s0", [])
    await asyncio.sleep(0.01)  # the first state goes out at once
    for i in range(1, 10):
        coalescer.submit("k", f"s{i}", [])  # these collapse into one send, the newest
    await asyncio.sleep(0.35)
    assert send.texts == ["s0", "s9"]
    first, second = send.sent[0][3], send.sent[1][3]
    assert second - first >= 0.19
    await coalescer.aclose()


async def test_submit_returns_immediately_even_while_a_send_is_slow() -> None:
    send = Recorder(delay=0.3)
    coalescer: Coalescer[str] = Coalescer(send, interval=0.05)
    coalescer.submit("k", "a", [])
    await asyncio.sleep(0.01)  # the send is now in flight
    started = time.perf_counter()
    for i in range(100):
        coalescer.submit("k", f"b{i}", [])
    assert time.perf_counter() - started < 0.05
    await coalescer.aclose()
    assert send.texts == ["a", "b99"]


async def test_flush_sends_the_final_state_immediately() -> None:
    send = Recorder()
    coalescer: Coalescer[str] = Coalescer(send, interval=30)
    coalescer.submit("k", "running", [])
    await asyncio.sleep(0.02)
    coalescer.submit("k", "finished", [{"type": "divider"}])
    assert coalescer.pending("k")
    started = time.monotonic()
    assert await coalescer.flush("k") is True
    assert time.monotonic() - started < 0.5
    assert send.texts == ["running", "finished"]
    assert send.sent[-1][2] == [{"type": "divider"}]
    assert not coalescer.pending("k")
    await coalescer.aclose()


async def test_unchanged_state_is_not_sent_again() -> None:
    send = Recorder()
    coalescer: Coalescer[str] = Coalescer(send, interval=0.02)
    blocks: Blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "one"}}]
    coalescer.submit("k", "t", blocks)
    await asyncio.sleep(0.05)
    coalescer.submit("k", "t", blocks)  # same state again: nothing to send
    await asyncio.sleep(0.05)
    blocks[0]["text"]["text"] = "two"  # caller mutates its own objects: a new state
    coalescer.submit("k", "t", blocks)
    await asyncio.sleep(0.05)
    assert [b[0]["text"]["text"] for _, _, b, _ in send.sent] == ["one", "two"]
    assert coalescer.stats["sent"] == 2
    assert coalescer.stats["skipped"] == 1
    await coalescer.aclose()


async def test_render_functions_are_called_only_when_sending() -> None:
    send = Recorder()
    coalescer: Coalescer[str] = Coalescer(send, interval=0.1)
    state = {"n": 0}
    renders = 0

    def render() -> tuple[str, Blocks]:
        nonlocal renders
        renders += 1
        return f"n={state['n']}", []

    for n in range(1, 21):
        state["n"] = n
        coalescer.submit("k", render)
    await coalescer.aclose()
    assert send.texts[-1] == "n=20"
    assert renders <= 2


async def test_failures_are_logged_and_retried_never_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    send = Recorder(fail=2)
    coalescer: Coalescer[str] = Coalescer(send, interval=0.05)
    with caplog.at_level(logging.WARNING):
        coalescer.submit("k", "v1", [])
        await asyncio.sleep(0.02)
        coalescer.submit("k", "v2", [])  # newer state while failing: that one is retried
        await asyncio.sleep(0.2)
    assert send.texts == ["v2"]
    assert coalescer.stats["failed"] == 2
    assert "slack is down" in caplog.text
    await coalescer.aclose()


async def test_failed_flush_reports_false_and_retries_later() -> None:
    send = Recorder(fail=1)
    coalescer: Coalescer[str] = Coalescer(send, interval=0.1)
    coalescer.submit("k", "final", [])
    assert await coalescer.flush("k") is False  # flush itself never raises
    assert coalescer.pending("k")
    await asyncio.sleep(0.2)
    assert send.texts == ["final"]
    assert not coalescer.pending("k")
    await coalescer.aclose()


async def test_a_state_is_never_dropped_while_sending_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Slack down for many tries: the newest state is tried again with a backoff that
    doubles up to its cap, and lands once Slack answers (it used to be dropped after 10)."""
    send = Recorder(fail=14)
    coalescer: Coalescer[str] = Coalescer(send, interval=0.005, backoff_cap=0.04)
    with caplog.at_level(logging.WARNING):
        coalescer.submit("k", "final", [])
        await until(lambda: send.texts == ["final"], timeout=5.0)
    assert coalescer.stats["failed"] == 14 and coalescer.stats["dropped"] == 0
    assert not coalescer.pending("k")
    assert "failed 14 time(s)" in caplog.text and "retrying in 0.0s" in caplog.text
    await coalescer.aclose()


async def test_the_backoff_doubles_up_to_its_cap() -> None:
    send = Recorder(fail=6)
    coalescer: Coalescer[str] = Coalescer(send, interval=0.02, backoff_cap=0.08)
    coalescer.submit("k", "v", [])
    await until(lambda: send.texts == ["v"], timeout=5.0)
    # pauses after 1..6 failures: 0.02, 0.04, 0.08 (cap), 0.08, 0.08, 0.08 = 0.38 s
    spent = send.sent[0][3] - send.started
    assert 0.36 <= spent < 1.5, spent
    await coalescer.aclose()


async def test_only_a_permanent_error_ends_the_retries(caplog: pytest.LogCaptureFixture) -> None:
    class Gone(Exception):
        pass

    async def send(key: str, text: str, blocks: Blocks) -> None:
        raise Gone("message_not_found")

    coalescer: Coalescer[str] = Coalescer(
        send, interval=0.01, permanent=lambda exc: isinstance(exc, Gone)
    )
    with caplog.at_level(logging.ERROR):
        coalescer.submit("k", "orphan", [])
        await until(lambda: not coalescer.pending("k"), timeout=5.0)
    assert coalescer.stats["dropped"] == 1 and coalescer.stats["failed"] == 1
    assert "failed for good (message_not_found); no more retries" in caplog.text
    await coalescer.aclose()


async def test_keys_are_independent_and_aclose_flushes_all() -> None:
    send = Recorder()
    coalescer: Coalescer[str] = Coalescer(send, interval=30)
    for key in ("a", "b"):
        coalescer.submit(key, f"{key}1", [])
    await asyncio.sleep(0.02)
    for key in ("a", "b"):
        coalescer.submit(key, f"{key}2", [])
    await coalescer.aclose()
    assert sorted(send.texts) == ["a1", "a2", "b1", "b2"]
    with pytest.raises(RuntimeError):
        coalescer.submit("a", "late", [])


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Coalescer(Recorder(), interval=0)
