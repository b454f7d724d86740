"""Each run's decision in one word or a few, for lists (the dashboard, ``/preprod list``,
``preprod runs``): GO, NO-GO, EXPIRED, CANCELLED, or whom an undecided run awaits.

The words are a pure function of what the gate recorded; :func:`decision_labels` reads
those records for a page of runs in three queries, whatever its length."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from bot.config.schema import Config
from bot.gate.policy import RolePolicy
from bot.store.listing import GateRows, ListedRun, gate_rows
from bot.store.models import Run, RunStatus
from bot.store.runs import RunStore
from checks.base import Status

OUTCOME_WORDS = {
    "go": "GO",
    "no-go": "NO-GO",
    "expired": "EXPIRED",
    "cancelled": "CANCELLED",
    "superseded": "SUPERSEDED",
}


def awaited_roles(
    required: Sequence[RolePolicy],
    approvals: Collection[tuple[str, str]],
    unticked_owners: Sequence[str] = (),
) -> list[str]:
    """Roles still owing something, in the policy's order: an approval (fewer distinct
    approvers than the role's minimum), then owners of unticked blocking attestations."""
    waiting = [
        rule.role
        for rule in required
        if len({user for role, user in approvals if role == rule.role}) < rule.min_approvals
    ]
    return waiting + [role for role in dict.fromkeys(unticked_owners) if role not in waiting]


def decision_label(
    status: str, outcome: str | None, awaited: Sequence[str], critical: Collection[str] = ()
) -> str:
    """``GO``, ``NO-GO``, ``EXPIRED``, ``CANCELLED``, ``awaiting SRE, Security``...
    ``critical`` holds the statuses its critical checks ended with: once the checks are
    done, one that failed, errored or did not run is a NO-GO, as the gate decides it
    (a run from a terminal has no gate to record it, but awaits nobody)."""
    if outcome in OUTCOME_WORDS:
        return OUTCOME_WORDS[outcome]
    if status == RunStatus.CANCELLED.value:
        return "CANCELLED"
    if status == RunStatus.RUNNING.value:
        return "checks running"
    if status == RunStatus.FAILED.value:
        return "no decision (the run broke)"
    if any(_failed(found) for found in critical):
        return "NO-GO (a critical check failed)"
    if Status.SKIPPED.value in critical:
        return "NO-GO (a critical check did not run)"
    if awaited:
        return f"awaiting {', '.join(awaited)}"
    return "awaiting the decision"


def _failed(status: str) -> bool:
    try:
        return Status(status).is_problem
    except ValueError:  # pending or running: the run would not be finished
        return False


def required_policies(config: Config) -> list[RolePolicy]:
    return [
        RolePolicy(role, found.min_approvals if (found := config.roles.get(role)) else 1)
        for role in config.required_roles
    ]


def _configured_label(config: Config | None, role: str) -> str:
    found = config.roles.get(role) if config is not None else None
    return (found.label if found else None) or role


async def decision_labels(
    config: Config | None,
    store: RunStore,
    runs: list[Run],
    label: Callable[[str], str] | None = None,
) -> dict[int, str]:
    """Each run's label. Without a config (the CLI where none loads) an undecided run
    awaits "sign-offs" rather than named roles."""
    return labels_from_rows(config, runs, await gate_rows(store, runs), label)


def labels_from_rows(
    config: Config | None,
    runs: Sequence[Run | ListedRun],
    rows: GateRows,
    label: Callable[[str], str] | None = None,
) -> dict[int, str]:
    """Each run's label from its gate rows, read already (pure)."""
    name = label or (lambda role: _configured_label(config, role))
    policies = required_policies(config) if config is not None else []
    labels: dict[int, str] = {}
    for run in runs:
        if run.id is None:
            continue
        awaited: list[str] = ["sign-offs"]
        if config is not None:
            ticks = rows.ticks.get(run.id, set())
            items = config.plans[run.plan].attestations if run.plan in config.plans else []
            owners = [i.role for i in items if i.blocking and i.id not in ticks]
            roles = awaited_roles(policies, rows.approvals.get(run.id, set()), owners)
            awaited = [name(role) for role in roles]
        labels[run.id] = decision_label(
            run.status.value, rows.decisions.get(run.id), awaited, rows.critical.get(run.id, ())
        )
    return labels
