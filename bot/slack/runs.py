"""Runs started from Slack: one asyncio task per executing run, its thread publisher,
and the commands that act on a run (cancel, re-run).

Each run this process executes is held through a lease (bot/store/leases.py) that a
heartbeat renews. Runs whose owner stopped are claimed and resumed here; on shutdown the
runs are handed over (left running, leases released) rather than cancelled.

A manager that does not execute runs (``preprod serve --workers N``: the process that acks
Slack) stores a run, opens its thread and leaves it unleased; a worker claims it. A cancel
meant for a run executing elsewhere is recorded on the run's row for its owner to act on.

A run never waits for Slack: it executes while its thread is still owed (Slack failing),
and the requester is told which of the two happened: Slack is failing (the run goes on),
or the channel cannot take the thread (the run is stopped: invite the bot)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Coroutine
from typing import Any

from bot.config.schema import Config
from bot.engine.request import RunRequest
from bot.engine.runner import Engine
from bot.gate.actions import Gate
from bot.record.report import RunReport
from bot.settings import Settings
from bot.slack.client import SlackClient
from bot.slack.coalesce import Coalescer, MessageKey
from bot.slack.opening import ReplyError, opening_reply
from bot.slack.outbox import gone_for_good
from bot.slack.publisher import Note, ThreadPublisher
from bot.slack.republish import republish
from bot.slack.run_cancels import Cancelling
from bot.slack.run_reruns import Rerunning, with_origin
from bot.slack.state import RunState
from bot.store.clock import Skew
from bot.store.faults import cause, is_database_fault
from bot.store.leases import Leases
from bot.store.models import Run, RunStatus
from bot.store.runs import LeaseLost, RunStore

log = logging.getLogger(__name__)
__all__ = ["ReplyError", "RunManager"]

HAND_OVER_FLUSH_S = 3.0
"""How long a hand-over waits for a run's last progress to reach Slack."""


