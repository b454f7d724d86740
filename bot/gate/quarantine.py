"""Quarantined checks: a plan may excuse a known-flaky check until a date
(``quarantine: {until, owner, reason}`` on the check). The policy
(bot/gate/policy.py ``CheckFact.excused``) lets its failure block nothing up to and
including that UTC day and blocks again after it; this module reads the plan and says
which quarantines have run out, for ``preprod config validate``. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

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
        if spec.quarantine is not None and spec.quarantine.until < today
    ]
