"""Showing what a crash left unshown: a run whose process died between storing its end
and posting its results and sign-off panel gets them posted once, through the outbox."""

from __future__ import annotations

from datetime import timedelta

from bot.gate.actions import Gate
from bot.settings import Settings
from bot.slack.client import SlackClient
from bot.slack.coalesce import Coalescer, MessageKey
from bot.slack.outbox import CLAIM_STALE
from bot.slack.publisher import ThreadPublisher
from bot.slack.state import RunState


async def republish(
    gate: Gate,
    slack: SlackClient,
    coalescer: Coalescer[MessageKey],
    settings: Settings,
    grace: float,
) -> list[int]:
    """Runs that finished more than ``grace`` seconds ago without their results and
    sign-off panel in the thread (their process died in between): post them now, once
    each through the outbox, and let the gate decide; not those a live process is still
    showing (a message of theirs claimed and not yet sent). The runs it finished."""
    store = gate.store
    shown = []
    now = gate.clock()  # the database's clock, as the outbox's claims are stamped
    finished_before = now - timedelta(seconds=grace)
    claimed_since = now - timedelta(seconds=CLAIM_STALE)  # a live claim: being shown
    for run in await gate.gates.unshown_runs(finished_before, claimed_since):
        assert run.id is not None
        thread = await store.get_thread(run.id)
        if thread is None:
            continue
        report = await store.report(run.id)
        state = RunState.from_report(report, settings.report_url(run.id))
        publisher = ThreadPublisher(
            slack, coalescer, store, state, thread.channel, generation=run.generation
        )
        await publisher.finish(report)
        await gate.refresh(run.id)
        shown.append(run.id)
    return shown
