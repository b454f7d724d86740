"""The go/no-go decision (``bot.gate.policy``): properties of ``decide`` over arbitrary facts,
and examples for the reason texts, ``may_sign`` and ``may_waive``."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.gate.policy import (
    AttestationFact,
    CheckFact,
    Decision,
    Facts,
    Outcome,
    RolePolicy,
    SignOffFact,
    Vote,
    decide,
    may_sign,
    may_waive,
)
from checks.base import Status

T = TypeVar("T")

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ROLES = ("sre", "security", "compliance")
USERS = ("u1", "u2", "u3", "u4", "u5")
PROBLEMS = (Status.FAILED, Status.ERROR, Status.INTERRUPTED)
"""What blocks when critical and needs a waiver when not (an interrupted check too)."""

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# --------------------------------------------------------------------------- strategies
# Built once at module level: hypothesis validates a strategy on first use, and building
# them inside the composites would pay that on every draw.


def rare(value: T, otherwise: T) -> st.SearchStrategy[T]:
    """``value`` one time in five, so that it does not swamp the other outcomes."""
    return st.sampled_from((value, otherwise, otherwise, otherwise, otherwise))


booleans = st.booleans()
statuses = st.one_of(st.none(), st.sampled_from(Status))
moments = st.integers(min_value=-180, max_value=180).map(lambda m: NOW + timedelta(minutes=m))
"""Instants within three hours of ``NOW``, either side."""
maybe_moments = st.one_of(st.none(), moments)
roles = st.sampled_from(ROLES)
users = st.sampled_from(USERS)
maybe_users = st.one_of(st.none(), users)
shuffled_users = st.permutations(USERS)
reasons = st.sampled_from(("", "smoke is red", "no DPIA"))
votes = rare(Vote.REJECT, Vote.APPROVE)
cancelled = rare(True, False)
minutes_before = st.integers(min_value=0, max_value=600).map(lambda m: timedelta(minutes=m))
counts = [st.integers(min_value=0, max_value=n) for n in range(9)]
min_approvals = st.integers(min_value=1, max_value=3)
fine = st.sampled_from((Status.PASSED, Status.WARNED))
waivable = st.sampled_from((*PROBLEMS, Status.SKIPPED))
nudges = st.integers(min_value=0, max_value=6)


@st.composite
def check_facts(draw: st.DrawFn) -> tuple[CheckFact, ...]:
    return tuple(
        CheckFact(f"c{i}", draw(statuses), draw(booleans), draw(booleans))
        for i in range(draw(counts[6]))
    )


@st.composite
def signoffs(draw: st.DrawFn, vote: Vote | None = None) -> SignOffFact:
    return SignOffFact(
        role=draw(roles),
        user=draw(users),
        vote=vote or draw(votes),
        reason=draw(reasons),
        at=draw(maybe_moments),
    )


any_signoff = signoffs()
approvals = signoffs(Vote.APPROVE)
rejections = signoffs(Vote.REJECT)


@st.composite
def attestation_facts(draw: st.DrawFn) -> tuple[AttestationFact, ...]:
    return tuple(
        AttestationFact(f"a{i}", draw(roles), blocking=draw(booleans), ticked_by=draw(maybe_users))
        for i in range(draw(counts[3]))
    )


@st.composite
def required_roles(draw: st.DrawFn) -> tuple[RolePolicy, ...]:
    """Distinct roles, each needing 1 to 3 approvals."""
    chosen = [r for r in ROLES if draw(booleans)]
    return tuple(RolePolicy(r, draw(min_approvals)) for r in chosen)


some_checks = check_facts()
some_attestations = attestation_facts()
some_required = required_roles()


@st.composite
def arbitrary_facts(draw: st.DrawFn) -> Facts:
    """Anything at all, including facts no real run would produce."""
    return Facts(
        checks=draw(some_checks),
        automated_done=draw(booleans),
        signoffs=tuple(draw(any_signoff) for _ in range(draw(counts[8]))),
        attestations=draw(some_attestations),
        required=draw(some_required),
        deadline=draw(maybe_moments),
        cancelled=draw(cancelled),
    )


@st.composite
def complete_facts(draw: st.DrawFn) -> Facts:
    """Facts meeting every GO condition (so GO is well represented), then, half the
    time, nudged by one arbitrary change."""
    checks = []
    for i in range(draw(counts[5])):
        critical = draw(booleans)
        status = draw(waivable) if not critical and draw(booleans) else draw(fine)
        # Non-critical failures are waived; any other check may carry a stray waiver.
        waived = status in PROBLEMS or (not critical and draw(booleans))
        checks.append(CheckFact(f"c{i}", status, critical, waived))
    deadline = draw(maybe_moments)
    latest = NOW if deadline is None else deadline
    approved = []
    for policy in (required := draw(some_required)):
        signers = draw(shuffled_users)[: policy.min_approvals + draw(counts[2])]
        approved += [
            SignOffFact(
                policy.role,
                user,
                Vote.APPROVE,
                at=None if draw(booleans) else latest - draw(minutes_before),
            )
            for user in signers
        ]
    attestations = tuple(
        replace(a, ticked_by=a.ticked_by or "u1") if a.blocking else a
        for a in draw(some_attestations)
    )
    facts = Facts(
        checks=tuple(checks),
        automated_done=True,
        signoffs=tuple(draw(st.permutations(approved))),
        attestations=attestations,
        required=required,
        deadline=deadline,
    )
    match draw(nudges):
        case 1:
            extra = CheckFact("x", draw(statuses), draw(booleans), draw(booleans))
            return replace(facts, checks=(*facts.checks, extra))
        case 2:
            return replace(facts, signoffs=(*facts.signoffs, draw(any_signoff)))
        case 3:
            return replace(facts, automated_done=False)
        case 4:
            return replace(facts, cancelled=True)
        case 5:
            return replace(facts, signoffs=facts.signoffs[1:])
        case 6:
            blocking = AttestationFact("y", "sre", ticked_by=draw(maybe_users))
            return replace(facts, attestations=(*facts.attestations, blocking))
        case _:
            return facts


any_facts = st.one_of(arbitrary_facts(), complete_facts())

# --------------------------------------------------------------------------- helpers


def _blocks(check: CheckFact) -> bool:
    """A critical check that failed, errored, did not finish or was skipped."""
    return check.critical and (check.status is None or check.status in (*PROBLEMS, Status.SKIPPED))


def _approvers(facts: Facts, role: str) -> set[str]:
    return {s.user for s in facts.signoffs if s.role == role and s.vote is Vote.APPROVE}


def _lacking(facts: Facts) -> set[str]:
    return {r.role for r in facts.required if len(_approvers(facts, r.role)) < r.min_approvals}


def _unwaived(facts: Facts) -> set[str]:
    return {
        c.check_id for c in facts.checks if not c.critical and c.status in PROBLEMS and not c.waived
    }


def _rejected(facts: Facts) -> bool:
    return any(s.vote is Vote.REJECT for s in facts.signoffs)


def _late_approval(facts: Facts) -> bool:
    return facts.deadline is not None and any(
        s.vote is Vote.APPROVE and s.at is not None and s.at > facts.deadline
        for s in facts.signoffs
    )


def _go_conditions(facts: Facts) -> bool:
    return (
        not facts.cancelled
        and not _rejected(facts)
        and facts.automated_done
        and not any(_blocks(c) for c in facts.checks)
        and not _unwaived(facts)
        and all(a.ticked_by is not None for a in facts.attestations if a.blocking)
        and not _lacking(facts)
        and not _late_approval(facts)
    )


def _normalised(decision: Decision) -> tuple[Outcome, Counter[str], Counter[str], Counter[str]]:
    """A decision with its lists as multisets: their order follows the input's."""
    return (
        decision.outcome,
        Counter(decision.reasons),
        Counter(decision.awaiting_roles),
        Counter(decision.unwaived),
    )


