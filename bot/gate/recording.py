"""What a gate action stores, re-decided on the rows read inside its locked transaction.

The read before an action (``Gate.check_*``) answers the person quickly, but two clicks
at the same moment both pass it. These plans run inside ``GateStore.act``, after the
run's lock is taken, and apply the same pure policy functions to fresh rows: one role
per person, the requester's own run, a decided run, a stale generation. Membership
(which may ask Slack) is resolved before and passed in."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import SQLModel

from bot.audit.chain import Action
from bot.config.schema import Policy
from bot.gate.policy import (
    AttestationFact,
    CheckFact,
    Outcome,
    SignOffFact,
    Vote,
    may_attest,
    may_sign,
    may_waive,
)
from bot.gate.reading import Loaded
from bot.gate.refusals import Refused
from bot.store.audit import Note
from bot.store.gate import Fresh
from bot.store.models import AttestationTick, DecisionRecord, SignOff, Waiver
from checks.base import Status
from checks.spec import AttestationSpec

FINAL = frozenset(status.value for status in Status)
STALE = "This button is from before a re-run; use the newest sign-off message in the run's thread."


def already(outcome: Outcome) -> str:
    return f"This run is already decided: {outcome.value.upper()}."


def still_open(fresh: Fresh, generation: int) -> None:
    """Refuse an action on a decided run (recorded, or rejected and not yet recorded) or
    from before a re-run."""
    if fresh.decided is not None:
        raise Refused(already(Outcome(fresh.decided.outcome)))
    if any(s.vote == Vote.REJECT.value for s in fresh.signoffs):
        raise Refused(already(Outcome.NO_GO))
    if fresh.run.generation != generation:
        raise Refused(STALE)


def signoff_facts(fresh: Fresh) -> tuple[SignOffFact, ...]:
    return tuple(SignOffFact(s.role, s.user, Vote(s.vote), s.reason) for s in fresh.signoffs)


@dataclass(frozen=True)
class SignPlan:
    """A signature by ``user`` for ``role``; ``members``: the role's members, resolved
    before the transaction."""

    user: str
    role: str
    vote: Vote
    reason: str
    generation: int
    members: frozenset[str]
    policy: Policy
    role_label: str

    def __call__(self, fresh: Fresh) -> tuple[SQLModel, Note] | None:
        still_open(fresh, self.generation)
        signoffs = signoff_facts(fresh)
        refusal = may_sign(
            self.user,
            self.role,
            members=set(self.members),
            requester=fresh.run.requester,
            requester_may_sign=self.policy.requester_may_sign,
            one_role_per_person=self.policy.one_role_per_person,
            signoffs=signoffs,
            role_label=self.role_label,
        )
        if refusal:
            raise Refused(refusal)
        earlier = next((s for s in signoffs if s.user == self.user and s.role == self.role), None)
        if earlier is not None:
            if earlier.vote is not self.vote:
                raise Refused(f"You already chose to {earlier.vote.value} for {self.role_label}.")
            return None  # a double click or a redelivery: one signature
        row = SignOff(
            run_id=fresh.run_id,
            generation=fresh.run.generation,
            role=self.role,
            user=self.user,
            vote=self.vote.value,
            reason=self.reason,
        )
        details = {"role": row.role, "vote": row.vote, "reason": row.reason,
                   "generation": row.generation}  # fmt: skip
        action = Action.REJECT if self.vote is Vote.REJECT else Action.SIGNOFF
        return row, Note(action, self.user, fresh.run_id, details)


def check_fact(fresh: Fresh, check_id: str) -> CheckFact:
    """The latest attempt of ``check_id`` as the policy sees it."""
    record = fresh.checks.get(check_id)
    if record is None:
        raise Refused(f"Run #{fresh.run_id} has no check {check_id}.")
    status = Status(record.status) if record.status in FINAL else None
    waived = any(w.check_id == check_id and w.attempt == record.attempt for w in fresh.waivers)
    return CheckFact(check_id, status, record.critical, waived)


@dataclass(frozen=True)
class WaivePlan:
    """A waiver of the latest attempt of ``check_id``; ``waivers``: the users the policy
    lets waive, resolved before the transaction."""

    user: str
    check_id: str
    justification: str
    generation: int
    waivers: frozenset[str]
    policy: Policy

    def __call__(self, fresh: Fresh) -> tuple[SQLModel, Note] | None:
        still_open(fresh, self.generation)
        fact = check_fact(fresh, self.check_id)
        attempt = fresh.checks[self.check_id].attempt
        mine = (w.user == self.user and w.attempt == attempt for w in fresh.waivers
                if w.check_id == self.check_id)  # fmt: skip
        if any(mine):
            return None  # a repeat of this person's own waiver
        refusal = may_waive(
            self.user,
            fact,
            waivers=set(self.waivers),
            requester=fresh.run.requester,
            requester_may_waive=self.policy.requester_may_waive,
        )
        if refusal:
            raise Refused(refusal)
        row = Waiver(
            run_id=fresh.run_id,
            check_id=self.check_id,
            attempt=attempt,
            user=self.user,
            justification=self.justification,
        )
        details = {"check": row.check_id, "attempt": attempt, "justification": row.justification}
        return row, Note(Action.WAIVER, self.user, fresh.run_id, details)


@dataclass(frozen=True)
class TickPlan:
    """A tick of the attestation ``item``; ``members``: its role's members."""

    user: str
    item: AttestationSpec
    note: str
    generation: int
    members: frozenset[str]
    policy: Policy
    role_label: str

    def __call__(self, fresh: Fresh) -> tuple[SQLModel, Note] | None:
        still_open(fresh, self.generation)
        tick = next((t for t in fresh.ticks if t.item_id == self.item.id), None)
        if tick is not None and tick.user == self.user:
            return None  # a repeat of this person's own tick
        fact = AttestationFact(
            self.item.id, self.item.role, self.item.blocking, tick.user if tick else None
        )
        refusal = may_attest(
            self.user,
            fact,
            members=set(self.members),
            requester=fresh.run.requester,
            requester_may_attest=self.policy.requester_may_attest,
            role_label=self.role_label,
        )
        if refusal:
            raise Refused(refusal)
        row = AttestationTick(
            run_id=fresh.run_id, item_id=self.item.id, user=self.user, note=self.note
        )
        details = {"item": row.item_id, "note": row.note}
        return row, Note(Action.ATTESTATION, self.user, fresh.run_id, details)


