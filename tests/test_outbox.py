"""Posting exactly once through the outbox, against the Slack stand-in over HTTP: a key
already posted is never posted again, and a message whose ts a crash lost (recorded as
owed, sent, never marked sent) is found again through its metadata instead of reposted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.slack.client import RetryPolicy, SlackClient
from bot.slack.outbox import EVENT_TYPE, Outbox
from bot.store.outbox import OutboxStore
from bot.store.runs import RunStore
from slack_standin import SlackStandIn

CHANNEL = "C0RELEASES"


@pytest.fixture
async def standin() -> AsyncIterator[SlackStandIn]:
    async with SlackStandIn(channels={CHANNEL: "releases"}) as running:
        yield running


@pytest.fixture
async def outbox(standin: SlackStandIn, tmp_path: Path) -> AsyncIterator[Outbox]:
    client = SlackClient(standin.token, base_url=standin.api_url)
    yield Outbox(RunStore(f"sqlite:///{tmp_path}/outbox.db"), client)
    await client.aclose()


async def test_a_key_is_posted_once_however_often_it_is_asked_for(
    standin: SlackStandIn, outbox: Outbox
) -> None:
    first = await outbox.post("run:1:parent", CHANNEL, "Pre-production validation")
    again = await outbox.post("run:1:parent", CHANNEL, "Pre-production validation")
    assert first.now and not again.now and first.ts == again.ts
    assert len(standin.channel(CHANNEL).messages) == 1
    reply = await outbox.post("run:1:progress:1", CHANNEL, "0/3", thread_ts=first.ts)
    await outbox.post("run:1:progress:1", CHANNEL, "0/3", thread_ts=first.ts)
    assert [m.ts for m in standin.thread(CHANNEL, first.ts)] == [reply.ts]


async def test_a_message_whose_ts_was_lost_is_found_not_reposted(
    standin: SlackStandIn, outbox: Outbox
) -> None:
    parent = await outbox.post("run:2:parent", CHANNEL, "parent")
    for key, thread_ts in (("run:2:decision", None), ("run:2:decision:thread", parent.ts)):
        # What a process killed between Slack's answer and the write of the ts leaves:
        # the intent recorded, the message in Slack with its key, no ts stored.
        await OutboxStore(outbox.rows.store).intend(key, CHANNEL, thread_ts)
        lost = await outbox.slack.post_message(
            CHANNEL,
            "GO",
            thread_ts=thread_ts,
            metadata={"event_type": EVENT_TYPE, "event_payload": {"key": key}},
        )
        found = await outbox.post(key, CHANNEL, "GO", thread_ts=thread_ts)
        assert found.ts == lost and not found.now
        assert await outbox.posted(key) == lost
    top = [m for m in standin.channel(CHANNEL).messages]
    assert [m.text for m in top] == ["parent", "GO"]
    assert [m.text for m in standin.thread(CHANNEL, parent.ts)] == ["GO"]


async def test_an_intent_that_never_reached_slack_is_posted(
    standin: SlackStandIn, outbox: Outbox
) -> None:
    await OutboxStore(outbox.rows.store).intend("run:3:parent", CHANNEL, None)  # died before
    posted = await outbox.post("run:3:parent", CHANNEL, "parent")
    assert posted.now
    assert [m.text for m in standin.channel(CHANNEL).messages] == ["parent"]


async def test_the_standin_keeps_metadata_and_shows_it_only_when_asked(
    standin: SlackStandIn, outbox: Outbox
) -> None:
    meta = {"event_type": EVENT_TYPE, "event_payload": {"key": "k"}}
    ts = await outbox.slack.post_message(CHANNEL, "hello", metadata=meta)
    plain = await outbox.slack.api_call(
        "conversations.history", http_verb="GET", params={"channel": CHANNEL}
    )
    assert "metadata" not in plain["messages"][0]
    full = await outbox.slack.api_call(
        "conversations.replies",
        http_verb="GET",
        params={"channel": CHANNEL, "ts": ts, "include_all_metadata": "true"},
    )
    assert full["messages"][0]["metadata"] == meta


async def test_two_processes_sending_the_same_message_post_it_once(
    standin: SlackStandIn, outbox: Outbox
) -> None:
    """A replica's sweep and the process that made a decision may announce it at the
    same moment: whoever records the message first sends it, the other waits for its ts."""
    other = Outbox(outbox.rows.store, outbox.slack)
    other.owner = "another-process"
    for n in range(5):
        key = f"run:{n}:decision"
        first, second = await asyncio.gather(
            outbox.post(key, CHANNEL, f"GO {n}"), other.post(key, CHANNEL, f"GO {n}")
        )
        assert first.ts == second.ts and first.now != second.now
    assert [m.text for m in standin.channel(CHANNEL).messages] == [f"GO {n}" for n in range(5)]


async def test_a_post_whose_answer_was_lost_is_not_retried_into_a_duplicate(
    standin: SlackStandIn, outbox: Outbox
) -> None:
    """Slack posted the message but the answer never arrived (a 5xx or a dropped
    connection after the fact): the retry looks first, and finds it."""
    outbox.slack.policy = RetryPolicy(max_failures=3, backoff_base=0.01, backoff_cap=0.02)
    parent = await outbox.post("run:4:parent", CHANNEL, "parent")
    standin.fail("chat.postMessage", times=1, status=503, after_acting=True)
    results = await outbox.post("run:4:results:1", CHANNEL, "Results", thread_ts=parent.ts)
    assert [m.ts for m in standin.thread(CHANNEL, parent.ts)] == [results.ts]
    assert await outbox.posted("run:4:results:1") == results.ts


async def test_a_claim_held_behind_the_rate_limit_is_not_posted_twice(
    standin: SlackStandIn, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message waits behind the channel's rate limit longer than a claim lasts; another
    process, taking the claim for dead, sends it. The first one, once its turn comes,
    sees the claim is no longer its own and takes the other's ts instead of posting."""
    monkeypatch.setattr("bot.slack.outbox.CLAIM_STALE", 0.3)
    other_client = SlackClient(standin.token, base_url=standin.api_url)
    other = Outbox(outbox.rows.store, other_client)
    other.owner = "another-process"
    outbox.slack.limiter.penalise("chat.postMessage", 1.0, CHANNEL)  # this process waits 1 s
    try:
        waiting = asyncio.create_task(outbox.post("run:5:parent", CHANNEL, "parent"))
        await asyncio.sleep(0.5)  # its claim is now stale
        taken = await other.post("run:5:parent", CHANNEL, "parent")
        assert taken.now
        first = await waiting
        assert first.ts == taken.ts and not first.now
        assert [m.text for m in standin.channel(CHANNEL).messages] == ["parent"]
    finally:
        await other_client.aclose()