# --------------------------------------------------------------------------- properties


@SETTINGS
@given(any_facts)
def test_go_exactly_when_every_condition_holds(facts: Facts) -> None:
    """GO implies: automated phase done, no critical check blocking, every non-critical
    failure waived, every blocking attestation ticked, every required role with enough
    distinct approvers, no rejection, not cancelled, no approval after the deadline;
    and those conditions together give GO."""
    decision = decide(facts, NOW)
    event(f"outcome {decision.outcome}")
    assert (decision.outcome is Outcome.GO) == _go_conditions(facts)


@SETTINGS
@given(any_facts)
def test_a_rejection_is_no_go_unless_cancelled(facts: Facts) -> None:
    decision = decide(facts, NOW)
    if _rejected(facts):
        event("rejected")
        assert decision.outcome is (Outcome.CANCELLED if facts.cancelled else Outcome.NO_GO)


@SETTINGS
@given(any_facts)
def test_a_blocking_critical_check_is_never_go_once_automated_done(facts: Facts) -> None:
    decision = decide(facts, NOW)
    if facts.automated_done and any(_blocks(c) for c in facts.checks):
        event("blocked")
        assert decision.outcome is not Outcome.GO
        if not facts.cancelled:
            assert decision.outcome is Outcome.NO_GO


