"""Slack's outages never kill a run (issue 23, point 3): the real bot over HTTP, the Slack
stand-in answering 503 to every Web API call for a few seconds, the real example target.

A run started during the outage executes its checks during it, and afterwards its thread
shows one parent, one progress message in its final state and one sign-off panel; a run
whose thread was open before the outage goes on; a 429's Retry-After is waited out; the
requester is told "Slack is failing" for a 5xx, "invite the bot" only when the channel
refuses the thread."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

import bot.slack.publisher
from bot.gate.policy import Outcome
from bot.gate.sweeps import Sweeps
from bot.slack.client import RetryPolicy, SlackCallError, SlackRetriesExhausted
from bot.slack.opening import SLACK_FAILING, opening_reply
from bot.slack.outbox import EVENT_TYPE, OutboxBusy
from bot.store.models import Run, RunStatus
from slack_standin import Message, SlackStandIn
from tests.slackbot import CHANNEL, Harness, running_bot
from tests.support.plans import SMOKE_VERSION, config_file, staging_config
from tests.support.processes import bots, until
from tests.support.target import RunningTarget, served

SCRIPTED = (
    "- {id: slow, type: scripted, sleep: 1.0}",
    '- {id: flaky, type: scripted, outcome: fail, sleep: 1.0, evidence: "it broke",'
    " critical: false}",
)
"""After the smoke check: a scripted check of a second and a failing non-critical one."""
WEB_API = (
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "conversations.history",
    "conversations.replies",
)
OUTAGE_S = 5.0
FAST = RetryPolicy(max_failures=2, backoff_base=0.05, backoff_cap=0.1)
"""The client's own retries, quick: each try of an owed message fails in ~0.1 s."""

pytestmark = pytest.mark.usefixtures("scripted_kinds")


@contextmanager
def outage(standin: SlackStandIn, status: int = 503) -> Iterator[None]:
    """Every Web API call the bot makes answers ``status`` until the block ends (the
    stand-in's faults are counted; the ones left over are taken back at the end)."""
    for method in WEB_API:
        standin.fail(method, times=100_000, status=status)
    try:
        yield
    finally:
        for method in WEB_API:
            standin._faults.pop(method, None)


@pytest.fixture
async def harness(
    healthy_target: RunningTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Harness]:
    monkeypatch.setattr(bot.slack.publisher, "RETRY_CAP", 1.0)  # tries at most 1 s apart
    config = tmp_path / "preprod.yml"
    config.write_text(staging_config(healthy_target.http_url, SMOKE_VERSION, *SCRIPTED))
    async with running_bot(config, tmp_path) as running:
        running.bot.slack.policy = FAST
        yield running


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """Poll an async condition (a store read) every 50 ms; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


def run_finished(harness: Harness, run_id: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        run = await harness.bot.store.get_run(run_id)
        return run is not None and run.status == RunStatus.FINISHED

    return check


def keys(messages: list[Message]) -> Counter[str]:
    """How many messages carry each outbox key (a duplicate shows as a count of 2)."""
    return Counter(
        str(m.metadata["event_payload"]["key"])
        for m in messages
        if m.metadata and m.metadata.get("event_type") == EVENT_TYPE
    )


def assert_one_complete_thread(harness: Harness) -> None:
    """One parent; under it one progress message showing the final state, the failed
    check's reply, one results message and one sign-off panel; none posted twice."""
    [parent] = harness.parents()
    thread = harness.thread()
    progress = [m for m in thread if " checks done" in m.text]
    assert len(progress) == 1 and progress[0].text.endswith("3/3 checks done, 1 failed"), [
        m.text for m in progress
    ]
    assert len([m for m in thread if m.text.startswith("flaky failed")]) == 1
    assert len([m for m in thread if m.text.startswith("Results for")]) == 1
    assert len([m for m in thread if m.button_labels()]) == 1, "one sign-off panel"
    counts = keys(harness.standin.channel(CHANNEL).all_messages)
    assert counts and max(counts.values()) == 1, counts
    assert parent.ts == harness.standin.thread(CHANNEL, parent.ts)[0].thread_ts


def told(harness: Harness) -> str:
    """What the requester was told after the ack (through the command's response_url)."""
    return " ".join(str(r.body.get("text", "")) for r in harness.standin.responses)


