"""The gate in the run's thread: a listener for gate events that keeps the sign-off panel
in step (posted once, then updated in place) and announces a decision in the channel and
the thread. The announcement carries the audit trail's head at the decision (the
decision's own event), so every decision publishes a head outside the database."""

from __future__ import annotations

from bot.gate.events import GateEvent, PanelChanged, RunDecided
from bot.gate.rounds import read_round
from bot.gate.view import GateView
from bot.slack.client import SlackClient
from bot.slack.outbox import Outbox, kept_in
from bot.slack.render_decision import announcement
from bot.slack.render_gate import gate_message
from bot.slack.render_github import decided_again_note, job_name
from bot.store.audit_log import AuditLog
from bot.store.gate import GateStore
from bot.store.github import GitHubStore, decision_key
from bot.store.runs import RunStore


class GatePanel:
    def __init__(self, store: RunStore, slack: SlackClient) -> None:
        self.store = store
        self.gates = GateStore(store)
        self.slack = slack
        self.outbox = Outbox(store, slack)
        self.audit = AuditLog(store)

    async def __call__(self, event: GateEvent) -> None:
        if isinstance(event, RunDecided):
            await self.announce(event.view)
        elif isinstance(event, PanelChanged):
            await self.show(event.view)

    async def show(self, view: GateView) -> None:
        """The sign-off panel: posted once per run, then updated in place."""
        thread = await self.store.get_thread(view.run_id)
        if thread is None:
            return
        text, blocks = gate_message(view)
        posted = await self.outbox.post(
            f"run:{view.run_id}:panel",
            thread.channel,
            text,
            blocks,
            thread_ts=thread.parent_ts,
            run_id=view.run_id,
            keep=kept_in(self.store, thread, "gate_ts"),
        )
        if not posted.now:
            await self.slack.update_message(thread.channel, posted.ts, text, blocks)
        if thread.gate_ts != posted.ts and not posted.kept:
            thread.gate_ts = posted.ts
            await self.store.save_thread(thread)

    async def announce(self, view: GateView) -> None:
        """The decision, in the channel and in the thread, each once whoever repeats it;
        then the panel without buttons, and only then is the announcement marked done (the
        gate's sweep repeats all of it for a decision that is not marked)."""
        thread = await self.store.get_thread(view.run_id)
        if thread is None:
            return
        decided = await read_round(self.audit, view.run_id)
        head = decided.head
        text, blocks = announcement(view, view.cycle_seconds or 0.0, head)
        payload = {"audit_seq": head.seq, "audit_head": head.hash} if head else None
        key = decided.key(f"run:{view.run_id}:decision")  # each decision after a reopen too
        top = await self.outbox.post(
            key, thread.channel, text, blocks, run_id=view.run_id, payload=payload
        )
        await self.outbox.post(
            f"{key}:thread",
            thread.channel,
            text,
            blocks,
            thread_ts=thread.parent_ts,
            run_id=view.run_id,
            payload=payload,
        )
        if decided.round is not None:
            await self.github_note(view, decided.key(decision_key(view.run_id)), key)
        await self.show(view)
        await self.gates.set_announcement(view.run_id, top.ts)

    async def github_note(self, view: GateView, answer: str, key: str) -> None:
        """A decision after a reopen that no GitHub job can hear (GitHub keeps the one it
        took; bot/github/answers.py sends nothing): the thread says to re-run the job."""
        thread = await self.store.get_thread(view.run_id)
        closed = await GitHubStore(self.store).closed_to(view.run_id, answer)
        if thread is None or closed is None:
            return
        job, told = closed
        name = job_name(job.owner, job.repo, job.workflow_run, job.environment)
        text = decided_again_note(name, told.state, view.decision.outcome.value.upper())
        await self.outbox.post(
            f"{key}:github", thread.channel, text, thread_ts=thread.parent_ts, run_id=view.run_id
        )