@SETTINGS
@given(any_facts, st.booleans())
def test_waiving_a_critical_check_does_not_unblock_it(facts: Facts, waived: bool) -> None:
    checks = tuple(replace(c, waived=waived) if c.critical else c for c in facts.checks)
    waived_facts = replace(facts, checks=checks)
    assert decide(waived_facts, NOW).outcome is decide(facts, NOW).outcome


@SETTINGS
@given(any_facts)
def test_never_go_before_the_automated_phase_is_over(facts: Facts) -> None:
    running = replace(facts, automated_done=False)
    decision = decide(running, NOW)
    assert decision.outcome is not Outcome.GO
    if decision.outcome is Outcome.PENDING:
        assert "the automated checks are still running" in decision.reasons


@SETTINGS
@given(any_facts)
def test_no_go_from_checks_only_once_automated_done(facts: Facts) -> None:
    """While checks are still running only a rejection makes a NO-GO."""
    decision = decide(replace(facts, automated_done=False), NOW)
    if decision.outcome is Outcome.NO_GO:
        event("no-go")
        assert _rejected(facts)


@SETTINGS
@given(any_facts, moments)
def test_expired_only_once_the_deadline_has_passed(facts: Facts, now: datetime) -> None:
    decision = decide(facts, now)
    if decision.outcome is Outcome.EXPIRED:
        event("expired")
        assert facts.deadline is not None
        assert now >= facts.deadline
        assert decision.reasons[0] == "the sign-off deadline passed"


@SETTINGS
@given(any_facts, moments)
def test_pending_only_while_there_is_time(facts: Facts, now: datetime) -> None:
    decision = decide(facts, now)
    if decision.outcome is Outcome.PENDING:
        assert facts.deadline is None or now < facts.deadline
    else:
        assert decision.outcome.final
        assert decision.awaiting_roles == ()
        assert decision.unwaived == ()


@SETTINGS
@given(any_facts)
def test_pending_lists_exactly_what_is_awaited(facts: Facts) -> None:
    decision = decide(facts, NOW)
    if decision.outcome is not Outcome.PENDING:
        return
    event("pending")
    assert set(decision.awaiting_roles) == _lacking(facts)
    assert len(decision.awaiting_roles) == len(set(decision.awaiting_roles))
    assert set(decision.unwaived) == _unwaived(facts)
    for role in decision.awaiting_roles:
        assert f"awaiting approval for {role}" in decision.reasons
    for check_id in decision.unwaived:
        assert f"non-critical failure of {check_id} not waived" in decision.reasons


@SETTINGS
@given(any_facts)
def test_pending_says_why_when_the_votes_are_in_the_past(facts: Facts) -> None:
    """A PENDING announcement with no reason would be useless. (Only an approval dated
    after both the deadline and ``now`` -- a vote from the future -- can produce one.)"""
    if any(s.at is not None and s.at > NOW for s in facts.signoffs):
        return
    decision = decide(facts, NOW)
    if decision.outcome is Outcome.PENDING:
        event("pending")
        assert decision.reasons