async def test_a_run_started_during_an_outage_executes_and_its_thread_appears_after(
    harness: Harness, healthy_target: RunningTarget, caplog: pytest.LogCaptureFixture
) -> None:
    before = served(healthy_target, "/version")  # the target is shared with other tests
    with caplog.at_level(logging.WARNING), outage(harness.standin):
        began = time.monotonic()
        ack = await harness.command("start svc 1.0 staging")
        assert "Starting the validation of svc 1.0 on staging (run #1)" in ack
        await harness.until(lambda: SLACK_FAILING in told(harness), timeout=OUTAGE_S)
        # the checks execute during the outage: the target sees them, the store has them
        await eventually(run_finished(harness, 1), OUTAGE_S, "the run did not finish")
        assert served(healthy_target, "/version") > before
        assert harness.parents() == [] and harness.standin.channel(CHANNEL).all_messages == []
        await until(lambda: time.monotonic() - began >= OUTAGE_S, OUTAGE_S + 1)
    await harness.settle(timeout=30)
    assert_one_complete_thread(harness)
    assert "invite the bot" not in told(harness)
    assert "run 1: Slack is failing (chat.postMessage failed: service_unavailable" in caplog.text
    states = await harness.bot.store.check_states(1)
    assert states == {"smoke": "passed", "slow": "passed", "flaky": "failed"}, states


async def test_a_run_whose_thread_opened_before_the_outage_goes_on(harness: Harness) -> None:
    await harness.command("start svc 1.0 staging")
    await harness.until(lambda: bool(harness.parents()))  # the probe's case
    with outage(harness.standin):
        began = time.monotonic()
        # its checks go on; the thread's messages (progress, failure, results) are owed
        await eventually(run_finished(harness, 1), OUTAGE_S, "the run did not finish")
        await until(lambda: time.monotonic() - began >= OUTAGE_S, OUTAGE_S + 1)
    assert [c for c in harness.standin.calls if c.status == 503], "the outage was met"
    await harness.settle(timeout=30)
    assert_one_complete_thread(harness)
    # nothing to tell, or (the progress message met the outage) that Slack is failing
    answer = told(harness)
    assert answer == "" or (SLACK_FAILING in answer and "invite" not in answer), answer


async def test_a_429_retry_after_is_waited_out(harness: Harness) -> None:
    harness.standin.rate_limit("chat.postMessage", times=1, retry_after=1)
    await harness.command("start svc 1.0 staging")
    await harness.settle(timeout=30)
    posts = harness.standin.calls_to("chat.postMessage")
    limited, parent = posts[0], posts[1]
    assert (limited.status, parent.status) == (429, 200)
    assert parent.at - limited.at >= 1.0, "the retry came before Retry-After"
    assert_one_complete_thread(harness)
    assert SLACK_FAILING not in told(harness)  # delayed 1 s, which is not failing


