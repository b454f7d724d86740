"""The running bot, assembled once at start-up: the config, the store, the Slack client,
the gate with its Slack panel, the run manager and Bolt with preprod's listeners.

``preprod serve`` puts it behind the ASGI app (bot/web/app.py); ``preprod socket`` runs
its Bolt app over Socket Mode."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import timedelta

from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped

from bot.config.loader import load_config
from bot.config.schema import Config
from bot.gate.actions import Gate
from bot.gate.roles import RoleDirectory
from bot.gate.sweeps import Sweeps
from bot.github.settings import GitHubSettings, GitHubSettingsError
from bot.github.wiring import GitHubApp
from bot.schedule.checkpoints import Checkpoints
from bot.schedule.jobs import Reminders
from bot.settings import Settings, SettingsError
from bot.slack.checkpoints import SlackCheckpoints
from bot.slack.client import SlackClient
from bot.slack.dispatch import Dispatcher
from bot.slack.gate_panel import GatePanel
from bot.slack.reminders import SlackReminders
from bot.slack.runs import RunManager
from bot.store.audit_log import AuditLog
from bot.store.faults import Timeouts, cause, is_database_fault
from bot.store.insights import catch_up as catch_up_insights
from bot.store.leases import Leases
from bot.store.runs import RunStore
from bot.web import listeners
from bot.web.scheduler import ReminderScheduler
from bot.web.team import PinnedToWorkspace, announce

log = logging.getLogger(__name__)

FULL_SWEEP_EVERY = 300.0
"""Seconds between sweeps that look at every undecided run."""
RECENT = timedelta(minutes=2)
"""What the sweeps in between look at: runs finished or signed this recently."""


@dataclass
class Bot:
    """Everything a running bot holds, built once at start-up."""

    settings: Settings
    config: Config
    store: RunStore
    slack: SlackClient
    manager: RunManager
    bolt: AsyncApp
    gate: Gate
    reminders: Reminders
    scheduler: ReminderScheduler
    github: GitHubApp | None = None
    """The GitHub App's side (deployment protection rules), when it is configured."""
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self, *, schedule: bool = True) -> None:
        """Background duties: renew this process's leases; when it executes runs, claim
        the runs nobody holds (new ones queued by a replica that only acks, or resumed
        ones whose owner stopped) and follow cancel requests; decide and announce what a
        deadline or a crash left undecided or unannounced. With ``schedule``, the
        reminder jobs too (digests, nudges, warnings, deadlines: bot/web/scheduler.py).

        The heartbeat has a task of its own: the other duties wait on Slack (a resumed
        run's note, an announcement, each behind the channel's one message a second), and
        a lease renewed only between them expired under a live owner, so that another
        process resumed a run still executing here (``bench/chaos.py`` saw checks run
        twice). Claiming runs has one too: behind the duties it waited for republishing,
        which waits on Slack's pace (a ``chat.update`` flush, Tier 3 for the workspace),
        and with hundreds of runs in flight a worker claimed no new run for minutes
        (``bench/pipelines.py``: 200 runs left queued)."""
        self._tasks = [
            asyncio.create_task(self._heartbeat_forever()),
            asyncio.create_task(self._duties_forever()),
            asyncio.create_task(self._cancels_forever()),
            asyncio.create_task(self._claims_forever()),
        ]
        if self.github is not None:
            reconciler = self.github.reconciler.forever(self.github.every)
            self._tasks.append(asyncio.create_task(reconciler))
        if schedule:
            self.scheduler.start()

    async def _heartbeat_forever(self) -> None:
        beat = self.manager.leases.ttl / 3
        while True:
            await _logged("renewing leases", self.manager.heartbeat())
            await _logged("measuring the clock against the database's", self.manager.check_clock())
            await asyncio.sleep(beat)

    async def _cancels_forever(self) -> None:
        """Cancel requests on their own loop: one must not wait behind the duties, which
        may wait seconds on Slack's pace (a thread owed after an outage, say)."""
        poll = min(self.settings.poll_interval, self.manager.leases.ttl / 3)
        while True:
            if self.manager.executes:
                await _logged("following cancel requests", self.manager.follow_cancel_requests())
            await asyncio.sleep(poll)

    async def _duties_forever(self) -> None:
        beat = self.manager.leases.ttl / 3
        poll = min(self.settings.poll_interval, beat)
        last_beat = last_full = -math.inf  # everything at once, then on its own period
        while True:
            now = time.monotonic()
            if now - last_beat >= beat:
                # At start-up at once; then half a beat after the heartbeat's, so that
                # the two beats' writes do not land on the acks together.
                last_beat = now - beat / 2 if math.isinf(last_beat) else now
                await _logged("showing what a crash left unshown", self.manager.republish(beat))
                # A full sweep at start-up and now and then; in between, only the runs
                # that changed lately (or passed their deadline) are looked at.
                full = now - last_full >= FULL_SWEEP_EVERY
                if full:
                    last_full = now
                since = None if full else self.manager.leases.time.now() - RECENT
                due = Sweeps(self.gate).sweep(beat, since)
                await _logged("deciding and announcing what is due", due)
                await _logged("counting the insight figures", catch_up_insights(self.store))
            await asyncio.sleep(poll)

    async def _claims_forever(self) -> None:
        """Claim runs; and chain the audit events the acks queued (bot/store/audit.py)
        when no other write did in the meantime."""
        poll = min(self.settings.poll_interval, self.manager.leases.ttl / 3)
        trail = AuditLog(self.store)
        while True:
            await _logged("chaining queued audit events", trail.chain_queued())
            if self.manager.executes:
                await _logged("claiming runs", self.manager.recover())
            await asyncio.sleep(poll)

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.scheduler.aclose()
        if self.github is not None:
            await self.github.aclose()
        await self.manager.aclose()
        await self.slack.aclose()


