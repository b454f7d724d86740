"""What the gate decides inside an action's locked transaction, as pure functions of the
fresh rows (bot/gate/recording.py), and the four-eyes rules of the policy."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.audit.chain import Action
from bot.config.schema import Policy
from bot.gate.policy import AttestationFact, CheckFact, Vote, may_attest, may_waive
from bot.gate.recording import (
    Changed,
    DecisionPlan,
    SignPlan,
    TickPlan,
    WaivePlan,
    fresh_state,
)
from bot.gate.refusals import Refused
from bot.store.attempts import LatestAttempt
from bot.store.audit import Note
from bot.store.gate import Fresh
from bot.store.models import (
    AttestationTick,
    DecisionRecord,
    Run,
    RunStatus,
    SignOff,
    Waiver,
)
from checks.base import Status
from checks.spec import AttestationSpec

RITA, SUE, SAM = "U0RM", "U0SUE", "U0SAM"
POLICY = Policy(required_signoffs=["sre", "security"])
ONCALL = AttestationSpec(id="oncall", text="On-call staffed", role="sre")


def fresh(
    signoffs: tuple[tuple[str, str, str], ...] = (),
    waivers: tuple[tuple[str, int, str], ...] = (),
    ticks: tuple[tuple[str, str], ...] = (),
    decided: str | None = None,
    generation: int = 1,
) -> Fresh:
    run = Run(id=7, service="svc", version="1", environment="staging", plan="p",
              base_url="http://x", requester=RITA, status=RunStatus.FINISHED,
              generation=generation)  # fmt: skip
    checks = {
        "smoke": LatestAttempt("smoke", "passed", critical=True, attempt=1, summary=""),
        "headers": LatestAttempt("headers", "failed", critical=False, attempt=2, summary=""),
    }
    return Fresh(
        run_id=7,
        run=run,
        signoffs=[
            SignOff(run_id=7, generation=generation, role=r, user=u, vote=v) for r, u, v in signoffs
        ],
        waivers=[
            Waiver(run_id=7, check_id=c, attempt=a, user=u, justification="x" * 12)
            for c, a, u in waivers
        ],
        ticks=[AttestationTick(run_id=7, item_id=i, user=u) for i, u in ticks],
        checks=checks,
        decided=DecisionRecord(run_id=7, outcome=decided) if decided else None,
    )


def sign(user: str, role: str, vote: Vote = Vote.APPROVE, generation: int = 1) -> SignPlan:
    members = frozenset({SUE, SAM, RITA})
    return SignPlan(user, role, vote, "", generation, members, POLICY, role.upper())


def test_a_second_role_by_the_same_person_is_refused_on_the_fresh_rows() -> None:
    planned = sign(SUE, "security")(fresh())
    assert planned is not None
    row, note = planned
    assert isinstance(row, SignOff) and (row.role, row.user, row.vote) == (
        "security",
        SUE,
        "approve",
    )
    assert note.action == Action.SIGNOFF and note.run_id == 7
    with pytest.raises(Refused, match="You already signed for sre; one person signs for one role"):
        sign(SUE, "security")(fresh(signoffs=(("sre", SUE, "approve"),)))


def test_a_repeat_is_nothing_to_do_and_a_changed_vote_is_refused() -> None:
    stored = fresh(signoffs=(("sre", SUE, "approve"),))
    assert sign(SUE, "sre")(stored) is None
    with pytest.raises(Refused, match="You already chose to approve for SRE"):
        sign(SUE, "sre", Vote.REJECT)(stored)


def test_decided_rejected_or_rerun_runs_take_no_action() -> None:
    with pytest.raises(Refused, match="already decided: GO"):
        sign(SUE, "sre")(fresh(decided="go"))
    with pytest.raises(Refused, match="already decided: NO-GO"):
        sign(SAM, "sre")(fresh(signoffs=(("security", SUE, "reject"),)))
    with pytest.raises(Refused, match="from before a re-run"):
        sign(SUE, "sre")(fresh(generation=2))


def test_the_requester_is_refused_inside_the_transaction_too() -> None:
    with pytest.raises(Refused, match="someone else has to sign it off"):
        sign(RITA, "sre")(fresh())
    waive = WaivePlan(RITA, "headers", "x" * 12, 1, frozenset({RITA, SAM}), POLICY)
    with pytest.raises(Refused, match="someone else has to waive"):
        waive(fresh())
    tick = TickPlan(RITA, ONCALL, "", 1, frozenset({RITA, SAM}), POLICY, "SRE")
    with pytest.raises(Refused, match="someone else has to tick"):
        tick(fresh())


def test_a_waiver_covers_the_latest_attempt_once() -> None:
    waive = WaivePlan(SAM, "headers", "x" * 12, 1, frozenset({SAM, SUE}), POLICY)
    planned = waive(fresh())
    assert planned is not None and isinstance(planned[0], Waiver) and planned[0].attempt == 2
    assert waive(fresh(waivers=(("headers", 2, SAM),))) is None  # a repeat of one's own
    with pytest.raises(Refused, match="already waived"):
        WaivePlan(SUE, "headers", "x" * 12, 1, frozenset({SUE}), POLICY)(
            fresh(waivers=(("headers", 2, SAM),))
        )
    assert waive(fresh(waivers=(("headers", 1, SAM),))) is not None  # an older attempt's
    with pytest.raises(Refused, match="smoke is critical"):
        WaivePlan(SAM, "smoke", "x" * 12, 1, frozenset({SAM}), POLICY)(fresh())


def test_a_tick_by_someone_else_first_is_refused() -> None:
    tick = TickPlan(SAM, ONCALL, "PD-1", 1, frozenset({SAM, SUE}), POLICY, "SRE")
    assert tick(fresh(ticks=(("oncall", SAM),))) is None
    with pytest.raises(Refused, match="already ticked"):
        tick(fresh(ticks=(("oncall", SUE),)))


def test_a_decision_is_not_recorded_over_rows_that_changed() -> None:
    """A rejection stored between computing GO and recording it: decide again."""
    items = frozenset({"oncall"})
    approved = fresh(signoffs=(("sre", SAM, "approve"), ("security", SUE, "approve")))
    record = DecisionRecord(run_id=7, outcome="go")
    plan = DecisionPlan(
        record, Note(Action.DECISION, "preprod", 7), fresh_state(approved, items), items
    )
    assert plan(approved) == (record, plan.note)
    changed = fresh(signoffs=(("sre", SAM, "approve"), ("security", SUE, "approve"),
                              ("security", SID, "reject")))  # fmt: skip
    with pytest.raises(Changed):
        plan(changed)
    assert plan(fresh(decided="go")) is None


SID = "U0SID"


def test_four_eyes_in_the_policy() -> None:
    failed = CheckFact("headers", Status.FAILED, critical=False)
    assert may_waive(RITA, failed, waivers={RITA}, requester=RITA) == (
        "You requested this release, so someone else has to waive its failures."
    )
    assert may_waive(RITA, failed, waivers={RITA}, requester=RITA, requester_may_waive=True) is None
    item = AttestationFact("oncall", "sre")
    assert may_attest(
        RITA, item, requester_may_attest=False, members={RITA}, requester=RITA, role_label="SRE"
    ) == ("You requested this release, so someone else has to tick this item.")
    assert (
        may_attest(
            RITA, item, requester_may_attest=True, members={RITA}, requester=RITA, role_label="SRE"
        )
        is None
    )
    loose = AttestationFact("notes", "sre", blocking=False)
    assert (
        may_attest(
            RITA,
            loose,
            requester_may_attest=False,
            members={RITA},
            requester=RITA,
            role_label="SRE",
        )
        is None
    )
    assert may_attest(
        SUE, item, requester_may_attest=False, members={RITA}, requester=RITA, role_label="SRE"
    ) == ("Only members of SRE can tick this item.")


PEOPLE = (RITA, SUE, SAM, SID)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(PEOPLE), st.sampled_from(("sre", "security")),
                          st.sampled_from(tuple(Vote))), max_size=12))  # fmt: skip
def test_actions_decided_one_after_the_other_never_give_one_person_two_roles(
    attempts: list[tuple[str, str, Vote]],
) -> None:
    """Whatever order the attempts are serialised in (the run's lock makes them one after
    the other), the stored rows never hold two roles of one person nor a requester's vote."""
    state = fresh()
    for user, role, vote in attempts:
        members = frozenset(PEOPLE)
        plan = SignPlan(user, role, vote, "a reason long enough", 1, members, POLICY, role)
        try:
            planned = plan(state)
        except Refused:
            continue
        if planned is not None:
            row = planned[0]
            assert isinstance(row, SignOff)
            state = Fresh(state.run_id, state.run, [*state.signoffs, row], state.waivers,
                          state.ticks, state.checks, state.decided)  # fmt: skip
    roles_of: dict[str, set[str]] = {}
    for signoff in state.signoffs:
        roles_of.setdefault(signoff.user, set()).add(signoff.role)
    assert all(len(roles) == 1 for roles in roles_of.values()), roles_of
    assert RITA not in roles_of
    assert sum(s.vote == "reject" for s in state.signoffs) <= 1  # a rejection decides