async def test_a_channel_that_refuses_the_thread_is_named_and_the_run_stopped(
    healthy_target: RunningTarget, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "preprod.yml"
    text = staging_config(healthy_target.http_url, SMOKE_VERSION, *SCRIPTED)
    config.write_text(
        text.replace("channel: C0RELEASES", "channel: C0GONE\nstarters: {users: [U0RM]}")
    )
    async with running_bot(config, tmp_path) as harness:
        with caplog.at_level(logging.ERROR):
            await harness.command("start svc 1.0 staging")
            await harness.settle()
        answer = told(harness)
        assert "cannot post in <#C0GONE> (channel_not_found); invite the bot" in answer
        assert "Slack is failing" not in answer
        run = await harness.bot.store.get_run(1)
        assert run is not None and run.status == RunStatus.FAILED
        assert "run 1: its thread cannot be posted" in caplog.text


FAILING = "Slack is failing; the run goes on and its thread will appear when Slack answers."
POST = "chat.postMessage"


@pytest.mark.parametrize(
    ("problem", "expected", "stopped"),
    [
        (SlackRetriesExhausted(POST, "service_unavailable", status=503), FAILING, False),
        (SlackRetriesExhausted(POST, "ratelimited", status=429), FAILING, False),
        (SlackRetriesExhausted(POST, "ServerTimeoutError"), FAILING, False),
        (TimeoutError("no answer from Slack in 20s"), FAILING, False),
        (OutboxBusy("run:1:parent is being sent by another process"), FAILING, False),
        (
            SlackCallError(POST, "not_in_channel"),
            "cannot post in <#C0R> (not_in_channel); invite the bot to the channel",
            True,
        ),
        (SlackCallError(POST, "channel_not_found"), "(channel_not_found); invite the bot", True),
        (
            SlackCallError(POST, "invalid_auth"),
            "(invalid_auth); the run was stopped; see the bot's log",
            True,
        ),
    ],
)
def test_the_requester_is_told_what_really_happened(
    problem: BaseException, expected: str, stopped: bool
) -> None:
    reply = opening_reply("C0R", problem)
    assert reply is not None
    text, was_stopped = reply
    assert expected in text and was_stopped is stopped
    assert ("invite the bot" in text) is (
        getattr(problem, "error", "") in ("not_in_channel", "channel_not_found")
    )


def test_nothing_is_told_when_the_thread_opened() -> None:
    assert opening_reply("C0R", None) is None


async def test_with_workers_a_run_started_during_an_outage_executes_during_it(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    """``serve --workers 1`` (the probe's set-up): the process that acks leaves the run
    to the worker without waiting for Slack; the worker executes it during the outage
    and opens its thread, once, when Slack answers."""
    config = config_file(tmp_path, staging_config(healthy_target.http_url, SMOKE_VERSION))
    before = served(healthy_target, "/version")
    async with bots(config, tmp_path, PREPROD_POLL_INTERVAL="0.2") as group:
        serve = group.serve("--workers", "1")
        await until(lambda: "executes runs" in serve.output())  # the worker is up
        finished = [("FINISHED",)]
        with outage(group.standin):
            began = time.monotonic()
            ack = await group.command(serve, "start svc 1.0 staging")
            assert "Starting the validation" in ack, ack
            await until(lambda: group.query("SELECT status FROM run") == finished, OUTAGE_S)
            assert served(healthy_target, "/version") == before + 1
            assert group.standin.channel(CHANNEL).all_messages == []
            await until(lambda: time.monotonic() - began >= OUTAGE_S, OUTAGE_S + 1)
        channel = group.standin.channel(CHANNEL)
        shown = await until(lambda: any(m.button_labels() for m in channel.all_messages), 40)
        [parent] = group.parents()
        thread = group.thread(parent)
        assert sum(t.startswith("Results for") for t in thread) == 1, thread
        assert [t for t in thread if " checks done" in t] == ["svc 1.0 on staging: 1/1 checks done"]
        counts = keys(channel.all_messages)
        assert counts and max(counts.values()) == 1, counts
        assert "invite the bot" not in str(group.standin.responses)
        assert "Traceback" not in group.logs(), group.logs()
        print(f"thread complete {shown:.1f}s after the outage")


async def test_a_sweep_records_every_due_decision_while_slack_holds_the_announcements(
    harness: Harness,
) -> None:
    """A sweep decided its runs one after another, each announced before the next was
    even recorded: with Slack rate limiting (a Retry-After up to 300 s, 20 times) a
    deadline's sweep kept every later run undecided, and the pipelines waiting on them
    waiting, for as long as Slack held the first announcement. Each run's decision is
    recorded at once now; its announcement follows when Slack takes it."""
    for service in ("svc-a", "svc-b"):
        await harness.command(f"start {service} 1.0 staging")
    await harness.settle(timeout=60)
    with Session(harness.bot.store.engine) as session:
        runs = session.exec(select(Run)).all()
        assert len(runs) == 2 and all(r.status == RunStatus.FINISHED for r in runs)
        for run in runs:
            run.created_at = run.created_at - timedelta(days=30)  # past its deadline
            session.add(run)
        session.commit()
        ids = sorted(r.id for r in runs if r.id is not None)
    gate = harness.bot.gate

    async def recorded() -> bool:
        return all([(await gate.load(run_id)).recorded is not None for run_id in ids])

    harness.standin.outage(60, 429, retry_after=3)
    sweep = asyncio.create_task(Sweeps(gate).expire_due())
    await eventually(recorded, 2.5, "a decision waited on another run's announcement")
    assert not sweep.done(), "the announcements were not held: the test proves nothing"
    harness.standin.end_outage()
    assert sorted(await asyncio.wait_for(sweep, 30)) == ids
    for run_id in ids:
        assert (await gate.load(run_id)).gate.decision.outcome is Outcome.EXPIRED
    counts = keys(harness.standin.channel(CHANNEL).all_messages)
    assert all(counts[f"run:{run_id}:decision"] == 1 for run_id in ids), counts
