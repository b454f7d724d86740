"""The gate's Block Kit: sign-off panel, modals, announcement, notices and App Home, each
validated by slack_sdk's models and against Slack's numeric limits, user text escaped."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk.models.views import View

from bot.gate.policy import Decision, Outcome
from bot.input_limits import MIN_REASON
from bot.slack.actions import (
    APPROVE,
    ATTEST,
    ATTEST_MODAL,
    OPEN_RUN,
    REASON_BLOCK,
    REASON_INPUT,
    REJECT,
    REJECT_MODAL,
    WAIVE,
    WAIVE_MODAL,
    Target,
)
from bot.slack.blocks import (
    AttestationView,
    FailureView,
    GateView,
    Message,
    RoleView,
    WaiverView,
    announcement,
    attest_modal,
    cycle_time,
    gate_message,
    home_view,
    notice_already_decided,
    notice_refused,
    reason_required_error,
    reject_modal,
    signoffs_cleared,
    waive_modal,
)
from bot.slack.state import CheckRow, RunState
from checks.base import Status
from tests.test_slack_blocks import EVIL, URL, all_text, assert_valid, texts

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
PENDING = Decision(Outcome.PENDING, ("awaiting approval for security",), ("security",))


def gate(**overrides: Any) -> GateView:
    fields: dict[str, Any] = {
        "run_id": 42,
        "generation": 3,
        "service": "checkout-api",
        "version": "2.14.0",
        "environment": "staging",
        "requester": "U0ALICE",
        "report_url": URL,
        "decision": PENDING,
        "roles": (
            RoleView("sre", "SRE", 2, (("U0BOB", T0),)),
            RoleView("security", "Security", 1, ()),
        ),
        "failures": (
            FailureView("latency", "p95 900ms > 500ms", critical=False),
            FailureView("headers", "HSTS missing", critical=False),
            FailureView("tls", "certificate expired", critical=True),
        ),
        "waivers": (WaiverView("headers", "U0CAROL", "internal only until Q1 rollout", T0),),
        "attestations": (
            AttestationView("oncall", "On-call rotation staffed", "sre", "SRE", True),
            AttestationView(
                "dpia", "DPIA approved", "compliance", "Compliance", True, "U0DAN", "DPIA-12", T0
            ),
        ),
        "started_at": T0,
    }
    fields.update(overrides)
    return GateView(**fields)


def decided(outcome: Outcome, *reasons: str, **overrides: Any) -> GateView:
    return gate(
        decision=Decision(outcome, reasons), decided_at=T0 + timedelta(hours=2), **overrides
    )


def buttons(message: Message) -> list[dict[str, Any]]:
    """Every button, in action rows and as section accessories."""
    found = [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]
    return found + [b["accessory"] for b in message.blocks if "accessory" in b]


def valid_view(view: dict[str, Any], max_blocks: int = 100) -> dict[str, Any]:
    View(**view).validate_json()
    assert 0 < len(view["blocks"]) <= max_blocks
    for start in range(0, len(view["blocks"]), 50):  # the message checks, 50 blocks at a time
        assert_valid(Message("view", view["blocks"][start : start + 50]))
    return view


# --- the sign-off panel ---------------------------------------------------------------


def test_pending_panel_has_a_button_row_per_role_with_decodable_targets() -> None:
    message = assert_valid(gate_message(gate()))
    rows = [b for b in message.blocks if b["type"] == "actions"]
    assert [r["block_id"] for r in rows] == ["signoff:sre", "signoff:security"]
    for row, role in zip(rows, ["sre", "security"], strict=True):
        approve, reject = row["elements"]
        assert (approve["action_id"], approve["style"]) == (APPROVE, "primary")
        assert (reject["action_id"], reject["style"]) == (REJECT, "danger")
        assert (
            Target.decode(approve["value"]) == Target(42, 3, role) == Target.decode(reject["value"])
        )
    text = all_text(message)
    assert "(1 of 2)" in text and "<@U0BOB>" in text and "awaiting approval (0 of 1)" in text
    assert "Security" in message.text


def test_a_role_with_its_approvals_loses_its_buttons_and_never_says_2_of_1() -> None:
    """Issue 24, point 7: "(2/1)" and buttons that stayed after a role was satisfied."""
    roles = (
        RoleView("sre", "SRE", 1, (("U0BOB", T0), ("U0EVE", T0))),
        RoleView("security", "Security", 1, ()),
    )
    message = assert_valid(gate_message(gate(roles=roles)))
    rows = [b["block_id"] for b in message.blocks if b["type"] == "actions"]
    assert "signoff:sre" not in rows and "signoff:security" in rows
    text = all_text(message)
    assert "(2 approvals, 1 needed)" in text and "2/1" not in text and "2 of 1" not in text
    assert "✅ *SRE*" in text and "⏳ *Security*: awaiting approval (0 of 1)" in text


def test_pending_panel_waive_only_unwaived_non_critical_and_tick_only_unticked() -> None:
    message = assert_valid(gate_message(gate()))
    by_action: dict[str, list[Target]] = {}
    for button in buttons(message):
        by_action.setdefault(button["action_id"], []).append(Target.decode(button["value"]))
    assert by_action[WAIVE] == [Target(42, 3, "latency")]  # headers waived, tls critical
    assert by_action[ATTEST] == [Target(42, 3, "oncall")]
    text = all_text(message)
    assert "*tls* (critical, cannot be waived)" in text
    assert "waived by <@U0CAROL>" in text and "internal only until Q1 rollout" in text
    assert "☑ *DPIA approved* · Compliance · blocking · ticked by <@U0DAN>" in text
    assert "☐ *On-call rotation staffed*" in text


@pytest.mark.parametrize(
    ("outcome", "label"),
    [
        (Outcome.GO, "GO ✅"),
        (Outcome.NO_GO, "NO-GO ❌"),
        (Outcome.EXPIRED, "EXPIRED ⌛"),
        (Outcome.CANCELLED, "CANCELLED 🚫"),
    ],
)
def test_final_panel_has_no_buttons_only_the_outcome(outcome: Outcome, label: str) -> None:
    message = assert_valid(gate_message(decided(outcome, "the sign-off deadline passed")))
    assert not [b for b in message.blocks if b["type"] == "actions"]
    assert not buttons(message)
    assert f"*{label}* decided <!date^" in message.blocks[0]["text"]["text"]
    assert label in message.text
    assert "<@U0BOB>" in all_text(message)  # who signed
    if outcome is not Outcome.GO:
        assert "the sign-off deadline passed" in all_text(message)


def test_no_go_panel_shows_the_rejection_with_its_reason_once() -> None:
    roles = (RoleView("security", "Security", 1, (), ("U0EVE", T0, "CVE-2026-1 unpatched")),)
    message = assert_valid(
        gate_message(decided(Outcome.NO_GO, "rejected for security by U0EVE: x", roles=roles))
    )
    text = all_text(message)
    assert "rejected by <@U0EVE>" in text and "CVE-2026-1 unpatched" in text
    assert "rejected for security" not in text


def test_user_text_cannot_ping_anyone() -> None:
    roles = (RoleView("sre", EVIL, 1, (), ("U0EVE", T0, EVIL)),)
    evil = gate(
        service=EVIL,
        roles=roles,
        failures=(FailureView(EVIL, EVIL, critical=False),),
        waivers=(WaiverView("x", "U0CAROL", EVIL, T0),),
        attestations=(AttestationView("a", EVIL, "sre", EVIL, True, "U0DAN", EVIL, T0),),
    )
    for message in [
        gate_message(evil),
        gate_message(replace(evil, decision=Decision(Outcome.NO_GO, (EVIL,)), decided_at=T0)),
        announcement(replace(evil, decision=Decision(Outcome.NO_GO, (EVIL,))), 60),
        notice_refused(EVIL),
        signoffs_cleared([EVIL], "U0ALICE"),
    ]:
        assert_valid(message)  # no <!channel>, <!here>, <@U0EVIL> or foreign link


def test_many_roles_failures_and_attestations_still_fit() -> None:
    big = gate(
        roles=tuple(RoleView(f"role{i}", f"Role {i}", 2, ((f"U0R{i}", T0),)) for i in range(20)),
        failures=tuple(
            FailureView(f"check-{i}", "x" * 500, critical=i % 3 == 0) for i in range(60)
        ),
        waivers=tuple(WaiverView(f"check-{i}", "U0CAROL", "y" * 900, T0) for i in range(1, 20, 3)),
        attestations=tuple(
            AttestationView(f"item{i}", "z" * 400, "sre", "SRE", True, "U0DAN" if i % 2 else None)
            for i in range(40)
        ),
    )
    message = assert_valid(gate_message(big))
    rows = [b for b in message.blocks if b["type"] == "actions"]
    assert len(rows) == 20  # every role can still be signed
    assert len({r["block_id"] for r in rows}) == 20
    assert all(len(r["elements"]) == 2 for r in rows)
    assert "Approve Role 7" in all_text(message)
    assert {b["action_id"] for b in buttons(message)} == {APPROVE, REJECT, WAIVE, ATTEST}
    assert "more failures to waive" in all_text(message) and "more items to tick" in all_text(
        message
    )
    assert URL in all_text(message)
    final = assert_valid(gate_message(replace(big, decision=Decision(Outcome.GO), decided_at=T0)))
    assert not buttons(final)
    assert_valid(announcement(replace(big, decision=Decision(Outcome.GO), decided_at=T0), 9000))


# --- modals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("view", "callback", "optional"),
    [
        (reject_modal(Target(42, 3, "security"), EVIL), REJECT_MODAL, False),
        (waive_modal(Target(42, 3, "latency"), "latency", EVIL), WAIVE_MODAL, False),
        (attest_modal(Target(42, 3, "oncall"), EVIL), ATTEST_MODAL, True),
    ],
)
def test_modals(view: dict[str, Any], callback: str, optional: bool) -> None:
    valid_view(view)
    assert view["type"] == "modal" and view["callback_id"] == callback
    assert Target.decode(view["private_metadata"]).run_id == 42
    assert len(view["title"]["text"]) <= 24 and view["submit"] and view["close"]
    (field,) = [b for b in view["blocks"] if b["type"] == "input"]
    assert field["block_id"] == REASON_BLOCK and field["element"]["action_id"] == REASON_INPUT
    assert field["optional"] is optional
    assert ("min_length" in field["element"]) is not optional
    assert not any("<!channel>" in t for t in texts(view["blocks"]))


def test_reason_required_error_names_the_input_block() -> None:
    errors = reason_required_error()
    assert list(errors) == [REASON_BLOCK] and str(MIN_REASON) in errors[REASON_BLOCK]


# --- announcement and notices ---------------------------------------------------------------


def test_announcement_names_signers_rejections_waivers_and_cycle_time() -> None:
    roles = (
        RoleView("sre", "SRE", 1, (("U0BOB", T0),)),
        RoleView("security", "Security", 1, (), ("U0EVE", T0, "CVE-2026-1 unpatched")),
    )
    message = assert_valid(
        announcement(decided(Outcome.NO_GO, "rejected", roles=roles), 2 * 3600 + 14 * 60)
    )
    assert message.blocks[0]["type"] == "header"
    assert message.blocks[0]["text"]["text"].startswith("❌ NO-GO")
    text = all_text(message)
    for expected in [
        "*SRE*: <@U0BOB>",
        "rejected by <@U0EVE>",
        "CVE-2026-1 unpatched",
        "waived by <@U0CAROL>",
        "internal only until Q1 rollout",
        "ticked by <@U0DAN>",
        "2h 14m",
        URL,
    ]:
        assert expected in text, expected
    go = assert_valid(announcement(decided(Outcome.GO), 600))
    assert go.blocks[0]["text"]["text"].startswith("✅ GO") and "GO ✅" in go.text


def test_cycle_time_is_human() -> None:
    assert [cycle_time(s) for s in (42, 200, 1800, 8040, 100_000)] == [
        "42s",
        "3m 20s",
        "30m",
        "2h 14m",
        "1d 3h",
    ]


def test_notices() -> None:
    done = assert_valid(notice_already_decided(Outcome.GO))
    assert "already decided" in done.text and "GO ✅" in done.text
    assert "re-run" in assert_valid(notice_already_decided(Outcome.PENDING)).text
    refused = assert_valid(notice_refused("Only members of SRE can sign for SRE."))
    assert "Only members of SRE" in refused.text and "Nothing was recorded" in refused.text
    cleared = assert_valid(signoffs_cleared(["latency"], "U0ALICE"))
    assert "`latency`" in cleared.text and "<@U0ALICE>" in cleared.text
    assert "cleared" in cleared.text
    assert "all checks" in assert_valid(signoffs_cleared(None, "U0ALICE")).text


# --- App Home --------------------------------------------------------------------------


def active_run(run_id: int) -> RunState:
    rows = (CheckRow("a", "http", state=Status.PASSED), CheckRow("b", "http"))
    return RunState(
        run_id,
        "svc",
        "1.0",
        "prod",
        "std",
        "U0ALICE",
        "https://x",
        T0,
        f"{URL}/{run_id}",
        rows=rows,
    )


def test_home_lists_pending_signoffs_with_links_and_active_runs() -> None:
    view = valid_view(home_view("U0CAROL", [gate()], [active_run(7)]))
    assert view["type"] == "home"
    text = "\n".join(texts(view["blocks"]))
    assert "Awaiting your sign-off" in text and "Active runs" in text
    assert "Sign for: *SRE, Security*" in text
    assert "▓▓▓▓▓░░░░░ 1/2" in text
    opens = [b["accessory"] for b in view["blocks"] if "accessory" in b]
    assert [b["action_id"] for b in opens] == [OPEN_RUN, OPEN_RUN]
    assert [b["url"] for b in opens] == [URL, f"{URL}/7"]
    # the user already approved SRE: only Security is left for them
    mine = valid_view(home_view("U0BOB", [gate()], [], signable=None))
    assert "Sign for: *Security*" in "\n".join(texts(mine["blocks"]))


def test_home_empty_states_and_long_lists() -> None:
    empty = valid_view(home_view("U0BOB", [], []))
    text = "\n".join(texts(empty["blocks"]))
    assert "Nothing awaits your sign-off" in text and "No runs are in progress" in text
    many = [replace(gate(), run_id=i) for i in range(120)]
    full = valid_view(home_view("U0BOB", many, [active_run(i) for i in range(120)]))
    assert len(full["blocks"]) <= 100
    text = "\n".join(texts(full["blocks"]))
    assert "more runs" in text and "more active runs" in text
    assert re.search(r"Sign for: \*Security\*", text)


def test_home_without_report_url_has_no_link_button_and_untimed_tick_reads_well() -> None:
    view = valid_view(home_view("U0CAROL", [gate(report_url=None)], []))
    assert not [b for b in view["blocks"] if "accessory" in b]
    item = AttestationView("a", "Runbook reviewed", "sre", "SRE", False, "U0DAN")
    text = all_text(assert_valid(gate_message(gate(attestations=(item,)))))
    assert "☑ *Runbook reviewed* · SRE · ticked by <@U0DAN>" in text and " at -" not in text