class _TokenUnusedFilter(logging.Filter):
    """Drops Bolt's "`token` will be unused" warning: Bolt reads SLACK_BOT_TOKEN itself
    and warns beside our client, which does use the token; operators would chase it at
    every start."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


_BOLT_LOG = logging.getLogger("slack_bolt.AsyncApp")
if not any(isinstance(f, _TokenUnusedFilter) for f in _BOLT_LOG.filters):
    _BOLT_LOG.addFilter(_TokenUnusedFilter())


DB_FAULT_LOG_EVERY = 60.0
"""Seconds between log lines of one duty while the database stays down."""
_db_faults_logged: dict[str, float] = {}


async def _logged(what: str, work: Awaitable[object]) -> None:
    """One duty of the loop; a failure is logged and the loop tries again next time. The
    database being down is one line per duty and minute, not a traceback per beat."""
    try:
        await work
    except Exception as exc:
        if not is_database_fault(exc):
            log.exception("%s failed; trying again later", what)
            return
        now = time.monotonic()
        if now - _db_faults_logged.get(what, -math.inf) >= DB_FAULT_LOG_EVERY:
            _db_faults_logged[what] = now
            log.warning("%s failed: the database is unavailable (%s)", what, cause(exc))
    else:
        _db_faults_logged.pop(what, None)


def build_bot(
    settings: Settings,
    config: Config | None = None,
    *,
    executes: bool | None = None,
    github: GitHubSettings | None = None,
) -> Bot:
    """The bot; one that does not execute runs (``serve --workers``, or
    ``PREPROD_EXECUTE_RUNS=0``) acks and queues runs and leaves them to worker processes.
    ``github``: the GitHub App's settings (default: the ``PREPROD_GITHUB_*`` variables;
    none set, no GitHub side)."""
    config = config or load_config(settings.config_path)
    timeouts = Timeouts(connect=settings.db_connect_timeout, pool=settings.db_pool_timeout)
    store = RunStore(settings.database_url, timeouts)
    slack = SlackClient(settings.bot_token, base_url=settings.api_url)
    directory = RoleDirectory(config, slack.usergroup_members)
    leases = Leases(store, ttl=settings.lease_ttl)
    clock = leases.time.now  # deadlines and reminder slots by the database's clock
    gate = Gate(config, store, directory, report_url=settings.report_url, clock=clock)
    gate.add_listener(GatePanel(store, slack))
    notifier = SlackReminders(store, slack, config.channel, f"{settings.public_url}/runs")
    gate.add_listener(notifier)  # the requester's DM, after the announcement
    reminders = Reminders(config, gate, notifier, clock=clock)
    manager = RunManager(
        config,
        store,
        slack,
        settings,
        gate,
        leases,
        executes=settings.execute_runs if executes is None else executes,
    )
    bolt = AsyncApp(
        client=slack.web_client,
        signing_secret=settings.signing_secret or None,
        # Bolt's own "unhandled request" warnings are noise for events we do not use.
        raise_error_for_unhandled_request=False,
        # Answer Slack when the listener returns, not at Bolt's next 10 ms poll for the
        # ack: every listener returns once it has acked (handlers/after_ack.py).
        process_before_response=True,
    )
    bolt.use(
        PinnedToWorkspace(settings.team_id)
    )  # after Bolt's signature and auth.test, HTTP and socket
    announce(settings.team_id)
    dispatcher = Dispatcher(manager)
    for register in listeners.installed():  # the handlers package, by entry point
        register(bolt, dispatcher, gate, slack)
    checkpoints = Checkpoints(config, store, SlackCheckpoints(store, slack), clock=clock)
    scheduler = ReminderScheduler(config, reminders, checkpoints)
    try:
        github = github or GitHubSettings.from_env()
    except GitHubSettingsError as exc:
        raise SettingsError(str(exc)) from None
    github_app = GitHubApp.build(github, store, gate, settings.report_url) if github else None
    return Bot(
        settings, config, store, slack, manager, bolt, gate, reminders, scheduler, github_app
    )
