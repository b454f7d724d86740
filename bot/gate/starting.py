"""Who may start a run: the config's ``started_by`` rules (pure, in the policy) applied
to the roles a person holds (which may ask Slack), and a refusal kept in the audit
trail. Every start path that knows the person calls this before storing the run."""

from __future__ import annotations

import asyncio

from bot.audit.chain import Action
from bot.config.schema import Config
from bot.gate.policy import may_start
from bot.gate.refusals import Refused, TooSlow
from bot.gate.roles import Directory
from bot.store.audit import Note
from bot.store.audit_log import AuditLog
from bot.store.runs import RunStore


async def roles_held(config: Config, directory: Directory | None, user: str) -> set[str]:
    """The roles ``user`` belongs to (the config's members only, without a directory)."""
    if directory is None:
        return {role for role, spec in config.roles.items() if user in spec.members}
    return set(await directory.roles_of(user))


async def authorise_start(
    config: Config,
    store: RunStore,
    directory: Directory | None,
    user: str,
    environment: str,
    plan: str,
    *,
    within: float = 2.0,
) -> None:
    """Raise :class:`Refused` unless ``user`` may start ``plan`` on ``environment``; a
    refusal is recorded (``run.refused``: who, what, why) before it is raised."""
    rules = config.start_rules(environment, plan)
    if not rules:
        return
    try:
        async with asyncio.timeout(within):
            mine = await roles_held(config, directory, user)
    except TimeoutError:
        raise TooSlow(f"Checking took longer than {within:g} s; try again in a moment.") from None
    if reason := may_start(rules, mine, config.role_labels):
        details = {"environment": environment, "plan": plan, "reason": reason}
        await AuditLog(store).record(Note(Action.RUN_REFUSED, user, None, details))
        raise Refused(reason)