@SETTINGS
@given(any_facts, approvals)
def test_an_approval_never_turns_pending_into_no_go(facts: Facts, vote: SignOffFact) -> None:
    if decide(facts, NOW).outcome is not Outcome.PENDING:
        return
    event("pending")
    more = replace(facts, signoffs=(*facts.signoffs, vote))
    assert decide(more, NOW).outcome in (Outcome.PENDING, Outcome.GO)


@SETTINGS
@given(any_facts, rejections)
def test_a_rejection_always_gives_no_go(facts: Facts, vote: SignOffFact) -> None:
    more = replace(facts, signoffs=(*facts.signoffs, vote))
    decision = decide(more, NOW)
    if facts.cancelled:
        assert decision.outcome is Outcome.CANCELLED
    else:
        assert decision.outcome is Outcome.NO_GO
        assert f"rejected for {vote.role} by {vote.user}: {vote.reason}" in decision.reasons


@SETTINGS
@given(any_facts, st.data())
def test_duplicate_approvals_count_once(facts: Facts, data: st.DataObject) -> None:
    """The same user approving the same role again (double click, redelivery; with the
    same timestamp or none) changes nothing."""
    originals = [s for s in facts.signoffs if s.vote is Vote.APPROVE]
    if not originals:
        return
    event("has an approval")
    again = data.draw(st.sampled_from(originals))
    expected = _normalised(decide(facts, NOW))
    for duplicate in (again, replace(again, at=None)):
        more = replace(facts, signoffs=(*facts.signoffs, duplicate))
        assert _normalised(decide(more, NOW)) == expected


@SETTINGS
@given(st.sampled_from(ROLES), st.integers(min_value=2, max_value=3), st.sampled_from(USERS))
def test_one_user_many_times_is_one_approval(role: str, needed: int, user: str) -> None:
    facts = Facts(
        checks=(CheckFact("smoke", Status.PASSED, critical=True),),
        automated_done=True,
        signoffs=tuple(SignOffFact(role, user, Vote.APPROVE) for _ in range(needed)),
        required=(RolePolicy(role, needed),),
    )
    decision = decide(facts, NOW)
    assert decision.outcome is Outcome.PENDING
    assert decision.awaiting_roles == (role,)


@SETTINGS
@given(any_facts, st.data())
def test_deterministic_and_independent_of_order(facts: Facts, data: st.DataObject) -> None:
    first = decide(facts, NOW)
    assert decide(facts, NOW) == first
    shuffled = Facts(
        checks=tuple(data.draw(st.permutations(facts.checks))),
        automated_done=facts.automated_done,
        signoffs=tuple(data.draw(st.permutations(facts.signoffs))),
        attestations=tuple(data.draw(st.permutations(facts.attestations))),
        required=tuple(data.draw(st.permutations(facts.required))),
        deadline=facts.deadline,
        cancelled=facts.cancelled,
    )
    assert _normalised(decide(shuffled, NOW)) == _normalised(first)


# --------------------------------------------------------------------------- reason texts


