"""Reminders sent to Slack: the notifier of bot/schedule/jobs.py, and the requester's
outcome DM (a gate listener). Every message goes through the outbox under its reminder's
key, recorded before it is sent, so nothing is posted twice by two replicas or a restart.

Calls per digest: one channel message, one ``chat.getPermalink`` per listed run, and per
awaited person one ``chat.postMessage`` (plus one ``conversations.open`` the first time
the bot writes to that person: the DM channel is kept in the database)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from bot.gate.events import GateEvent, RunDecided
from bot.gate.policy import Outcome
from bot.gate.rounds import read_round
from bot.schedule.due import Digest, Item, PendingRun
from bot.slack.client import SlackCallError, SlackClient
from bot.slack.limits import Message
from bot.slack.outbox import Outbox
from bot.slack.render_reminders import (
    digest_message,
    digest_runs,
    direct_message,
    direct_runs,
    nudge_message,
    outcome_message,
    warning_message,
)
from bot.slack.text import mention
from bot.store.audit_log import AuditLog
from bot.store.reminders import ReminderKey, ReminderStore
from bot.store.runs import RunStore

log = logging.getLogger(__name__)
PERMALINKS_KEPT = 5000
"""Thread links remembered (a message's permalink never changes)."""


class SlackReminders:
    def __init__(
        self, store: RunStore, slack: SlackClient, channel: str | None, runs_url: str | None
    ) -> None:
        self.store = store
        self.slack = slack
        self.channel = channel
        self.runs_url = runs_url
        self.outbox = Outbox(store, slack)
        self.rows = ReminderStore(store)
        self._links: dict[int, str] = {}

    # -- the Notifier ------------------------------------------------------------------

    async def send_digest(self, reminder: ReminderKey, digest: Digest, now: datetime) -> bool:
        if await self.outbox.posted(reminder.key):
            return False
        links = await self.permalinks(digest_runs(digest))
        message = digest_message(digest, now, links, self.runs_url)
        return await self._post(reminder, reminder.recipient, message)

    async def send_direct(
        self, reminder: ReminderKey, user: str, items: list[Item], now: datetime
    ) -> bool:
        if await self.outbox.posted(reminder.key):
            return False
        links = await self.permalinks(direct_runs(items))
        channel = await self.direct_channel(user)
        return await self._post(reminder, channel, direct_message(items, now, links, self.runs_url))

    async def send_nudge(
        self, reminder: ReminderKey, run: PendingRun, number: int, now: datetime
    ) -> bool:
        return await self._in_thread(reminder, run, nudge_message(run, number, now))

    async def send_warning(self, reminder: ReminderKey, run: PendingRun, now: datetime) -> bool:
        return await self._in_thread(reminder, run, warning_message(run, now))

    # -- the requester's outcome -------------------------------------------------------

    async def __call__(self, event: GateEvent) -> None:
        """A gate listener: when a run is decided, its requester is told in a DM."""
        if not isinstance(event, RunDecided):
            return
        view = event.view
        if view.decision.outcome is Outcome.CANCELLED or mention(view.requester) == view.requester:
            return  # not decided by people, or not a Slack user (a terminal's run)
        # once per decision: a NO-GO reopened by a re-run is decided again, and told again
        decided = await read_round(AuditLog(self.store), view.run_id)
        slot = "final" if decided.round is None else f"decision-{decided.round}"
        reminder = ReminderKey("outcome", slot, view.run_id, view.requester)
        await self.rows.record(reminder)
        if await self.outbox.posted(reminder.key):
            return
        links = await self.permalinks_of([view.run_id])
        channel = await self.direct_channel(view.requester)
        await self._post(reminder, channel, outcome_message(view, links.get(view.run_id)))

    # -- Slack -------------------------------------------------------------------------

    async def _in_thread(self, reminder: ReminderKey, run: PendingRun, message: Message) -> bool:
        thread = await self.store.get_thread(run.run_id)
        if thread is None:
            return False
        posted = await self.outbox.post(
            reminder.key,
            thread.channel,
            message.text,
            message.blocks,
            thread_ts=thread.parent_ts,
            run_id=run.run_id,
        )
        return posted.now

    async def _post(self, reminder: ReminderKey, channel: str, message: Message) -> bool:
        run_id = reminder.run_id or None
        posted = await self.outbox.post(
            reminder.key, channel, message.text, message.blocks, run_id=run_id
        )
        return posted.now

    async def direct_channel(self, user: str) -> str:
        """The DM channel with ``user``: from the database, else ``conversations.open``."""
        if found := await self.rows.direct_channel(user):
            return found
        channel = await self.slack.open_dm(user)
        await self.rows.save_direct_channel(user, channel)
        return channel

    async def permalinks(self, runs: Iterable[PendingRun]) -> dict[int, str]:
        return await self.permalinks_of(run.run_id for run in runs)

    async def permalinks_of(self, run_ids: Iterable[int]) -> dict[int, str]:
        """Links to the threads of ``run_ids`` (``chat.getPermalink``, once per run); a run
        whose link cannot be had is shown by its number."""
        found: dict[int, str] = {}
        for run_id in run_ids:
            if run_id in self._links:
                found[run_id] = self._links[run_id]
                continue
            thread = await self.store.get_thread(run_id)
            if thread is None:
                continue
            try:
                data = await self.slack.api_call(
                    "chat.getPermalink",
                    http_verb="GET",
                    params={"channel": thread.channel, "message_ts": thread.parent_ts},
                )
            except SlackCallError as exc:
                log.warning("no link to the thread of run %s: %s", run_id, exc.error)
                continue
            if isinstance(url := data.get("permalink"), str):
                if len(self._links) >= PERMALINKS_KEPT:
                    self._links.clear()
                self._links[run_id] = found[run_id] = url
        return found
