"""A run's thread learns where its messages are in the transactions that record them as
sent (bot/slack/outbox.py ``keep``): the parent, the progress, the results and the sign-off
panel each cost the outbox's two calls, not a third to store the thread (issue 26: a run's
store calls are what its worker and serve's acks wait behind)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session

from bot.store.models import SlackThread
from bot.store.runs import RunStore
from tests.hostile_bot import quick_bot


@pytest.mark.usefixtures("scripted_kinds")
async def test_a_runs_thread_is_stored_with_its_messages_not_after_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saves: list[SlackThread] = []
    save = RunStore.save_thread

    async def counted(self: RunStore, thread: SlackThread) -> None:
        saves.append(thread)
        await save(self, thread)

    monkeypatch.setattr(RunStore, "save_thread", counted)
    async with quick_bot(tmp_path) as harness:
        await harness.command("start checkout-api 2.14.0 staging")
        await harness.settle()
        with Session(harness.bot.store.engine) as session:
            thread = session.get(SlackThread, 1)
        assert thread is not None
        messages = {m.ts: m.text for m in harness.thread()}
        [parent] = harness.parents()
        assert thread.parent_ts == parent.ts
        assert thread.progress_ts is not None and " checks done" in messages[thread.progress_ts]
        assert thread.results_ts is not None
        assert messages[thread.results_ts].startswith("Results for")
        assert thread.gate_ts is not None and thread.gate_ts in messages
        assert saves == [], "parent, progress, results and panel each stored as sent"