def _facts(**overrides: object) -> Facts:
    """A run that is GO, with overrides."""
    base = Facts(
        checks=(
            CheckFact("smoke", Status.PASSED, critical=True),
            CheckFact("headers", Status.FAILED, critical=False, waived=True),
        ),
        automated_done=True,
        signoffs=(
            SignOffFact("sre", "u1", Vote.APPROVE, at=NOW - timedelta(minutes=5)),
            SignOffFact("security", "u2", Vote.APPROVE, at=NOW - timedelta(minutes=3)),
        ),
        attestations=(AttestationFact("oncall", "sre", ticked_by="u1"),),
        required=(RolePolicy("sre"), RolePolicy("security")),
        deadline=NOW + timedelta(hours=1),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def test_go_reason() -> None:
    assert decide(_facts(), NOW) == Decision(
        Outcome.GO, ("every check passed or was waived; every role approved",)
    )


def test_cancelled_wins_over_everything() -> None:
    facts = _facts(
        cancelled=True,
        signoffs=(SignOffFact("sre", "u1", Vote.REJECT, "nope"),),
        deadline=NOW - timedelta(hours=1),
    )
    assert decide(facts, NOW) == Decision(Outcome.CANCELLED, ("the run was cancelled",))


def test_rejection_reasons_name_role_user_and_reason() -> None:
    facts = _facts(
        signoffs=(
            SignOffFact("sre", "u1", Vote.APPROVE),
            SignOffFact("security", "u2", Vote.REJECT, "CSP missing"),
            SignOffFact("compliance", "u3", Vote.REJECT, "no DPIA"),
        )
    )
    assert decide(facts, NOW) == Decision(
        Outcome.NO_GO,
        ("rejected for security by u2: CSP missing", "rejected for compliance by u3: no DPIA"),
    )


def test_rejection_wins_over_a_blocking_check_and_the_deadline() -> None:
    facts = _facts(
        checks=(CheckFact("smoke", Status.FAILED, critical=True),),
        signoffs=(SignOffFact("sre", "u1", Vote.REJECT, "red"),),
        deadline=NOW,
    )
    assert decide(facts, NOW).reasons == ("rejected for sre by u1: red",)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (Status.FAILED, "critical check smoke failed"),
        (Status.ERROR, "critical check smoke error"),
        (None, "critical check smoke did not finish"),
        (Status.SKIPPED, "critical check smoke was not run"),
    ],
)
def test_blocking_check_reasons(status: Status | None, reason: str) -> None:
    facts = _facts(
        checks=(
            CheckFact("smoke", status, critical=True, waived=True),
            CheckFact("tls", Status.PASSED, critical=True),
        )
    )
    assert decide(facts, NOW) == Decision(Outcome.NO_GO, (reason,))


def test_critical_failure_waits_for_the_automated_phase() -> None:
    facts = _facts(checks=(CheckFact("smoke", Status.FAILED, critical=True),), automated_done=False)
    decision = decide(facts, NOW)
    assert decision.outcome is Outcome.PENDING
    assert decision.reasons == ("the automated checks are still running",)


def test_pending_reasons_in_order() -> None:
    facts = _facts(
        checks=(
            CheckFact("smoke", None, critical=True),
            CheckFact("headers", Status.FAILED, critical=False),
            CheckFact("latency", Status.ERROR, critical=False),
            CheckFact("perf", Status.WARNED, critical=False),
        ),
        automated_done=False,
        signoffs=(SignOffFact("sre", "u1", Vote.APPROVE),),
        attestations=(
            AttestationFact("oncall", "sre"),
            AttestationFact("dpia", "compliance", blocking=False),
        ),
        required=(RolePolicy("sre", 2), RolePolicy("security")),
    )
    assert decide(facts, NOW) == Decision(
        Outcome.PENDING,
        (
            "the automated checks are still running",
            "non-critical failure of headers not waived",
            "non-critical failure of latency not waived",
            "attestation oncall not ticked",
            "awaiting approval for sre",
            "awaiting approval for security",
        ),
        awaiting_roles=("sre", "security"),
        unwaived=("headers", "latency"),
    )


def test_expired_reasons_say_what_was_missing() -> None:
    facts = _facts(
        signoffs=(SignOffFact("sre", "u1", Vote.APPROVE),), deadline=NOW - timedelta(minutes=1)
    )
    assert decide(facts, NOW) == Decision(
        Outcome.EXPIRED, ("the sign-off deadline passed", "awaiting approval for security")
    )


def test_expired_at_the_deadline_itself() -> None:
    facts = _facts(signoffs=(), deadline=NOW)
    assert decide(facts, NOW).outcome is Outcome.EXPIRED


def test_an_approval_after_the_deadline_does_not_make_a_go() -> None:
    late = SignOffFact("security", "u2", Vote.APPROVE, at=NOW + timedelta(seconds=1))
    facts = _facts(
        signoffs=(SignOffFact("sre", "u1", Vote.APPROVE), late),
        deadline=NOW,
    )
    assert decide(facts, NOW + timedelta(seconds=2)) == Decision(
        Outcome.EXPIRED, ("the sign-off deadline passed",)
    )


def test_approvals_given_in_time_stay_go_after_the_deadline() -> None:
    """The decision was earned before the deadline; evaluating it later keeps GO."""
    facts = _facts(deadline=NOW - timedelta(minutes=1))
    assert decide(facts, NOW).outcome is Outcome.GO


