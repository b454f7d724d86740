"""A run whose process died between storing its end and showing it (results message,
sign-off panel) is shown by the next process that looks, once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine.request import RunRequest
from bot.slack.publisher import ThreadPublisher
from bot.slack.state import RunState
from tests.hostile_bot import CONFIG, quick_bot
from tests.slackbot import CHANNEL


@pytest.mark.usefixtures("scripted_kinds")
async def test_a_finished_run_left_unshown_gets_its_results_and_panel_once(
    tmp_path: Path,
) -> None:
    async with quick_bot(tmp_path, CONFIG) as harness:
        manager = harness.bot.manager
        engine = manager.engine()
        request = RunRequest("svc", "1.0", "staging", requester="U0RM", source="slack")
        run = await engine.start(request)
        assert run.id is not None
        state = RunState.from_run(run)
        opened = ThreadPublisher(
            manager.slack, manager.coalescer, harness.bot.store, state, CHANNEL
        )
        await opened.open()
        await opened.close()
        # What a process killed right after storing the end leaves: the run FINISHED, its
        # thread with a parent and a progress message saying "running", nothing else.
        await engine.execute(run, request)
        await manager.leases.release(run.id)
        assert [m.text for m in harness.thread() if m.text.startswith("Results for")] == []

        assert await manager.republish(grace=0) == [run.id]
        await harness.settle()
        thread = harness.thread()
        assert len([m for m in thread if m.text.startswith("Results for")]) == 1
        assert len([m for m in thread if m.button_labels()]) == 1, "one sign-off panel"
        progress = next(m for m in thread if " checks done" in m.text)
        assert progress.text.endswith("2/2 checks done, 1 failed"), progress.text

        assert await manager.republish(grace=0) == []  # shown once, never again
        assert len([m for m in harness.thread() if m.text.startswith("Results for")]) == 1
