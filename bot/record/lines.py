"""What people did about a run, as its reports show it: who signed for each role,
rejections with reasons, waivers with justifications, attestation ticks, the decision,
the production outcome, and the run's audit trail. Plain data, filled in by the store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class Signature(BaseModel):
    role: str
    role_label: str
    user: str
    vote: str
    """``approve`` or ``reject``."""
    reason: str = ""
    at: datetime
    generation: int = 1
    counts: bool = True
    """False for a sign-off on evidence a re-run replaced (it no longer counts)."""


class WaiverLine(BaseModel):
    check_id: str
    attempt: int
    user: str
    justification: str
    at: datetime


class TickLine(BaseModel):
    item_id: str
    user: str
    note: str = ""
    at: datetime


class GateRecord(BaseModel):
    signatures: list[Signature] = []
    waivers: list[WaiverLine] = []
    ticks: list[TickLine] = []
    decision: str | None = None
    """``go``, ``no-go``, ``expired`` or ``cancelled``; None while undecided."""
    decision_reasons: list[str] = []
    decided_at: datetime | None = None
    outcome: str | None = None
    """What happened in production: ``success`` or ``rolled-back``."""
    outcome_by: str | None = None
    outcome_at: datetime | None = None
    trail_disagrees: str = ""
    """``the audit trail disagrees: it records NO-GO (decision); ...`` when the tables
    above no longer say what the audit trail recorded; empty when they agree."""
    trail_differences: list[str] = []
    """Each difference between the tables and the trail, one line each."""

    @property
    def rejections(self) -> list[Signature]:
        return [s for s in self.signatures if s.vote == "reject"]


class AuditLine(BaseModel):
    """One audit event of the run, as stored (see bot/audit/chain.py)."""

    seq: int
    at: datetime
    actor: str
    action: str
    details: dict[str, Any] = {}
    prev_hash: str
    hash: str
