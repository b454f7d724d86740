"""When a plan's quarantine excuses a check's failure, pure: the one rule the engine's
fail-fast, the recorded ``blocking`` (so ``preprod check``'s exit code and the reports),
the gate's policy (bot/gate/policy.py) and ``preprod config validate``
(bot/gate/quarantine.py) share, so that no two of them disagree on the last day."""

from __future__ import annotations

from datetime import UTC, date, datetime

from checks.spec import CheckSpec


def in_force(until: date | None, now: datetime) -> bool:
    """A quarantine up to ``until`` (a UTC day, inclusive) still excuses a failure at
    ``now``; after that day it blocks again."""
    return until is not None and now.astimezone(UTC).date() <= until


def excused(spec: CheckSpec, now: datetime) -> bool:
    """The check's failure blocks nothing at ``now``: its plan quarantines it."""
    return in_force(spec.quarantine.until if spec.quarantine else None, now)
