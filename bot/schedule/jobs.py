"""The scheduler's jobs. Each holds no state: it asks the database what is due now,
records every message it owes under a unique key (bot/store/reminders.py), and only then
has the notifier send it. A key already sent is skipped, so two replicas, a retry or a
restart never send a reminder twice.

The notifier is the chat adapter (Slack's lives in bot/slack/reminders.py)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.config.cron import cron_trigger, latest_fire, next_fires
from bot.config.schema import Config
from bot.gate.actions import Gate
from bot.gate.sweeps import Sweeps
from bot.schedule.due import (
    Awaited,
    Digest,
    Item,
    PendingRun,
    by_person,
    digest,
    nudge_number,
    slot_name,
    warning_due,
    working,
)
from bot.schedule.pending import pending_of, pending_runs, slack_runs
from bot.store.audit_log import AuditLog
from bot.store.models import Run, as_utc, utcnow
from bot.store.reminders import ReminderKey, ReminderStore

log = logging.getLogger(__name__)
EVERY_MINUTE = "* * * * *"
"""Nudges, warnings and deadlines are looked for every minute."""
THREAD = "thread"
"""The recipient of what goes to a run's thread."""


class Notifier(Protocol):
    """Sends what a job decided; every call carries the reminder's key, which the
    notifier posts under (an outbox), so a repeat of a key posts nothing. Each returns
    True when it posted the message now (False: it was there already)."""

    async def send_digest(self, reminder: ReminderKey, digest: Digest, now: datetime) -> bool: ...

    async def send_direct(
        self, reminder: ReminderKey, user: str, items: list[Item], now: datetime
    ) -> bool: ...

    async def send_nudge(
        self, reminder: ReminderKey, run: PendingRun, number: int, now: datetime
    ) -> bool: ...

    async def send_warning(self, reminder: ReminderKey, run: PendingRun, now: datetime) -> bool: ...


@dataclass(frozen=True)
class JobSpec:
    """A job as ``preprod schedule`` lists it and the scheduler runs it."""

    name: str
    cron: str
    what: str


def job_specs(config: Config) -> list[JobSpec]:
    jobs = []
    if config.schedule.digest:
        jobs.append(JobSpec("digest", config.schedule.digest, "digest in the channel, DMs"))
    jobs.append(JobSpec("reminders", EVERY_MINUTE, "nudges and deadline warnings"))
    jobs.append(JobSpec("deadlines", EVERY_MINUTE, "runs past their deadline: EXPIRED"))
    if config.audit.published:
        jobs.append(JobSpec("checkpoint", config.audit.checkpoint, "the audit trail's head"))
    return jobs


def upcoming(
    config: Config, after: datetime, count: int = 5
) -> list[tuple[JobSpec, list[datetime]]]:
    """Each job and its next ``count`` fire times in the config's zone."""
    return [
        (job, next_fires(cron_trigger(job.cron, config.zone), after.astimezone(config.zone), count))
        for job in job_specs(config)
    ]


@dataclass
class Sent:
    """What one job run sent (for logs, tests and the bench)."""

    messages: int = 0
    skipped: int = 0


