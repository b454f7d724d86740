"""The Web API rate limiter, on virtual time: no test here really waits."""

from __future__ import annotations

import asyncio
import heapq
import itertools

import pytest

from bot.slack.limiter import DEFAULT_RATES, TIER_PER_MINUTE, Rate, RateLimiter, Tier


class VirtualTime:
    """A clock plus a sleep that only returns when the test advances time past its deadline."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + delay, next(self._seq), future))
        await future

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking sleepers in deadline order and letting them run."""
        target = self.now + seconds
        await _settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, deadline)
            if not future.done():  # a sleeper that was cancelled
                future.set_result(None)
            await _settle()
        self.now = target


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


class StepClock:
    """For one caller at a time: sleeping simply moves the clock forward."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay


def make(clock: StepClock | VirtualTime) -> RateLimiter:
    return RateLimiter(clock=clock.clock, sleep=clock.sleep)


def test_method_tiers_follow_slack_table() -> None:
    limiter = RateLimiter()
    assert limiter.tier_of("chat.update") is Tier.T3
    assert limiter.tier_of("chat.postEphemeral") is Tier.T4
    for method in ("views.open", "views.publish", "views.update", "users.info"):
        assert limiter.tier_of(method) is Tier.T4
    assert limiter.tier_of("usergroups.users.list") is Tier.T2
    assert limiter.tier_of("conversations.open") is Tier.T3
    assert limiter.tier_of("auth.test") is Tier.SPECIAL
    assert limiter.tier_of("chat.postMessage") is Tier.POST_MESSAGE
    assert limiter.tier_of("some.new.method") is Tier.T3
    assert DEFAULT_RATES[Tier.T1].per_minute == 1
    for tier, allowed in TIER_PER_MINUTE.items():  # the sustained rate makes room for the burst
        rate = DEFAULT_RATES[tier]
        assert tier is Tier.T1 or rate.per_minute + rate.burst == allowed


async def test_no_rolling_minute_holds_more_calls_than_the_tier() -> None:
    """A burst then the sustained rate, 300 calls back to back: in every 60 s window no
    more calls than Slack's tier allows (the stand-in, like Slack, answers 429 past it;
    bench/digest.py saw three when the burst came on top of the full rate)."""
    for tier, allowed in TIER_PER_MINUTE.items():
        clock = StepClock()
        limiter = RateLimiter(clock=clock.clock, sleep=clock.sleep, method_tiers={"x.y": tier})
        times = []
        for _ in range(3 * allowed + 10):
            await limiter.acquire("x.y")
            times.append(clock.now)
        most = max(sum(1 for t in times if start <= t < start + 60) for start in times)
        assert most <= allowed, (tier, most, allowed)


def test_rate_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        Rate(0)
    with pytest.raises(ValueError):
        Rate(10, burst=0)


async def test_burst_then_spaced_at_tier_rate() -> None:
    clock = StepClock()
    limiter = make(clock)
    waits = [await limiter.acquire("chat.update") for _ in range(8)]
    # Tier 3: 50 a minute = a burst of 5, then one per 60/45 s.
    assert waits[:5] == [0.0] * 5
    assert waits[5:] == pytest.approx([60 / 45] * 3)
    assert clock.sleeps == pytest.approx([60 / 45] * 3)  # one sleep per wait: no busy loop
    assert limiter.waited["chat.update"] == pytest.approx(3 * 60 / 45)


async def test_bucket_refills_over_time() -> None:
    clock = StepClock()
    limiter = make(clock)
    for _ in range(5):
        await limiter.acquire("chat.update")
    clock.now += 60  # a quiet minute: the burst is available again
    assert [await limiter.acquire("chat.update") for _ in range(5)] == [0.0] * 5


async def test_tier1_is_one_a_minute() -> None:
    clock = StepClock()
    limiter = RateLimiter(clock=clock.clock, sleep=clock.sleep, method_tiers={"x.y": Tier.T1})
    assert await limiter.acquire("x.y") == 0.0
    assert await limiter.acquire("x.y") == pytest.approx(60.0)


async def test_methods_have_separate_buckets() -> None:
    clock = StepClock()
    limiter = make(clock)
    for _ in range(5):
        await limiter.acquire("chat.update")
    assert await limiter.acquire("views.open") == 0.0
    assert await limiter.acquire("auth.test") == 0.0


async def test_post_message_is_limited_per_channel() -> None:
    clock = StepClock()
    limiter = make(clock)
    assert [await limiter.acquire("chat.postMessage", "C1") for _ in range(3)] == [0.0] * 3
    assert await limiter.acquire("chat.postMessage", "C2") == 0.0
    assert await limiter.acquire("chat.postMessage", "C1") == pytest.approx(1.0)


async def test_penalise_holds_the_bucket_and_spends_the_burst() -> None:
    clock = StepClock()
    limiter = make(clock)
    await limiter.acquire("chat.update")
    limiter.penalise("chat.update", 5)
    assert limiter.blocked_for("chat.update") == pytest.approx(5.0)
    assert await limiter.acquire("chat.update") == pytest.approx(5.0)
    # After the penalty, calls are spaced at the sustained rate, not bursted.
    assert await limiter.acquire("chat.update") == pytest.approx(60 / 45)
    assert limiter.blocked_for("chat.update") == 0.0


async def test_penalise_post_message_without_channel_holds_every_channel() -> None:
    clock = StepClock()
    limiter = make(clock)
    await limiter.acquire("chat.postMessage", "C1")
    await limiter.acquire("chat.postMessage", "C2")
    limiter.penalise("chat.postMessage", 3)
    assert await limiter.acquire("chat.postMessage", "C1") == pytest.approx(3.0)
    assert limiter.blocked_for("chat.postMessage", "C2") == 0.0  # 3 s already passed


async def test_concurrent_waiters_are_served_in_order_and_spaced() -> None:
    vt = VirtualTime()
    limiter = RateLimiter(clock=vt.clock, sleep=vt.sleep, rates={Tier.T3: Rate(60, burst=2)})
    served: list[tuple[int, float]] = []

    async def caller(i: int) -> None:
        await limiter.acquire("chat.update")
        served.append((i, vt.now))

    tasks = [asyncio.create_task(caller(i)) for i in range(6)]
    await vt.advance(10)
    await asyncio.gather(*tasks)
    assert [i for i, _ in served] == list(range(6))
    assert [t for _, t in served] == pytest.approx([0, 0, 1, 2, 3, 4])
    assert len(vt.sleeps) == 4  # each waiter slept exactly once


async def test_penalty_during_sleep_makes_waiters_rebook() -> None:
    vt = VirtualTime()
    limiter = RateLimiter(clock=vt.clock, sleep=vt.sleep, rates={Tier.T3: Rate(60, burst=1)})
    served: list[tuple[int, float]] = []

    async def caller(i: int) -> None:
        await limiter.acquire("chat.update")
        served.append((i, vt.now))

    tasks = [asyncio.create_task(caller(i)) for i in range(3)]
    await vt.advance(0.5)
    limiter.penalise("chat.update", 4)  # a 429 arrived: nobody may go before t=4.5
    await vt.advance(20)
    await asyncio.gather(*tasks)
    assert [i for i, _ in served] == [0, 1, 2]
    times = [t for _, t in served]
    assert times[0] == 0
    assert times[1] >= 4.5
    assert times[2] >= times[1] + 1.0


async def test_idle_buckets_are_pruned() -> None:
    clock = StepClock()
    limiter = make(clock)
    limiter._PRUNE_AT = 4
    for channel in "ABCD":
        await limiter.acquire("chat.postMessage", channel)
    clock.now += 10
    await limiter.acquire("chat.postMessage", "E")
    assert len(limiter._buckets) == 1


async def test_callers_that_give_up_waiting_give_their_slot_back() -> None:
    """A caller cancelled while it waits (a click's authorisation budget ran out) must not
    push later callers back: ten give-ups, and the next caller still waits one interval."""
    vt = VirtualTime()
    limiter = RateLimiter(rates={Tier.T2: Rate(20, burst=1)}, clock=vt.clock, sleep=vt.sleep)
    assert await limiter.acquire("usergroups.users.list") == 0  # the burst
    for _ in range(10):
        waiter = asyncio.create_task(limiter.acquire("usergroups.users.list"))
        await _settle()
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    last = asyncio.create_task(limiter.acquire("usergroups.users.list"))
    await vt.advance(3.0)
    assert last.done() and last.result() == pytest.approx(3.0)
