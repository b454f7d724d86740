"""A Slack ack waits on its database calls (inside ``answering``, Slack's 3 s less a
margin); they run in threads of their own, not behind the default pool's backlog. A
burst of webhooks and runs filled that pool, and clicks missed their deadline ("the
bot's database is unavailable") and had to be made again."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from sqlmodel import select

from bot.store.faults import answering
from bot.store.models import Run
from bot.store.runs import RunStore


async def test_an_acks_calls_do_not_queue_behind_a_busy_pool(tmp_path: Path) -> None:
    store = RunStore(f"sqlite:///{tmp_path}/bot.db")
    release = threading.Event()
    try:
        # every thread of the default pool busy (a backlog of slow calls)
        blockers = [asyncio.to_thread(release.wait, 10) for _ in range(64)]
        busy = asyncio.gather(*blockers)
        await asyncio.sleep(0.1)
        started = time.monotonic()
        async with answering(1.0):
            runs = await store.call(lambda session: list(session.exec(select(Run))))
        assert runs == [] and time.monotonic() - started < 1.0
        # outside an ack, calls still take the default pool (and wait their turn)
        later = asyncio.ensure_future(store.call(lambda s: list(s.exec(select(Run)))))
        await asyncio.sleep(0.2)
        assert not later.done()
        release.set()
        assert await later == []
        await busy
    finally:
        release.set()
        store.engine.dispose()
