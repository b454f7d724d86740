"""Streams one run into its Slack thread: a parent message, one progress message updated
in place (coalesced), a reply per failure, a results message at the end.

The engine calls listeners synchronously; this one only queues the event, and a worker
task turns events into Web API calls in order, so Slack's pace never slows a check. The
worker opens the thread first: a run executes whether Slack answers or not, and while
Slack or the database fails (5xx, 429, timeouts, a database restart) the thread's
messages are owed, retried with capped backoff, and appear in order, once each, when it
answers; so are a cancel's note, a note and the end a crash left unshown (in the
background after their first try). Only a permanent Slack error (the channel is gone,
the bot is not in it) gives up, with a log line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.engine.events import CheckFinished, Event, RunFinished, StageFinished
from bot.record.report import RunReport
from bot.slack.client import SlackCallError, SlackClient
from bot.slack.coalesce import Coalescer, MessageKey
from bot.slack.outbox import Outbox, ThreadMessage, kept_in, transient
from bot.slack.render_run import (
    failure_reply,
    parent_message,
    progress_message,
    results_message,
    stage_line,
)
from bot.slack.state import RunState, apply, mark_cancelled
from bot.store.batch import Write
from bot.store.faults import cause, is_database_fault
from bot.store.models import SlackThread
from bot.store.runs import RunStore
from checks.base import CheckResult

log = logging.getLogger(__name__)

Actions = Callable[[RunReport], list[dict[str, Any]] | None]

RETRY_FIRST = 1.0
RETRY_CAP = 30.0
"""Seconds between two tries of an owed thread message while Slack fails: doubling from
``RETRY_FIRST`` to ``RETRY_CAP`` (each try already carries the client's own retries)."""


_BEHIND: dict[tuple[int, str], asyncio.Task[None]] = {}
"""Owed thread messages tried again in the background (:meth:`ThreadPublisher._owed_behind`),
by run and what; a reference is kept until done."""


@dataclass(frozen=True)
class Note:
    """A line the bot adds to a run's thread when it opens it ("re-runs check tls"),
    under a key that makes it once-only (``rerun:2``, ``resumed:<process>``)."""

    key: str
    text: str


class ThreadPublisher:
    def __init__(
        self,
        client: SlackClient,
        coalescer: Coalescer[MessageKey],
        store: RunStore,
        state: RunState,
        channel: str,
        actions: Actions | None = None,
        *,
        generation: int = 1,
    ) -> None:
        self.client = client
        self.outbox = Outbox(store, client)
        self.generation = generation
        self.coalescer = coalescer
        self.store = store
        self.state = state
        self.latest = state
        """The state with every event received folded in, also those still queued: the
        progress message shows this, so a burst of events costs one update, not one
        each (``chat.update`` is Tier 3, about 50 a minute for the whole workspace)."""
        self.channel = channel
        self.actions = actions
        self.thread: SlackThread | None = None
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._first: asyncio.Future[BaseException | None] | None = None
        self.gone: SlackCallError | Exception | None = None
        """The permanent error that stopped the thread from opening, if one did."""

    @property
    def progress_key(self) -> MessageKey | None:
        if self.thread is None or self.thread.progress_ts is None:
            return None
        return (self.thread.channel, self.thread.progress_ts)

    def begin(self, note: Note | None = None) -> None:
        """Start the worker: it opens the thread (retrying while Slack fails), then
        publishes the queued events in order. Returns at once; :meth:`opened` tells how the
        first try went."""
        self._first = asyncio.get_running_loop().create_future()
        self._worker = asyncio.create_task(
            self._work(note), name=f"slack-thread-{self.state.run_id}"
        )

    async def opened(self) -> BaseException | None:
        """The first try's outcome: None once the thread is open, else the error it met
        (the worker keeps trying unless :attr:`gone` says the error is permanent)."""
        assert self._first is not None, "begin() first"
        return await asyncio.shield(self._first)

    async def open(self, note: Note | None = None) -> SlackThread:
        """Open the thread and wait for it; its error if the first try fails (then nothing
        more is tried)."""
        self.begin(note)
        if (problem := await self.opened()) is not None:
            await self.abandon()
            raise problem
        assert self.thread is not None
        return self.thread

    async def abandon(self) -> None:
        """Stop the worker without publishing what is still queued (a process that leaves
        the run to another one), and give up this process's claims on the run's unsent
        messages, so that the process that takes the run over sends them at once."""
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
            await self.outbox.rows.unclaim(self.state.run_id, self.outbox.owner)
        self._settle_first(RuntimeError("left before its thread opened"))

    async def _open_thread(self, note: Note | None) -> None:
        """Post the parent message (once per run) and the progress message of this
        generation of the run's evidence (once per generation), and store where they are.
        Every post goes through the outbox: a run that resumes, in this process or another,
        goes on editing the messages it has and never posts them twice."""
        run_id = self.state.run_id
        thread = await self.store.get_thread(run_id)
        if thread is None:
            text, blocks = parent_message(self.state)

            def opened(ts: str) -> Write:
                return self.store.thread_write(
                    SlackThread(run_id=run_id, channel=self.channel, parent_ts=ts)
                )

            parent = await self.outbox.post(
                f"run:{run_id}:parent", self.channel, text, blocks, run_id=run_id, keep=opened
            )
            thread = SlackThread(run_id=run_id, channel=self.channel, parent_ts=parent.ts)
            if not parent.kept:
                await self.store.save_thread(thread)
        self.thread = thread
        if note:
            await self._reply(note.key, note.text)
        text, blocks = progress_message(self.state)
        await self._reply(f"progress:{self.generation}", text, blocks, stored_as="progress_ts")

    async def _opening(self, note: Note | None) -> None:
        """Open the thread, trying again with capped backoff while Slack fails."""
        pause = RETRY_FIRST
        while True:
            try:
                await self._open_thread(note)
            except Exception as exc:
                self._settle_first(exc)
                if not self._retry(exc, "open the thread of", pause, unknown=True):
                    self.thread, self.gone = None, exc
                    return
            else:
                self._settle_first(None)
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_CAP)

    def _settle_first(self, outcome: BaseException | None) -> None:
        if self._first is not None and not self._first.done():
            self._first.set_result(outcome)

    def _retry(self, exc: Exception, what: str, pause: float, *, unknown: bool = False) -> bool:
        """Log a failed publication; whether to try it again: yes while Slack fails (or
        the outbox waits on another process), no after a permanent Slack error; any other
        error is tried again only when ``unknown`` says so."""
        run_id = self.state.run_id
        if transient(exc):
            log.warning("cannot %s run %s yet (%s); again in %.0fs", what, run_id, exc, pause)
            return True
        if isinstance(exc, SlackCallError):
            log.error("cannot %s run %s: Slack answered %s; given up", what, run_id, exc.error)
            return False
        if is_database_fault(exc):  # the run goes on through a blip (bot/engine/durable.py)
            log.warning(
                "cannot %s run %s yet (%s); again in %.0fs", what, run_id, cause(exc), pause
            )
            return True
        again = f"again in {pause:.0f}s" if unknown else "skipped"
        log.exception("cannot %s run %s; %s", what, run_id, again)
        return unknown

    async def _reply(
        self,
        key: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        *,
        stored_as: ThreadMessage | None = None,
    ) -> str:
        """A reply in the run's thread, posted once under ``run:<id>:<key>``; one the
        thread keeps (``stored_as``) is stored there in the transaction that records its
        ts (else in one more, if the thread does not know it yet)."""
        thread = self.thread
        assert thread is not None, "the thread is opened first"

        posted = await self.outbox.post(
            f"run:{self.state.run_id}:{key}",
            thread.channel,
            text,
            blocks,
            thread_ts=thread.parent_ts,
            run_id=self.state.run_id,
            keep=kept_in(self.store, thread, stored_as) if stored_as else None,
        )
        if stored_as is not None and getattr(thread, stored_as) != posted.ts:
            setattr(thread, stored_as, posted.ts)
            if not posted.kept:
                await self.store.save_thread(thread)
        return posted.ts

    def __call__(self, event: Event) -> None:
        self.latest = apply(self.latest, event)
        self._queue.put_nowait(event)

    async def close(self) -> None:
        """Wait until every queued event has reached Slack (or the worker was stopped:
        a run handed over while its thread was still owed)."""
        if self._worker is None:
            return
        self._queue.put_nowait(None)
        try:
            await self._worker
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this wait itself is being cancelled

    async def cancelled(self, by: str) -> None:
        """The run was cancelled: show it, in place and in the thread (tried again while
        Slack or the database fails, like every owed message)."""
        await self.close()
        self.state = self.latest = mark_cancelled(self.state)
        note = f":no_entry_sign: Run #{self.state.run_id} cancelled by <@{by}>."

        async def show() -> None:
            await self._show_progress(final=True)
            if self.thread is not None:
                await self._reply("cancelled", note)

        await self._owed_behind("show the cancel of", show)

    async def finish(self, report: RunReport) -> None:
        """Show the end of a run whose process died between storing it and showing it:
        the progress message in its final state and the results (each once; tried again
        while Slack or the database fails)."""

        async def show() -> None:
            self.thread = self.thread or await self.store.get_thread(self.state.run_id)
            if self.thread is None:
                return
            await self._show_progress(final=True)
            await self._post_results(report)

        await self._owed_behind("show the end of", show)

    async def say(self, key: str, text: str) -> None:
        """A note in the thread (an internal error, ...), posted once under ``key`` (tried
        again while Slack or the database fails)."""
        if self.thread is not None:
            await self._owed_behind(f"say {key} in", lambda: self._reply(key, text))

    async def _work(self, note: Note | None) -> None:
        await self._opening(note)
        while (event := await self._queue.get()) is not None:
            self.state = apply(self.state, event)
            if self.thread is not None:
                await self._publishing(event)

    async def _publishing(self, event: Event) -> None:
        """Publish one event, trying again while Slack fails."""
        await self._owed(f"publish {type(event).__name__} for", lambda: self._handle(event))

    async def _owed(self, what: str, work: Callable[[], Awaitable[object]]) -> None:
        """``work`` until it lands, tried again with capped backoff while Slack or the
        database fails: its messages go under outbox keys and the progress is
        latest-state-wins, so a second try repeats nothing. A permanent Slack error, or a
        bug, gives up with a log line."""
        await self._until_landed(what, work, RETRY_FIRST)

    async def _owed_behind(self, what: str, work: Callable[[], Awaitable[object]]) -> None:
        """Like :meth:`_owed`, but only the first try is waited for: the tries after it go
        on in a task of their own (one per run and ``what``), so the duties loop that
        cancels a run or shows a crash's leftovers is not held while Slack is down."""
        key = (self.state.run_id, what)
        if (behind := _BEHIND.get(key)) is not None and not behind.done():
            return  # already being tried
        try:
            await work()
            return
        except Exception as exc:
            if not self._retry(exc, what, RETRY_FIRST):
                return
        task = asyncio.create_task(self._until_landed(what, work, RETRY_FIRST, first=False))
        _BEHIND[key] = task
        task.add_done_callback(lambda _: _BEHIND.pop(key, None))

    async def _until_landed(
        self, what: str, work: Callable[[], Awaitable[object]], pause: float, first: bool = True
    ) -> None:
        while True:
            if not first:
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_CAP)
            first = False
            try:
                await work()
                return
            except Exception as exc:
                if not self._retry(exc, what, pause):
                    return

    async def _handle(self, event: Event) -> None:
        if isinstance(event, CheckFinished) and event.result.status.is_problem:
            await self._reply_failure(event.result)
        if isinstance(event, StageFinished) and self.thread is not None:
            line = stage_line(
                event.stage, event.passed, event.next_stage, event.next_checks, event.expected_s
            )
            await self._reply(f"stage:{event.stage}:{self.generation}", *line)
        if isinstance(event, RunFinished):
            # The final state is submitted, not awaited: the coalescer delivers it (and
            # retries it until it lands), while the results and then the sign-off panel
            # go out at once instead of queuing behind every other run's Tier-3 update.
            await self._show_progress(final=False)
            await self._post_results(event.report)
        else:
            await self._show_progress(final=False)

    async def _show_progress(self, final: bool) -> None:
        key = self.progress_key
        if key is None:
            return
        message = progress_message(self.latest)
        self.coalescer.submit(key, message.text, message.blocks)
        if final:
            await self.coalescer.flush(key)

    async def _reply_failure(self, result: CheckResult) -> None:
        row = self.state.row(result.check_id)
        if row is None or self.thread is None:
            return
        text, blocks = failure_reply(row, result.evidence, self.state.report_url)
        await self._reply(f"failure:{result.check_id}:{self.generation}", text, blocks)

    async def _post_results(self, report: RunReport) -> None:
        if self.thread is None:
            return
        actions = self.actions(report) if self.actions else None
        text, blocks = results_message(report, self.state.report_url, actions)
        await self._reply(f"results:{self.generation}", text, blocks, stored_as="results_ts")
