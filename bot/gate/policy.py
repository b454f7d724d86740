"""The go/no-go decision: a pure function of the run's facts, the policy and the clock.

Nothing here reads the database or Slack: callers gather the facts, this decides."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from bot.engine.quarantine import in_force
from checks.base import Status


class Outcome(StrEnum):
    PENDING = "pending"
    GO = "go"
    NO_GO = "no-go"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"
    """A newer version was requested for the same service and environment (an
    environment with ``supersede: true``); recorded by ``Gate.supersede``, never by
    :func:`decide`."""

    @property
    def final(self) -> bool:
        return self is not Outcome.PENDING


class Vote(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True)
class CheckFact:
    """The latest result of one check of the plan (``None`` status: not finished yet)."""

    check_id: str
    status: Status | None
    critical: bool
    waived: bool = False
    quarantined_until: date | None = None
    """The plan quarantines this check up to this (UTC) day, inclusive."""
    summary: str = ""
    """Why, for a skipped check ("stage smoke failed: health")."""

    def excused(self, now: datetime) -> bool:
        """A failure the plan's quarantine still covers at ``now``: it blocks nothing."""
        return in_force(self.quarantined_until, now)


@dataclass(frozen=True)
class SignOffFact:
    role: str
    user: str
    vote: Vote
    reason: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class AttestationFact:
    """A readiness item no machine can check, owned by a role."""

    item_id: str
    role: str
    blocking: bool = True
    ticked_by: str | None = None


@dataclass(frozen=True)
class RolePolicy:
    role: str
    min_approvals: int = 1


@dataclass(frozen=True)
class Facts:
    checks: tuple[CheckFact, ...]
    automated_done: bool
    signoffs: tuple[SignOffFact, ...] = ()
    attestations: tuple[AttestationFact, ...] = ()
    required: tuple[RolePolicy, ...] = ()
    deadline: datetime | None = None
    cancelled: bool = False


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reasons: tuple[str, ...] = ()
    """Why this outcome (NO-GO: what blocked; PENDING: what is awaited)."""
    awaiting_roles: tuple[str, ...] = ()
    """Roles whose approval is still needed (PENDING only)."""
    unwaived: tuple[str, ...] = field(default=())
    """Failed non-critical checks nobody has waived yet."""


def decide(facts: Facts, now: datetime) -> Decision:
    """GO, NO-GO, EXPIRED, CANCELLED or PENDING, with the reasons.

    - NO-GO as soon as anyone rejects; or, once the automated phase is over, when a
      critical check failed, errored, or did not run (critical checks cannot be waived).
    - GO when the automated phase is over, every non-critical failure is waived, every
      blocking attestation is ticked and every required role has enough approvals, all
      before the deadline.
    - EXPIRED when the deadline passes first.
    """
    if facts.cancelled:
        return Decision(Outcome.CANCELLED, ("the run was cancelled",))
    rejections = [s for s in facts.signoffs if s.vote is Vote.REJECT]
    if rejections:
        reasons = tuple(f"rejected for {s.role} by {s.user}: {s.reason}" for s in rejections)
        return Decision(Outcome.NO_GO, reasons)
    if facts.automated_done and (blocking := _blocking(facts.checks, now)):
        return Decision(Outcome.NO_GO, tuple(blocking))

    problems = [c for c in facts.checks if c.status is not None and c.status.is_problem]
    unwaived = tuple(
        c.check_id for c in problems if not c.critical and not c.waived and not c.excused(now)
    )
    excused = [
        f"{c.check_id} failed but is quarantined until {c.quarantined_until}"
        for c in problems
        if not c.waived and c.excused(now)
    ]
    awaiting = tuple(
        r.role for r in facts.required if len(_approvers(facts, r.role)) < r.min_approvals
    )
    open_items = tuple(a.item_id for a in facts.attestations if a.blocking and a.ticked_by is None)
    missing = [
        *(["the automated checks are still running"] if not facts.automated_done else []),
        *(f"non-critical failure of {c} not waived" for c in unwaived),
        *(f"attestation {i} not ticked" for i in open_items),
        *(f"awaiting approval for {r}" for r in awaiting),
    ]
    complete = not missing
    if complete and not _late(facts):
        passed = (
            "every check passed, was waived or is quarantined"
            if excused
            else ("every check passed or was waived")
        )
        return Decision(Outcome.GO, (f"{passed}; every role approved", *excused))
    if facts.deadline is not None and now >= facts.deadline:
        return Decision(Outcome.EXPIRED, ("the sign-off deadline passed", *missing))
    return Decision(Outcome.PENDING, tuple(missing), awaiting, unwaived)


