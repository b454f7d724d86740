"""The audit trail as the run page shows it, behind a small interface.

INTEGRATOR: the audit store comes from another branch (issue 16, point 1). Give
``create_app`` an ``AuditTrail`` that reads it (one ``TrailEvent`` per audit event of the
run, oldest first); until then :class:`NoAuditTrail` shows an empty trail, and the page
says that no events are recorded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class TrailEvent:
    at: datetime
    actor: str
    action: str
    """``run started``, ``sign-off``, ``waiver``, ``decision``..."""
    detail: str = ""
    digest: str = ""
    """The event's hash in the chain, shown shortened."""


class AuditTrail(Protocol):
    async def events(self, run_id: int) -> list[TrailEvent]: ...


class NoAuditTrail:
    """No audit store yet: every run's trail is empty (replaced at integration)."""

    async def events(self, run_id: int) -> list[TrailEvent]:
        return []