class RunManager(Rerunning, Cancelling):
    def __init__(
        self,
        config: Config,
        store: RunStore,
        slack: SlackClient,
        settings: Settings,
        gate: Gate | None = None,
        leases: Leases | None = None,
        *,
        executes: bool = True,
    ) -> None:
        self.executes = executes
        """False in a process that only acks: its runs are left for workers to claim."""
        self.gate = gate
        self.leases = leases or Leases(store)
        self.config = config
        self.store = store
        self.slack = slack
        self.settings = settings
        self.coalescer: Coalescer[MessageKey] = Coalescer.for_messages(
            slack, interval=settings.update_interval, permanent=gone_for_good
        )
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.publishers: dict[int, ThreadPublisher] = {}
        self.engines: dict[int, Engine] = {}
        self.closing = False
        """Set by :meth:`aclose`: a run whose thread opens after it is left to others."""
        self.interrupted: dict[int, int] = {}
        """Runs of this process stopped by a database error (still leased here), with how
        many times: resumed here, before anything else, once the database answers."""
        self.opening: set[int] = set()
        """Runs leased here whose thread is being opened (which can wait seconds behind
        the channel's rate limit): their leases are renewed like those of executing
        runs, and :meth:`recover` leaves them alone."""
        self.telling: set[asyncio.Task[None]] = set()
        """Cancels being shown in Slack after :meth:`follow_cancel_requests` stopped them."""
        self.skewed: bool | None = None
        """Whether this process's clock is beyond ``max_clock_skew`` of the database's
        (None: not measured yet); while it is, no run is claimed or executed anew here."""

    def engine(self) -> Engine:
        return Engine(self.config, self.store, leases=self.leases)

    def channel(self, requested_in: str, environment: str | None = None) -> str:
        """Runs live in their environment's channel, else the release channel; without
        either configured, where they were asked."""
        settings = self.config.environments.get(environment) if environment else None
        return (settings.channel if settings else None) or self.config.channel or requested_in

    async def store_run(self, request: RunRequest) -> Run:
        """Store a new run, leased to this process: done before the requester's ack, so a
        process that dies after the ack leaves a run that another one resumes, never an
        acknowledged release that exists nowhere."""
        return await self.engine().start(request)

    async def start(self, run: Run, request: RunRequest, channel: str) -> Run:
        """Execute a run stored by :meth:`store_run` in the background while its thread
        opens (owed until Slack answers), or, when this process does not execute runs,
        release it to the workers (see :meth:`_leave_to_workers`). Raises
        :class:`ReplyError` with what the requester must know when the thread did not
        open at the first try."""
        assert run.id is not None
        with self._opening(run.id):
            return await self._start(run, request, channel)

    async def _start(self, run: Run, request: RunRequest, channel: str) -> Run:
        engine = self.engine()
        assert run.id is not None
        state = RunState.from_run(run, self.settings.report_url(run.id))
        here = self.runs_here  # decided once: left-out checks are set aside only if not
        if not here:
            await engine.set_aside(run, request)
            report = await self.store.report(run.id)
            state = with_origin(RunState.from_report(report, self.settings.report_url(run.id)), run)
        where = self.channel(channel, request.environment)
        publisher = self._open(engine, state, where, run.generation)
        if here and not self.closing:
            if not await self._still_ours(run.id, publisher):
                return run
            log.info("executing run %s in process %s", run.id, os.getpid())
            self._spawn(run.id, engine, publisher, engine.execute(run, request))
            told = opening_reply(where, await self._first_try(run.id, publisher))
            if told is not None and told[1]:
                await self._stop_unthreaded(run.id, publisher)
        else:
            told = await self._leave_to_workers(run.id, publisher, where)
        if told is None:
            return run
        raise ReplyError(told[0])

    async def recover(self) -> list[int]:
        """Claim and resume the runs whose owner stopped (at start-up, then periodically):
        finished checks are kept and the thread's messages are edited, not posted again."""
        resumed: list[int] = []
        if not self.executes:
            return resumed
        if self.skewed is None:
            await self.check_clock()
        if self.skewed:
            return resumed  # check_clock said why
        for run_id in list(self.interrupted):
            if run_id in self.tasks or run_id in self.opening:
                continue
            claimed = await self.leases.claim(run_id)  # still ours, and still running?
            times = self.interrupted.pop(run_id)
            if claimed:
                with self._opening(run_id):
                    if await self._resume(run_id, after_fault=times):
                        resumed.append(run_id)
        for run_id in await self.leases.orphaned():
            if run_id in self.tasks or run_id in self.opening:
                continue  # ours already
            if not await self.leases.claim(run_id):
                continue  # another process was quicker
            with self._opening(run_id):
                if await self._resume(run_id):
                    resumed.append(run_id)
        return resumed

    async def _resume(self, run_id: int, after_fault: int = 0) -> bool:
        """Resume a run just claimed; False when there was nothing left to execute.
        ``after_fault``: the how-manyth database error of this process stopped it (then
        the thread says so, once per interruption)."""
        run = await self.store.get_run(run_id)
        if run is None:
            return False
        engine = self.engine()
        state = with_origin(
            RunState.from_report(await self.store.report(run_id), self.settings.report_url(run_id)),
            run,
        )
        thread = await self.store.get_thread(run_id)
        where = (
            thread.channel
            if thread
            else await self._owed_channel(run_id, self.channel("", run.environment))
        )
        if not where:  # stored, then its process died before opening its thread
            log.warning("run %s has no thread and no release channel is set; failed", run_id)
            await self.store.finish_run(run_id, RunStatus.FAILED)
            await self.leases.release(run_id)
            return False
        if cancel := await self.leases.take_cancel_requests([run_id]):
            await self._cancel_unstarted(run_id, engine, state, where, cancel[run_id])
            return False
        states = (await self.store.check_states(run_id)).values()
        # A run cut off mid-check says so; one a replica queued for the workers
        # (or a re-run) simply starts.
        note = None
        if after_fault:
            note = Note(
                f"resumed:{self.leases.owner}:db{after_fault}",
                f"🔁 Run #{run_id} resumed after a database error; finished checks are kept.",
            )
        elif "running" in states:
            note = Note(
                f"resumed:{self.leases.owner}",
                f"🔁 Run #{run_id} resumed after a restart of the bot; finished checks are kept.",
            )
        publisher = self._open(engine, state, where, run.generation, note)
        if self.closing:
            await publisher.abandon()
            return False
        if not await self._still_ours(run_id, publisher):
            return False
        log.info("executing run %s in process %s", run_id, os.getpid())
        self._spawn(run_id, engine, publisher, engine.resume(run))
        return True

    async def republish(self, grace: float) -> list[int]:
        """Show what a crash left unshown (bot/slack/republish.py); the runs it finished."""
        if self.gate is None:
            return []
        return await republish(self.gate, self.slack, self.coalescer, self.settings, grace)

    @property
    def runs_here(self) -> bool:
        """Whether a run started here executes here: not in a process that only acks, nor
        in one whose clock is skewed (its new runs are left for the other processes)."""
        return self.executes and not self.skewed

    async def check_clock(self) -> Skew:
        """Measure this process's clock against the database's (at start-up and on every
        heartbeat). Beyond ``max_clock_skew`` the process claims no run and leaves the runs
        started here to the others: its leases are kept honest by the database's clock,
        but what it stamps from its own clock (check times) would be wrong. Logged when it
        changes."""
        skew = await asyncio.to_thread(self.leases.time.measure)
        bound = self.settings.max_clock_skew
        skewed = skew.beyond(bound)
        if skewed and self.skewed is not True:
            log.error(
                "clock skew: %s, more than PREPROD_MAX_CLOCK_SKEW=%ss; this process claims "
                "no runs (those started here are left to the others) until its clock is fixed "
                "(e.g. NTP)",
                skew.describe(),
                f"{bound:g}",
            )
        elif not skewed and self.skewed is not False:
            log.info("clock: %s (bound %ss)", skew.describe(), f"{bound:g}")
        self.skewed = skewed
        return skew

    async def heartbeat(self) -> None:
        """Renew the lease of every run executing here. A run whose lease another process
        took (this one stalled past the lease) is stopped here without being cancelled."""
        executing = list(self.tasks)
        held = await self.leases.renew_many([*executing, *self.opening])
        # A run being opened that was lost is left by :meth:`_still_ours`.
        for run_id in executing:
            if run_id not in held:
                log.warning("lost the lease of run %s; another process resumes it", run_id)
                await self._hand_over(run_id)

    async def report(self, run_id: int) -> RunReport:
        return await self.store.report(run_id)

    async def aclose(self) -> None:
        """Shut down: every run executing here is handed over (left running, its lease
        released) so that another process, or this one restarted, resumes it at once."""
        self.closing = True
        await asyncio.gather(*(self._hand_over(run_id) for run_id in list(self.tasks)))
        if self.telling:  # cancels still being shown: as long as a last progress flush
            _, late = await asyncio.wait(list(self.telling), timeout=HAND_OVER_FLUSH_S)
            for task in late:  # cut off, like the last flush of a hand-over
                task.cancel()
        # Runs stored here whose thread was still being opened are released too.
        await self.leases.release_all()
        try:  # the channel's rate limit must not hold the stop up: resumers republish
            await asyncio.wait_for(self.coalescer.aclose(), HAND_OVER_FLUSH_S)
        except TimeoutError:
            log.warning("stopping before every progress update reached Slack")

    async def _hand_over(self, run_id: int) -> None:
        """Stop the run here without ending it and release its lease. The last progress
        gets a short while to reach Slack (all runs share the channel's rate limit); the
        process that resumes the run republishes it anyway, so the lease never waits
        behind a slow Slack."""
        task, engine = self.tasks.get(run_id), self.engines.get(run_id)
        if task is None or engine is None:
            return
        engine.handing_over = True
        task.cancel()
        await asyncio.wait([task])
        publisher = self.publishers.pop(run_id, None)
        try:
            if publisher is not None:
                await asyncio.wait_for(publisher.close(), HAND_OVER_FLUSH_S)
        except TimeoutError:
            log.warning("run %s: last progress not shown before the hand-over", run_id)
            if publisher is not None:  # its messages are owed: the resumer sends them at once
                await publisher.abandon()
        finally:
            await self.leases.release(run_id)

    def _spawn(
        self,
        run_id: int,
        engine: Engine,
        publisher: ThreadPublisher,
        work: Coroutine[Any, Any, RunReport],
    ) -> None:
        self.engines[run_id] = engine
        self.publishers[run_id] = publisher
        self.tasks[run_id] = asyncio.create_task(self._guard(run_id, publisher, work))

    async def _guard(
        self, run_id: int, publisher: ThreadPublisher, work: Coroutine[Any, Any, RunReport]
    ) -> None:
        try:
            await work
            await publisher.close()
            self.publishers.pop(run_id, None)
            if self.gate is not None:
                await self.gate.refresh(run_id)  # the sign-off panel, or NO-GO at once
        except asyncio.CancelledError:
            pass  # cancel() shows it in the thread
        except LeaseLost:
            log.warning("run %s: lost its lease mid-run; the process that holds it goes on", run_id)
            await publisher.close()
        except Exception as exc:
            if is_database_fault(exc):
                await self._interrupted(run_id, publisher, exc)
                return
            log.exception("run %s broke", run_id)
            await _quietly(run_id, publisher.close())
            await _quietly(
                run_id,
                publisher.say(
                    f"broke:{publisher.generation}",
                    f"⚠️ Run #{run_id} stopped on an internal error: {type(exc).__name__}. "
                    "Its results so far are kept; see the bot's log.",
                ),
            )
        finally:
            self.tasks.pop(run_id, None)
            engine = self.engines.pop(run_id, None)
            if engine is not None and not engine.handing_over and run_id not in self.interrupted:
                await _quietly(run_id, self.leases.release(run_id))

    async def _interrupted(self, run_id: int, publisher: ThreadPublisher, exc: Exception) -> None:
        """A database error stopped the run: like a crash, not a verdict. It keeps its
        lease (another process takes it only if this one dies) and is resumed by
        :meth:`recover` once the database answers; what it showed so far stays shown."""
        self.interrupted[run_id] = self.interrupted.get(run_id, 0) + 1
        self.publishers.pop(run_id, None)
        log.warning(
            "run %s: interrupted by a database error (%s); resumed when the database answers",
            run_id,
            cause(exc),
        )
        try:
            await asyncio.wait_for(publisher.close(), HAND_OVER_FLUSH_S)
        except TimeoutError:
            log.warning("run %s: last progress not shown before the interruption", run_id)
            await _quietly(run_id, publisher.abandon())  # the resumer sends what is owed


async def _quietly(run_id: int, work: Coroutine[Any, Any, object]) -> None:
    """Clean-up after a run ended that must not raise out of its task (an unretrieved
    task exception): a database that is down is one log line."""
    try:
        await work
    except Exception as exc:
        if not is_database_fault(exc):
            raise
        log.warning("run %s: clean-up skipped, the database failed (%s)", run_id, cause(exc))