def _blocking(checks: tuple[CheckFact, ...], now: datetime) -> list[str]:
    """The critical checks that stop the release; a failure under a quarantine still in
    force does not, one whose quarantine has ended does again (and says so)."""
    reasons = []
    for check in checks:
        if not check.critical or check.excused(now):
            continue
        if check.status is None:
            reasons.append(f"critical check {check.check_id} did not finish")
        elif check.status is Status.SKIPPED:
            why = f" ({check.summary})" if check.summary else ""
            reasons.append(f"critical check {check.check_id} was not run{why}")
        elif check.status.is_problem:
            ended = check.quarantined_until
            tail = f" (its quarantine ended {ended})" if ended is not None else ""
            reasons.append(f"critical check {check.check_id} {check.status.value}{tail}")
    return reasons


def _approvers(facts: Facts, role: str) -> set[str]:
    return {s.user for s in facts.signoffs if s.role == role and s.vote is Vote.APPROVE}


def _late(facts: Facts) -> bool:
    """An approval given after the deadline does not make a GO."""
    if facts.deadline is None:
        return False
    return any(s.at is not None and s.at > facts.deadline for s in facts.signoffs)


def may_sign(
    user: str,
    role: str,
    *,
    members: set[str],
    requester: str,
    requester_may_sign: bool,
    one_role_per_person: bool,
    signoffs: tuple[SignOffFact, ...],
    role_label: str | None = None,
) -> str | None:
    """Why ``user`` may not sign for ``role`` (None: they may)."""
    label = role_label or role
    if user not in members:
        return f"Only members of {label} can sign for {label}."
    if user == requester and not requester_may_sign:
        return "You requested this release, so someone else has to sign it off."
    if one_role_per_person:
        other = next((s.role for s in signoffs if s.user == user and s.role != role), None)
        if other is not None:
            return f"You already signed for {other}; one person signs for one role."
    return None


def may_waive(
    user: str,
    check: CheckFact,
    *,
    waivers: set[str],
    requester: str = "",
    requester_may_waive: bool = False,
) -> str | None:
    """Why ``user`` may not waive ``check`` (None: they may). ``waivers``: the users of
    the roles the policy lets waive. A waiver excuses the requester's failure, so by
    default someone other than the requester gives it (four eyes)."""
    if user == requester and not requester_may_waive:
        return "You requested this release, so someone else has to waive its failures."
    if check.critical:
        return f"{check.check_id} is critical: a critical failure cannot be waived."
    if check.status is None or not check.status.is_problem:
        return f"{check.check_id} did not fail: there is nothing to waive."
    if check.waived:
        return f"{check.check_id} is already waived."
    if user not in waivers:
        return "Only members of the roles allowed to waive (policy.waivers_by) can waive."
    return None


def may_attest(
    user: str,
    item: AttestationFact,
    *,
    members: set[str],
    requester: str,
    requester_may_attest: bool,
    role_label: str | None = None,
) -> str | None:
    """Why ``user`` may not tick ``item`` (None: they may). A blocking item holds up the
    GO, so by default the requester may not tick it on their own run."""
    label = role_label or item.role
    if item.ticked_by is not None:
        return "This item was already ticked; the panel says by whom."
    if user not in members:
        return f"Only members of {label} can tick this item."
    if item.blocking and user == requester and not requester_may_attest:
        return "You requested this release, so someone else has to tick this item."
    return None


def may_start(
    rules: list[tuple[str, list[str]]], mine: set[str], labels: dict[str, str] | None = None
) -> str | None:
    """Why a person in the roles ``mine`` may not start a run (None: they may). ``rules``:
    what each guards and the roles it lets start (every rule must be met); ``labels``:
    role names as people read them."""
    for what, allowed in rules:
        if not mine & set(allowed):
            named = ", ".join((labels or {}).get(role, role) for role in allowed) or "nobody"
            return f"Only members of {named} can start runs of the {what}."
    return None
