"""The App Home tab: the runs awaiting the user's sign-off, and the active runs."""

from __future__ import annotations

from bot.gate.actions import Gate
from bot.gate.policy import Outcome, may_sign
from bot.gate.view import GateView
from bot.slack.client import SlackClient
from bot.slack.render_home import home_view
from bot.slack.runs import RunManager


async def publish_home(user: str, gate: Gate, manager: RunManager, slack: SlackClient) -> None:
    pending: list[GateView] = []
    signable: dict[int, list[str]] = {}
    policy = gate.config.policy
    for run in await gate.gates.undecided_runs():
        if run.id is None:
            continue
        loaded = await gate.load(run.id)
        if loaded.gate.decision.outcome is not Outcome.PENDING:
            continue
        roles = [
            gate.directory.label(role)
            for role in loaded.gate.decision.awaiting_roles
            if may_sign(
                user, role,
                members=await gate.directory.members(role),
                requester=run.requester,
                requester_may_sign=policy.requester_may_sign,
                one_role_per_person=policy.one_role_per_person,
                signoffs=loaded.facts.signoffs,
            ) is None
        ]  # fmt: skip
        if roles:
            pending.append(loaded.gate)
            signable[run.id] = roles
    active = [publisher.state for publisher in manager.publishers.values()]
    view = home_view(user, pending, active, signable=signable)
    await slack.publish_home(user, view)
