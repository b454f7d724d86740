"""What the gate shows of a run: the sign-off panel as plain data, and the target a
button acts on. Adapters (Slack, the web pages, the digest) render these; the gate
never renders anything itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.gate.policy import Decision


@dataclass(frozen=True)
class Target:
    """What an action is about: a run, at a generation of its evidence, and a role, check
    or attestation item. The generation makes a button from before a re-run stale."""

    run_id: int
    generation: int
    subject: str

    def encode(self) -> str:
        return f"{self.run_id}:{self.generation}:{self.subject}"

    @classmethod
    def decode(cls, value: str) -> Target:
        run_id, generation, subject = value.split(":", 2)
        return cls(int(run_id), int(generation), subject)


@dataclass(frozen=True)
class RoleView:
    role: str
    label: str
    min_approvals: int
    approvals: tuple[tuple[str, datetime], ...]
    rejection: tuple[str, datetime, str] | None = None

    @property
    def takes_votes(self) -> bool:
        """A role is voted on until it has its approvals or a rejection: after that its
        buttons are gone, on the page and in Slack (a further vote could not change what
        the role says)."""
        return self.rejection is None and len(self.approvals) < self.min_approvals

    def tally(self) -> str:
        """``0 of 1``, ``1 of 2``; once the role has what it needs, ``1 of 1``, or ``2
        approvals, 1 needed`` when more people approved than needed (never ``2 of 1``)."""
        have, need = len(self.approvals), self.min_approvals
        if have > need:
            return f"{have} approvals, {need} needed"
        return f"{have} of {need}"


@dataclass(frozen=True)
class WaiverView:
    check_id: str
    user: str
    justification: str
    at: datetime


@dataclass(frozen=True)
class FailureView:
    """A failed or errored check."""

    check_id: str
    summary: str
    critical: bool
    quarantine: str = ""
    """The plan's quarantine of this check, as said everywhere (empty: none)."""


@dataclass(frozen=True)
class AttestationView:
    item_id: str
    text: str
    role: str
    role_label: str
    blocking: bool
    ticked_by: str | None = None
    note: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class GateView:
    """Everything the sign-off panel and the announcement show, gathered by the gate."""

    run_id: int
    generation: int
    service: str
    version: str
    environment: str
    requester: str
    report_url: str | None
    decision: Decision
    roles: tuple[RoleView, ...]
    failures: tuple[FailureView, ...]
    waivers: tuple[WaiverView, ...]
    attestations: tuple[AttestationView, ...]
    started_at: datetime
    decided_at: datetime | None = None
    origin: Mapping[str, str] | None = None
    """Where a pipeline's request came from (kind, url, triggered_by, name): user text."""
    commit: str | None = None

    def target(self, subject: str) -> str:
        return Target(self.run_id, self.generation, subject).encode()

    @property
    def waivable(self) -> tuple[FailureView, ...]:
        """Non-critical failures nobody has waived yet."""
        waived = {w.check_id for w in self.waivers}
        return tuple(f for f in self.failures if not f.critical and f.check_id not in waived)

    @property
    def cycle_seconds(self) -> float | None:
        """From the run's start to its decision: the cycle time the announcement shows."""
        if self.decided_at is None:
            return None
        return (self.decided_at - self.started_at).total_seconds()
