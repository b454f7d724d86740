"""The replay of a run's events into the rows they imply, and the diff that names how
stored rows differ from them: pure, events and rows in memory."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.audit.chain import GENESIS, Action, Entry, seal
from bot.audit.projection import Row, Table, diff, headline, replay, same

RM, SRE, SEC = "U0RM", "U0SRE1", "U0SEC1"

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def events(*specs: tuple[str, str, dict[str, object]]) -> list[Entry]:
    chain: list[Entry] = []
    for action, actor, details in specs:
        chain.append(
            seal(
                seq=len(chain) + 1,
                at=T0,
                run_id=1,
                actor=actor,
                action=action,
                details=details,
                prev_hash=chain[-1].hash if chain else GENESIS,
            )
        )
    return chain


def test_a_corrected_outcome_replaces_the_first_and_a_long_reason_is_cut_as_sealed() -> None:
    long_reason = "x" * 2500
    trail = events(
        (Action.RUN_STARTED, RM, {}),
        (
            Action.REJECT,
            SEC,
            {"role": "security", "vote": "reject", "reason": long_reason, "generation": 1},
        ),
        (Action.DECISION, "preprod", {"outcome": "no-go", "reasons": ["Security rejected"]}),
        (Action.OUTCOME, RM, {"result": "success"}),
        (Action.OUTCOME, RM, {"result": "rolled-back"}),
        (Action.REMINDER_SENT, "preprod", {"to": SRE, "key": "k"}),
    )
    stored = [
        Row(Table.RUN, 1, (), {"generation": 1}),
        Row(Table.SIGNOFF, 1, (1, "security", SEC), {"vote": "reject", "reason": long_reason}),
        Row(Table.DECISION, 1, (), {"outcome": "no-go", "reasons": ["Security rejected"]}),
        Row(Table.OUTCOME, 1, (), {"result": "rolled-back", "user": RM}),
    ]
    assert same(long_reason[:2000] + "…", long_reason)
    assert diff(replay(trail), stored) == []
    edited = [*stored[:3], Row(Table.OUTCOME, 1, (), {"result": "success", "user": RM})]
    [difference] = diff(replay(trail), edited)
    assert difference.line() == (
        "run 1: productionoutcome production outcome: result: trail rolled-back, table success"
    )
    assert headline([difference]).startswith("the audit trail disagrees: production outcome")


def test_user_text_in_a_difference_stays_on_one_line() -> None:
    trail = events((Action.ATTESTATION, SRE, {"item": "oncall", "note": "ok"}))
    forged = Row(Table.TICK, 1, ("oncall",), {"user": SRE, "note": "a\nb\x1b[31m <b>"})
    [difference] = diff(replay(trail), [forged])
    assert "\n" not in difference.line() and "\x1b" not in difference.line()
    assert 'table "a\\nb\\u001b[31m <b>"' in difference.line()


def test_an_unfinished_attempt_needs_no_event_but_a_finished_one_does() -> None:
    trail = events(
        (Action.CHECK_FINISHED, "preprod", {"check": "smoke", "attempt": 1, "status": "failed",
                                            "critical": True, "blocking": True, "summary": "x"}),
    )  # fmt: skip
    failed = {"status": "failed", "critical": True, "blocking": True, "summary": "x"}
    pending = {"status": "pending", "critical": True, "blocking": False, "summary": ""}
    stored = [
        Row(Table.CHECK, 1, ("smoke", 1), failed),
        Row(Table.CHECK, 1, ("smoke", 2), pending, unfinished=True),  # a re-run queued
    ]
    assert diff(replay(trail), stored) == []
    passed = {**failed, "status": "passed", "blocking": False}
    lines = [d.line() for d in diff(replay(trail), [Row(Table.CHECK, 1, ("smoke", 1), passed)])]
    assert lines == [
        "run 1: checkrecord check smoke (attempt 1): status: trail failed, table passed",
        "run 1: checkrecord check smoke (attempt 1): blocking: trail True, table False",
    ]
    finished_unheard = Row(Table.CHECK, 1, ("tls", 1), passed)
    [unheard] = diff(replay(trail), [stored[0], finished_unheard])
    assert unheard.field == "row" and unheard.trail == "no event"


def test_a_decision_difference_leads_the_headline() -> None:
    trail = events(
        (Action.REJECT, SEC, {"role": "security", "vote": "reject", "reason": "no",
                              "generation": 1}),
        (Action.DECISION, "preprod", {"outcome": "no-go", "reasons": []}),
        (Action.WAIVER, SRE, {"check": "load", "attempt": 1, "justification": "fine"}),
        (Action.WAIVER, SRE, {"check": "load", "attempt": 1, "justification": "again"}),
    )  # fmt: skip
    stored = [
        Row(Table.SIGNOFF, 1, (1, "security", SEC), {"vote": "approve", "reason": "no"}),
        Row(Table.DECISION, 1, (), {"outcome": "go", "reasons": []}),
        Row(Table.WAIVER, 1, ("load", 1), {"user": SRE, "justification": "fine"}),
    ]
    found = diff(replay(trail), stored)
    assert headline(found).startswith(
        "the audit trail disagrees: it records NO-GO (decision), the table GO; "
        "sign-off security by U0SEC1 (generation 1): vote: trail reject, table approve"
    )
    [repeat] = [d for d in found if d.table is Table.WAIVER]
    assert repeat.trail == "#4 gate.waiver repeats #3 gate.waiver"


def test_a_reopened_decision_is_replaced_by_the_next_and_not_a_repeat() -> None:
    """``gate.reopen`` (a re-run continuing a run a stage ended) sets the NO-GO aside: the
    run is undecided until the next decision, which is the one row the trail implies."""
    no_go = {"outcome": "no-go", "reasons": ["critical check health failed"]}
    reopened = (Action.REOPEN, RM, {**no_go, "stage": "smoke"})
    first = (Action.DECISION, "preprod", no_go)
    assert [r for r in replay(events(first, reopened)) if r.table is Table.DECISION] == []
    go = (Action.DECISION, "preprod", {"outcome": "go", "reasons": ["every role approved"]})
    [decision] = [r for r in replay(events(first, reopened, go)) if r.table is Table.DECISION]
    assert decision.fields["outcome"] == "go"
    stored = Row(Table.DECISION, 1, (), {"outcome": "go", "reasons": ["every role approved"]})
    assert diff([decision], [stored]) == []
