"""The gate in the run's thread: a listener for gate events that keeps the sign-off panel
in step (posted once, then updated in place) and announces a decision in the channel and
the thread."""

from __future__ import annotations

from bot.gate.events import GateEvent, PanelChanged, RunDecided
from bot.gate.view import GateView
from bot.slack.client import SlackClient
from bot.slack.render_decision import announcement
from bot.slack.render_gate import gate_message
from bot.store.gate import GateStore
from bot.store.runs import RunStore


class GatePanel:
    def __init__(self, store: RunStore, slack: SlackClient) -> None:
        self.store = store
        self.gates = GateStore(store)
        self.slack = slack

    async def __call__(self, event: GateEvent) -> None:
        if isinstance(event, RunDecided):
            await self.announce(event.view)
        elif isinstance(event, PanelChanged):
            await self.show(event.view)

    async def show(self, view: GateView) -> None:
        thread = await self.store.get_thread(view.run_id)
        if thread is None:
            return
        text, blocks = gate_message(view)
        if thread.gate_ts is None:
            thread.gate_ts = await self.slack.post_message(
                thread.channel, text, blocks, thread_ts=thread.parent_ts
            )
            await self.store.save_thread(thread)
        else:
            await self.slack.update_message(thread.channel, thread.gate_ts, text, blocks)

    async def announce(self, view: GateView) -> None:
        thread = await self.store.get_thread(view.run_id)
        if thread is None:
            return
        text, blocks = announcement(view, view.cycle_seconds or 0.0)
        ts = await self.slack.post_message(thread.channel, text, blocks)
        await self.slack.post_message(thread.channel, text, blocks, thread_ts=thread.parent_ts)
        await self.gates.set_announcement(view.run_id, ts)
