"""Reading the runs that await sign-off, as the gate sees them: a database read, and the
directory for role members. Nothing here sends anything."""

from __future__ import annotations

import logging

from bot.gate.actions import Gate
from bot.gate.policy import Outcome, Vote, may_sign
from bot.gate.reading import Loaded
from bot.gate.roles import DirectoryUnavailable
from bot.schedule.due import Awaited, PendingRun
from bot.store.models import Run, as_utc

log = logging.getLogger(__name__)
SLACK_SOURCE = "slack"
"""Runs started from a terminal have no thread and nobody to remind in Slack."""


async def pending_runs(gate: Gate) -> list[PendingRun]:
    """Every run started from Slack whose checks are done, undecided, still missing a role."""
    return await pending_of(gate, await slack_runs(gate))


async def slack_runs(gate: Gate) -> list[Run]:
    """The undecided runs started from Slack, as rows (one query): what a job looks at
    before it loads any of them whole."""
    runs = await gate.gates.undecided_runs()
    return [run for run in runs if run.id is not None and run.source == SLACK_SOURCE]


async def pending_of(gate: Gate, runs: list[Run]) -> list[PendingRun]:
    """Those of ``runs`` whose checks are done and that still miss a role, each loaded
    whole (its sign-offs, and who may still sign)."""
    found = []
    for run in runs:
        assert run.id is not None
        loaded = await gate.load(run.id)
        decision = loaded.gate.decision
        if decision.outcome is not Outcome.PENDING or not decision.awaiting_roles:
            continue
        awaited = [await _awaited(gate, loaded, role) for role in decision.awaiting_roles]
        found.append(
            PendingRun(
                run_id=run.id,
                generation=run.generation,
                service=run.service,
                version=run.version,
                environment=run.environment,
                requester=run.requester,
                started_at=as_utc(run.created_at),
                finished_at=as_utc(run.finished_at or run.created_at),
                deadline=gate.deadline(run),
                awaited=tuple(awaited),
                report_url=loaded.gate.report_url,
            )
        )
    return found


async def _awaited(gate: Gate, loaded: Loaded, role: str) -> Awaited:
    """``role`` and the people who may still sign it (those who approved it already, the
    requester and people who signed another role are left out, as the buttons would
    refuse them). A usergroup that cannot be read leaves its listed members only."""
    found = gate.config.roles.get(role)
    try:
        members = await gate.directory.members(role)
    except DirectoryUnavailable as exc:
        log.warning("reminding %s without its usergroup members: %s", role, exc)
        members = set(found.members) if found else set()
    signoffs = loaded.facts.signoffs
    approved = {s.user for s in signoffs if s.role == role and s.vote is Vote.APPROVE}
    policy = gate.config.policy
    people = sorted(
        user
        for user in members - approved
        if may_sign(
            user,
            role,
            members=members,
            requester=loaded.run.requester,
            requester_may_sign=policy.requester_may_sign,
            one_role_per_person=policy.one_role_per_person,
            signoffs=signoffs,
        )
        is None
    )
    return Awaited(
        role, gate.directory.label(role), tuple(people), found.usergroup if found else None
    )
