"""Quarantined checks: a plan may excuse a known-flaky check until a date
(``quarantine: {until, owner, reason}`` on the check). Its failure blocks nothing up to
and including that UTC day and blocks again after it: one rule, ``in_force`` in
bot/engine/quarantine.py, for the policy (bot/gate/policy.py ``CheckFact.excused``), the
engine's fail-fast and each record's ``blocking``. This module reads the plan and says
which quarantines have run out, for ``preprod config validate``. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time

from bot.engine.quarantine import in_force
from checks.spec import PlanSpec, Quarantine


def quarantines_of(plan: PlanSpec | None) -> dict[str, Quarantine]:
    """The plan's quarantined checks by id (none for a plan the config no longer has)."""
    if plan is None:
        return {}
    return {c.id: c.quarantine for c in plan.checks if c.quarantine is not None}


def expired(plans: Mapping[str, PlanSpec], today: date) -> list[str]:
    """One line per quarantine whose date has passed: it blocks again, so the plan
    should drop it or move the date (a warning, not an error: a config that was valid
    yesterday must still start today)."""
    return [
        f"plans.{name}.checks.{spec.id}.quarantine.until: {spec.quarantine.until} has passed; "
        f"{spec.id} blocks again ({spec.quarantine.note()})"
        for name, plan in plans.items()
        for spec in plan.checks
        if spec.quarantine is not None and not in_force(spec.quarantine.until, start_of(today))
    ]


def start_of(day: date) -> datetime:
    """The first instant of a UTC day."""
    return datetime.combine(day, time(), UTC)