class Reminders:
    def __init__(
        self,
        config: Config,
        gate: Gate,
        notifier: Notifier,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.gate = gate
        self.notifier = notifier
        self.rows = ReminderStore(gate.store)
        self.audit = AuditLog(gate.store)
        self.clock = clock

    def _local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.config.zone)

    async def digest_slot(self, now: datetime) -> datetime | None:
        """The fire time whose digest is due at ``now`` (within ``misfire_grace``)."""
        expression = self.config.schedule.digest
        if expression is None:
            return None
        trigger = cron_trigger(expression, self.config.zone)
        slot = latest_fire(trigger, self._local(now))
        if slot is None:
            return None
        grace = timedelta(seconds=self.config.schedule.misfire_grace)
        if now - slot > grace:
            channel = ReminderKey("digest", slot_name(slot), 0, self.config.channel or "")
            if not await self.rows.recorded(channel) and await self.rows.runs_before(slot):
                log.info(
                    "the digest of %s was missed and is past schedule.misfire_grace; skipped",
                    slot.isoformat(),
                )
            return None
        return slot

    async def digest(self) -> Sent:
        """The digest job (also run once at start-up, for a digest missed while down)."""
        now = self.clock()
        slot = await self.digest_slot(now)
        if slot is None or self.config.channel is None:
            return Sent()
        runs = await pending_runs(self.gate)
        name = slot_name(slot)
        owed: list[tuple[ReminderKey, Callable[[], Awaitable[bool]]]] = []
        if runs or self.config.schedule.post_empty_digest:
            content = digest(slot, runs)
            key = ReminderKey("digest", name, 0, self.config.channel)
            owed.append((key, lambda: self.notifier.send_digest(key, content, now)))
        if working(self.config.schedule.hours, self._local(slot)):
            for user, items in by_person(runs).items():
                dm = ReminderKey("dm", name, 0, user)
                owed.append((dm, _direct(self.notifier, dm, user, items, now)))
        elif runs:
            log.info("digest of %s: outside working hours, no DMs", slot.isoformat())
        return await self._send(owed)

    async def remind(self) -> Sent:
        """Nudges (in working hours) and deadline warnings (at any hour) due now.

        Which are due is read off the runs' rows, and which of those Slack has already in
        one query; only a run owed one is loaded whole (who may still sign). The job
        comes every minute: loading every run waiting on people each time (hundreds after
        a busy day) held the acks of every process behind it (bench/ack_latency.py)."""
        now = self.clock()
        schedule = self.config.schedule
        nudging = schedule.nudge_after is not None and working(schedule.hours, self._local(now))
        runs = await slack_runs(self.gate)
        due = {run.id: self._due(run, now, nudging) for run in runs if run.id is not None}
        done = await self.rows.sent([key for keys in due.values() for key in keys])
        owed_runs = [run for run in runs if any(k.key not in done for k in due[run.id or 0])]
        owed: list[tuple[ReminderKey, Callable[[], Awaitable[bool]]]] = []
        for run in await pending_of(self.gate, owed_runs):
            for key in due[run.run_id]:
                if key.key in done:
                    continue
                if key.job == "warning":
                    owed.append((key, _warning(self.notifier, key, run, now)))
                else:
                    owed.append((key, _nudge(self.notifier, key, run, int(key.slot), now)))
        sent = await self._send(owed)
        sent.skipped += len(done)
        return sent

    def _due(self, run: Run, now: datetime, nudging: bool) -> list[ReminderKey]:
        """The warning and the nudge due now for ``run``, by its row alone."""
        assert run.id is not None
        schedule = self.config.schedule
        deadline = self.gate.deadline(run)
        keys = []
        if schedule.warn_before is not None and warning_due(
            as_utc(run.created_at), deadline, now, schedule.warn_before
        ):
            keys.append(ReminderKey("warning", slot_name(deadline), run.id, THREAD))
        if nudging and schedule.nudge_after is not None and now < deadline:
            finished = as_utc(run.finished_at or run.created_at)
            number = nudge_number(finished, now, schedule.nudge_after, schedule.nudge_every)
            if number is not None:
                keys.append(ReminderKey("nudge", str(number), run.id, THREAD))
        return keys

    async def expire(self) -> list[int]:
        """Decide the runs whose deadline passed (EXPIRED, announced once by the gate)."""
        return await Sweeps(self.gate).expire_due()

    async def _send(self, owed: list[tuple[ReminderKey, Callable[[], Awaitable[bool]]]]) -> Sent:
        """Record every key first, skip those Slack already has, send the rest; one that
        fails is logged and left recorded but unsent for the next run of the job."""
        sent = Sent()
        done = await self.rows.sent([key for key, _ in owed])
        for key, send in owed:
            await self.rows.record(key)
            if key.key in done:
                sent.skipped += 1
                continue
            try:
                posted = await send()
            except Exception:
                log.exception("could not send %s; the next run of the job retries", key.key)
                continue
            if posted:
                sent.messages += 1
            else:
                sent.skipped += 1
            # In the audit trail once per key, whoever of several processes sent it.
            await self.audit.reminder_sent(key.run_id or None, key.recipient, key.key)
        return sent


def _direct(
    notifier: Notifier, key: ReminderKey, user: str, items: list[Item], now: datetime
) -> Callable[[], Awaitable[bool]]:
    return lambda: notifier.send_direct(key, user, items, now)


def _nudge(
    notifier: Notifier, key: ReminderKey, run: PendingRun, number: int, now: datetime
) -> Callable[[], Awaitable[bool]]:
    return lambda: notifier.send_nudge(key, run, number, now)


def _warning(
    notifier: Notifier, key: ReminderKey, run: PendingRun, now: datetime
) -> Callable[[], Awaitable[bool]]:
    return lambda: notifier.send_warning(key, run, now)


__all__ = ["Awaited", "JobSpec", "Notifier", "Reminders", "Sent", "job_specs", "upcoming"]