GateState = tuple[int, str, frozenset[tuple[str, str, str]], frozenset[str], frozenset[str]]
"""What a decision was computed from: generation, run status, sign-offs (role, user,
vote), waived checks, ticked items."""


class Changed(Exception):
    """The run's rows changed between computing a decision and recording it."""


def fresh_state(fresh: Fresh, items: frozenset[str]) -> GateState:
    checks = fresh.checks
    waived = {w.check_id for w in fresh.waivers
              if w.check_id in checks and w.attempt == checks[w.check_id].attempt}  # fmt: skip
    return (
        fresh.run.generation,
        str(fresh.run.status.value),
        frozenset((s.role, s.user, s.vote) for s in fresh.signoffs),
        frozenset(waived),
        frozenset(t.item_id for t in fresh.ticks) & items,
    )


@dataclass(frozen=True)
class DecisionPlan:
    """Record ``record`` once, unless the rows it was decided from changed meanwhile
    (then :class:`Changed`: decide again), so an action stored between the two is never
    left out of the decision."""

    record: DecisionRecord
    note: Note
    seen: GateState
    items: frozenset[str]

    def __call__(self, fresh: Fresh) -> tuple[SQLModel, Note] | None:
        if fresh.decided is not None:
            return None
        if fresh_state(fresh, self.items) != self.seen:
            raise Changed
        return self.record, self.note


@dataclass(frozen=True)
class SupersedePlan:
    """Record a superseding decision unless the run is decided already: whatever its
    sign-offs say, a newer release replaces it."""

    record: DecisionRecord
    note: Note

    def __call__(self, fresh: Fresh) -> tuple[SQLModel, Note] | None:
        return None if fresh.decided is not None else (self.record, self.note)


def decision_plan(loaded: Loaded) -> DecisionPlan:
    """Record ``loaded``'s final decision if the run's rows are still as read."""
    decision = loaded.gate.decision
    run_id = loaded.gate.run_id
    record = DecisionRecord(
        run_id=run_id, outcome=decision.outcome.value, reasons=list(decision.reasons)
    )
    details = {"outcome": record.outcome, "reasons": record.reasons}
    facts = loaded.facts
    seen: GateState = (
        loaded.run.generation,
        str(loaded.run.status.value),
        frozenset((s.role, s.user, s.vote.value) for s in facts.signoffs),
        frozenset(c.check_id for c in facts.checks if c.waived),
        frozenset(a.item_id for a in facts.attestations if a.ticked_by is not None),
    )
    items = frozenset(a.item_id for a in facts.attestations)
    return DecisionPlan(record, Note(Action.DECISION, "preprod", run_id, details), seen, items)
