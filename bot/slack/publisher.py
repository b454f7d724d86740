"""Streams one run into its Slack thread: a parent message, one progress message updated
in place (coalesced), a reply per failure, a results message at the end.

The engine calls listeners synchronously; this one only queues the event, and a worker
task turns events into Web API calls in order, so Slack's pace never slows a check."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from bot.engine.events import CheckFinished, Event, RunFinished
from bot.engine.report import RunReport
from bot.slack.client import SlackClient
from bot.slack.coalesce import Coalescer, MessageKey
from bot.slack.render_run import failure_reply, parent_message, progress_message, results_message
from bot.slack.state import RunState, apply, mark_cancelled
from bot.store.models import SlackThread
from bot.store.runs import RunStore
from checks.base import CheckResult

log = logging.getLogger(__name__)

Actions = Callable[[RunReport], list[dict[str, Any]] | None]


class ThreadPublisher:
    def __init__(
        self,
        client: SlackClient,
        coalescer: Coalescer[MessageKey],
        store: RunStore,
        state: RunState,
        channel: str,
        actions: Actions | None = None,
    ) -> None:
        self.client = client
        self.coalescer = coalescer
        self.store = store
        self.state = state
        self.channel = channel
        self.actions = actions
        self.thread: SlackThread | None = None
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    @property
    def progress_key(self) -> MessageKey | None:
        if self.thread is None or self.thread.progress_ts is None:
            return None
        return (self.thread.channel, self.thread.progress_ts)

    async def open(self, note: str | None = None, *, resume: bool = False) -> SlackThread:
        """Post the parent message (once per run) and a fresh progress message in its
        thread; their places are stored so a restarted bot can go on updating them. A
        resumed run goes on editing the progress message it already has."""
        thread = await self.store.get_thread(self.state.run_id)
        if thread is None:
            text, blocks = parent_message(self.state)
            parent_ts = await self.client.post_message(self.channel, text, blocks)
            thread = SlackThread(
                run_id=self.state.run_id, channel=self.channel, parent_ts=parent_ts
            )
            await self.store.save_thread(thread)
        if note:
            await self.client.post_message(thread.channel, note, thread_ts=thread.parent_ts)
        if not (resume and thread.progress_ts):
            text, blocks = progress_message(self.state)
            thread.progress_ts = await self.client.post_message(
                thread.channel, text, blocks, thread_ts=thread.parent_ts
            )
            await self.store.save_thread(thread)
        self.thread = thread
        self._worker = asyncio.create_task(self._work(), name=f"slack-thread-{thread.run_id}")
        return thread

    def __call__(self, event: Event) -> None:
        self._queue.put_nowait(event)

    async def close(self) -> None:
        """Wait until every queued event has reached Slack."""
        if self._worker is None:
            return
        self._queue.put_nowait(None)
        await self._worker

    async def cancelled(self, by: str) -> None:
        """The run was cancelled: show it, in place and in the thread."""
        await self.close()
        self.state = mark_cancelled(self.state)
        await self._show_progress(final=True)
        if self.thread is not None:
            await self.client.post_message(
                self.thread.channel,
                f":no_entry_sign: Run #{self.state.run_id} cancelled by <@{by}>.",
                thread_ts=self.thread.parent_ts,
            )

    async def _work(self) -> None:
        while (event := await self._queue.get()) is not None:
            try:
                await self._handle(event)
            except Exception:  # keep the thread alive for the next events
                log.exception(
                    "cannot publish %s for run %s", type(event).__name__, self.state.run_id
                )

    async def _handle(self, event: Event) -> None:
        self.state = apply(self.state, event)
        if isinstance(event, CheckFinished) and event.result.status.is_problem:
            await self._reply_failure(event.result)
        if isinstance(event, RunFinished):
            await self._show_progress(final=True)
            await self._post_results(event.report)
        else:
            await self._show_progress(final=False)

    async def _show_progress(self, final: bool) -> None:
        key = self.progress_key
        if key is None:
            return
        message = progress_message(self.state)
        self.coalescer.submit(key, message.text, message.blocks)
        if final:
            await self.coalescer.flush(key)

    async def _reply_failure(self, result: CheckResult) -> None:
        row = self.state.row(result.check_id)
        if row is None or self.thread is None:
            return
        text, blocks = failure_reply(row, result.evidence, self.state.report_url)
        await self.client.post_message(
            self.thread.channel, text, blocks, thread_ts=self.thread.parent_ts
        )

    async def _post_results(self, report: RunReport) -> None:
        if self.thread is None:
            return
        actions = self.actions(report) if self.actions else None
        text, blocks = results_message(report, self.state.report_url, actions)
        self.thread.results_ts = await self.client.post_message(
            self.thread.channel, text, blocks, thread_ts=self.thread.parent_ts
        )
        await self.store.save_thread(self.thread)