async def test_two_senders_in_one_process_post_a_key_once(
    standin: SlackStandIn, outbox: Outbox
) -> None:
    """Every claim in one process is "ours": two of its tasks sending one key at once (two
    schedulers in one process, a sweep beside the decision) must still post it once."""
    other = Outbox(outbox.rows.store, outbox.slack)  # same process, same owner
    for n in range(5):
        key = f"remind:dm:slot:{n}:U1"
        outbox.slack.limiter.penalise("chat.postMessage", 0.2, CHANNEL)  # both in flight
        first, second = await asyncio.gather(
            outbox.post(key, CHANNEL, f"DM {n}"), other.post(key, CHANNEL, f"DM {n}")
        )
        assert first.ts == second.ts and first.now != second.now
    assert [m.text for m in standin.channel(CHANNEL).messages] == [f"DM {n}" for n in range(5)]


async def test_a_wait_for_another_process_reads_its_row_ever_less_often(
    outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Waiting for a message another process claimed (held, say, behind the channel's
    pace) reads the row at once, then less and less often: 0.2, 0.4, 0.8, 1.6 s... and
    still sees the other's claim go stale in time."""
    monkeypatch.setattr("bot.slack.outbox.CLAIM_STALE", 3.1)
    other = OutboxStore(outbox.rows.store)
    await other.intend("run:6:parent", CHANNEL, None, owner="another-process")
    reads = 0
    get = outbox.rows.get

    async def counted(key: str) -> object:
        nonlocal reads
        reads += 1
        return await get(key)

    monkeypatch.setattr(outbox.rows, "get", counted)
    started = asyncio.get_running_loop().time()
    assert await outbox._wait_for("run:6:parent") is None  # stale: this process may take it
    assert 3.0 <= asyncio.get_running_loop().time() - started < 4.0
    assert reads <= 5  # 0.2, 0.6, 1.4, 3.0, 3.1 s (it was 15 at a read every 0.2 s)


async def test_a_claim_is_renewed_only_once_it_has_aged(
    standin: SlackStandIn, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message that goes at once keeps the claim its record was made with (two database
    calls: recorded, sent); one held behind the channel's pace for more than a third of
    the claim's life renews it before it goes, so that nobody takes it for dead."""
    claims: list[str] = []
    claim = outbox.rows.claim

    async def counted(key: str, owner: str, stale_after: float) -> bool:
        claims.append(key)
        return await claim(key, owner, stale_after)

    monkeypatch.setattr(outbox.rows, "claim", counted)
    prompt = await outbox.post("run:7:parent", CHANNEL, "parent")
    assert prompt.now and claims == []
    monkeypatch.setattr("bot.slack.outbox.CLAIM_STALE", 0.9)  # renewed after 0.3 s
    outbox.slack.limiter.penalise("chat.postMessage", 0.5, CHANNEL)
    held = await outbox.post("run:7:progress", CHANNEL, "progress", thread_ts=prompt.ts)
    assert held.now and claims == ["run:7:progress"]
    assert [m.text for m in standin.thread(CHANNEL, prompt.ts)] == ["progress"]
