"""The audit trail as the run page shows it, behind a small interface: the stored hash
chain (:class:`StoredAuditTrail`, what the app uses), or none (:class:`NoAuditTrail`, for
pages rendered without a database of audit events)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.reports.html import audit_details
from bot.store.audit_log import AuditLog
from bot.store.runs import RunStore


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


class StoredAuditTrail:
    """A run's events from the audit chain (bot/store/audit.py), oldest first."""

    def __init__(self, store: RunStore) -> None:
        self.log = AuditLog(store)

    async def events(self, run_id: int) -> list[TrailEvent]:
        return [
            TrailEvent(
                at=entry.at,
                actor=entry.actor,
                action=entry.action,
                detail=audit_details(entry.details),
                digest=entry.hash[:12],
            )
            for entry in await self.log.events(run_id)
        ]


class NoAuditTrail:
    """Every run's trail is empty."""

    async def events(self, run_id: int) -> list[TrailEvent]:
        return []
