"""The checkpoint job: on the ``audit.checkpoint`` schedule, the trail's head is
published outside the database (bot/audit/checkpoint.py), signed when
``PREPROD_SIGNING_KEY_FILE`` names a key.

Once per slot across replicas, like the reminders: each sink's message is recorded
under a unique key (job, slot, recipient) before it goes out. The Slack channel's goes
through the outbox under that key (a repeat posts nothing, a lost ``ts`` is found
again); the file line and the URL POST go out from whichever process recorded the key
first (at most once: a process that dies in between loses that one). A sink that fails
is logged and does not stop the others."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.audit.checkpoint import Checkpoint, make
from bot.audit.keys import KeyProblem
from bot.config.cron import cron_trigger, latest_fire
from bot.config.schema import Config
from bot.schedule.due import slot_name
from bot.signing import signing_key
from bot.store.audit_log import AuditLog
from bot.store.models import utcnow
from bot.store.reminders import ReminderKey, ReminderStore
from bot.store.runs import RunStore

log = logging.getLogger(__name__)
JOB = "checkpoint"


class CheckpointPoster(Protocol):
    """Posts a checkpoint in a chat channel under the reminder's key (an outbox): a
    repeat of the key posts nothing. True when it posted now."""

    async def post_checkpoint(
        self, reminder: ReminderKey, channel: str, checkpoint: Checkpoint
    ) -> bool: ...


async def current(
    store: RunStore, at: datetime | None = None, key: Ed25519PrivateKey | None = None
) -> Checkpoint:
    """A checkpoint of the trail's head now, signed with ``key``."""
    head = await AuditLog(store).head()
    return make(head, at or utcnow(), key)


def bot_key() -> Ed25519PrivateKey | None:
    """The bot's key for a scheduled checkpoint; one that cannot be read is logged and
    the checkpoint goes out unsigned (a head is still worth publishing)."""
    try:
        return signing_key()
    except KeyProblem as exc:
        log.error("checkpoints go out unsigned: %s", exc)
        return None


def append_line(path: Path, line: str) -> None:
    """Append ``line`` to ``path`` and flush it to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as file:
        file.write(line + "\n")
        file.flush()
        os.fsync(file.fileno())


async def post_line(url: str, line: str, timeout: float) -> None:
    """POST ``line`` (text/plain) to ``url``; raises on a transport error or non-2xx."""
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
        response = await client.post(
            url, content=line + "\n", headers={"content-type": "text/plain; charset=utf-8"}
        )
        response.raise_for_status()


def _short(text: str) -> str:
    """A recipient that fits the key's column: a path or URL by its digest."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class Checkpoints:
    """The scheduled job (``Checkpoints.publish``) and its sinks."""

    def __init__(
        self,
        config: Config,
        store: RunStore,
        poster: CheckpointPoster | None,
        *,
        clock: Callable[[], datetime] = utcnow,
        key: Callable[[], Ed25519PrivateKey | None] = bot_key,
    ) -> None:
        self.config = config
        self.store = store
        self.poster = poster
        self.rows = ReminderStore(store)
        self.clock = clock
        self.key = key

    def slot(self, now: datetime) -> datetime | None:
        """The fire time due at ``now`` (within ``schedule.misfire_grace``), if any."""
        trigger = cron_trigger(self.config.audit.checkpoint, self.config.zone)
        slot = latest_fire(trigger, now.astimezone(self.config.zone))
        grace = timedelta(seconds=self.config.schedule.misfire_grace)
        if slot is None or now - slot > grace:
            return None
        return slot

    async def publish(self) -> Checkpoint | None:
        """The job: publish the head once for the slot due now; None when none is due or
        this process had nothing left to send."""
        audit = self.config.audit
        now = self.clock()
        slot = self.slot(now)
        if slot is None or not audit.published:
            return None
        name = slot_name(slot)
        checkpoint = await current(self.store, now, self.key())
        sent = False
        if audit.channel and self.poster is not None:
            reminder = ReminderKey(JOB, name, 0, audit.channel)
            await self.rows.record(reminder)
            if reminder.key not in await self.rows.sent([reminder]):
                try:
                    sent |= await self.poster.post_checkpoint(reminder, audit.channel, checkpoint)
                except Exception:
                    log.exception("could not post the checkpoint in %s", audit.channel)
        if audit.file is not None and await self.rows.record(
            ReminderKey(f"{JOB}-file", name, 0, _short(str(audit.file)))
        ):
            sent |= await self.to_file(audit.file, checkpoint)
        if audit.url is not None and await self.rows.record(
            ReminderKey(f"{JOB}-url", name, 0, _short(audit.url))
        ):
            sent |= await self.to_url(audit.url, checkpoint, audit.timeout)
        return checkpoint if sent else None

    async def to_file(self, path: Path, checkpoint: Checkpoint) -> bool:
        try:
            await asyncio.to_thread(append_line, path, checkpoint.line)
        except OSError as exc:
            log.error("could not append the checkpoint to %s: %s", path, exc)
            return False
        return True

    async def to_url(self, url: str, checkpoint: Checkpoint, timeout: float) -> bool:
        try:
            await post_line(url, checkpoint.line, timeout)
        except httpx.HTTPError as exc:
            shown = url.split("?", 1)[0]  # a query may carry a token
            log.error("could not POST the checkpoint to %s: %s", shown, exc)
            return False
        return True