def test_non_critical_skipped_or_unfinished_does_not_block() -> None:
    facts = _facts(
        checks=(
            CheckFact("perf", Status.SKIPPED, critical=False),
            CheckFact("extra", None, critical=False),
        )
    )
    assert decide(facts, NOW).outcome is Outcome.GO


def test_final_outcomes() -> None:
    assert [o for o in Outcome if not o.final] == [Outcome.PENDING]


# --------------------------------------------------------------------------- may_sign


def _may_sign(
    user: str,
    role: str = "sre",
    *,
    requester: str = "u9",
    requester_may_sign: bool = False,
    one_role_per_person: bool = True,
    signoffs: tuple[SignOffFact, ...] = (),
    role_label: str | None = None,
) -> str | None:
    return may_sign(
        user,
        role,
        members={"u1", "u2", "u9"},
        requester=requester,
        requester_may_sign=requester_may_sign,
        one_role_per_person=one_role_per_person,
        signoffs=signoffs,
        role_label=role_label,
    )


def test_member_may_sign() -> None:
    assert _may_sign("u1") is None


def test_outsider_refused_with_the_role_label() -> None:
    assert _may_sign("u5", role_label="Site Reliability") == (
        "Only members of Site Reliability can sign for Site Reliability."
    )
    assert _may_sign("u5") == "Only members of sre can sign for sre."


def test_outsider_refused_even_if_requester_may_sign() -> None:
    assert _may_sign("u5", requester="u5", requester_may_sign=True) is not None


def test_requester_refused_unless_the_policy_allows() -> None:
    assert _may_sign("u9") == "You requested this release, so someone else has to sign it off."
    assert _may_sign("u9", requester_may_sign=True) is None


def test_one_role_per_person() -> None:
    earlier = (SignOffFact("security", "u1", Vote.APPROVE),)
    assert _may_sign("u1", signoffs=earlier) == (
        "You already signed for security; one person signs for one role."
    )
    assert _may_sign("u1", signoffs=earlier, one_role_per_person=False) is None
    # Signing the same role again is not another role; someone else's vote is not theirs.
    assert _may_sign("u1", signoffs=(SignOffFact("sre", "u1", Vote.APPROVE),)) is None
    assert _may_sign("u2", signoffs=earlier) is None


def test_a_rejection_counts_as_having_signed_for_a_role() -> None:
    earlier = (SignOffFact("compliance", "u2", Vote.REJECT, "no DPIA"),)
    assert _may_sign("u2", signoffs=earlier) == (
        "You already signed for compliance; one person signs for one role."
    )


# --------------------------------------------------------------------------- may_waive

WAIVERS = {"u1", "u2"}


def test_member_may_waive_a_non_critical_failure() -> None:
    assert (
        may_waive("u1", CheckFact("headers", Status.FAILED, critical=False), waivers=WAIVERS)
        is None
    )
    assert (
        may_waive("u2", CheckFact("latency", Status.ERROR, critical=False), waivers=WAIVERS) is None
    )


def test_critical_check_cannot_be_waived() -> None:
    check = CheckFact("smoke", Status.FAILED, critical=True)
    assert may_waive("u1", check, waivers=WAIVERS) == (
        "smoke is critical: a critical failure cannot be waived."
    )


@pytest.mark.parametrize("status", [None, Status.PASSED, Status.WARNED, Status.SKIPPED])
def test_nothing_to_waive_unless_failed(status: Status | None) -> None:
    check = CheckFact("headers", status, critical=False)
    assert may_waive("u1", check, waivers=WAIVERS) == (
        "headers did not fail: there is nothing to waive."
    )


def test_already_waived_refused() -> None:
    check = CheckFact("headers", Status.FAILED, critical=False, waived=True)
    assert may_waive("u1", check, waivers=WAIVERS) == "headers is already waived."


def test_non_member_refused() -> None:
    check = CheckFact("headers", Status.FAILED, critical=False)
    assert may_waive("u5", check, waivers=WAIVERS) == (
        "Only members of the roles allowed to waive (policy.waivers_by) can waive."
    )
    assert may_waive("u5", check, waivers=set()) is not None
