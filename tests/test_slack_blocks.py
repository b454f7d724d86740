"""Block Kit rendering: every payload checked by slack_sdk's models and against Slack's
numeric limits, user text escaped, long runs and evidence summarised."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk.models.blocks import Block as SdkBlock

from bot.engine.events import CheckFinished, CheckProgressed, CheckStarted, PlannedCheck, RunStarted
from bot.record.report import RunReport
from bot.slack import limits
from bot.slack.blocks import (
    Message,
    RunListItem,
    failure_reply,
    fit,
    help_message,
    list_message,
    notice,
    parent_message,
    progress_bar,
    progress_message,
    results_message,
    status_message,
    usage_error,
)
from bot.slack.state import CheckRow, RunState, apply
from bot.slack.text import escape, truncate
from checks.base import CheckResult, Status
from checks.context import ProgressEvent

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
RUN = 42
URL = "https://preprod.example/runs/42"
EVIL = "boom <!channel> <!here> <@U0EVIL> <https://evil.example|click> & co"
ALLOWED = re.compile(
    r"<(@[UW][A-Z0-9]+|!subteam\^S[A-Z0-9]+|https?://[^|<>\s]+\|[^<>]*|!date\^\d+\^[^|<>]+\|[^<>]+)>"
)


def texts(value: Any) -> list[str]:
    """Every ``text`` string in a payload, however deep."""
    if isinstance(value, dict):
        found = [value["text"]] if isinstance(value.get("text"), str) else []
        return found + [t for v in value.values() for t in texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in texts(v)]
    return []


def assert_valid(message: Message) -> Message:
    """slack_sdk's own validation plus explicit checks of every limit we promise."""
    text, blocks = message
    assert isinstance(text, str) and 0 < len(text) <= limits.MAX_MESSAGE_TEXT
    assert 0 < len(blocks) <= limits.MAX_BLOCKS
    json.dumps(blocks)
    for raw in blocks:
        parsed = SdkBlock.parse(raw)
        assert parsed is not None, raw
        parsed.validate_json()
        assert len(raw.get("block_id", "")) <= limits.MAX_ID
        if raw["type"] == "section":
            assert "text" in raw or "fields" in raw
            if "text" in raw:
                assert 0 < len(raw["text"]["text"]) <= limits.MAX_SECTION_TEXT
            fields = raw.get("fields", [])
            assert len(fields) <= limits.MAX_FIELDS
            assert all(len(f["text"]) <= limits.MAX_FIELD_TEXT for f in fields)
        elif raw["type"] == "context":
            assert 0 < len(raw["elements"]) <= limits.MAX_CONTEXT_ELEMENTS
            assert all(len(e["text"]) <= limits.MAX_CONTEXT_TEXT for e in raw["elements"])
        elif raw["type"] == "actions":
            assert 0 < len(raw["elements"]) <= limits.MAX_ACTIONS
            for button in raw["elements"]:
                assert len(button["text"]["text"]) <= limits.MAX_BUTTON_TEXT
                assert len(button.get("value", "")) <= limits.MAX_BUTTON_VALUE
                assert len(button["action_id"]) <= limits.MAX_ID
    for piece in [text, *texts(blocks)]:
        assert "<!channel>" not in piece and "<!here>" not in piece and "<@U0EVIL>" not in piece
        for match in re.finditer(r"<[^>]*>", piece):
            assert ALLOWED.fullmatch(match.group()), match.group()
        # a code block left open would swallow the rest of the message
        assert piece.count("```") % 2 == 0
    return message


def all_text(message: Message) -> str:
    return "\n".join([message.text, *texts(message.blocks)])


def new_state(**overrides: Any) -> RunState:
    fields: dict[str, Any] = {
        "run_id": RUN,
        "service": "checkout-api",
        "version": "2.14.0",
        "environment": "staging",
        "plan": "standard",
        "requester": "U0ALICE",
        "base_url": "https://staging.internal.example",
        "started_at": T0,
        "report_url": URL,
    }
    fields.update(overrides)
    return RunState(**fields)


def result(check_id: str, status: Status, summary: str = "", **kwargs: Any) -> CheckResult:
    critical = kwargs.pop("critical", True)
    return CheckResult(
        status=status,
        summary=summary or f"{check_id} {status.value}",
        check_id=check_id,
        check_type=kwargs.pop("check_type", "http"),
        critical=critical,
        blocking=critical and status.is_problem,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=1.5),
        **kwargs,
    )


def make_report(results: list[CheckResult], **overrides: Any) -> RunReport:
    fields: dict[str, Any] = {
        "run_id": RUN,
        "service": "checkout-api",
        "version": "2.14.0",
        "environment": "staging",
        "plan": "standard",
        "base_url": "https://staging.internal.example",
        "requester": "U0ALICE",
        "started_at": T0,
        "finished_at": T0 + timedelta(minutes=3),
        "results": results,
    }
    fields.update(overrides)
    return RunReport.model_validate(fields)


def started(n: int, **overrides: Any) -> RunState:
    planned = tuple(PlannedCheck(f"check-{i:03d}", "http", i % 3 != 0, True) for i in range(n))
    return apply(new_state(**overrides), RunStarted(RUN, planned))


@pytest.mark.parametrize(
    ("done", "total", "bar"),
    [
        (0, 10, "░░░░░░░░░░ 0/10"),
        (4, 10, "▓▓▓▓░░░░░░ 4/10"),
        (10, 10, "▓▓▓▓▓▓▓▓▓▓ 10/10"),
        (199, 200, "▓▓▓▓▓▓▓▓▓░ 199/200"),
        (0, 0, "░░░░░░░░░░ 0/0"),
    ],
)
def test_progress_bar(done: int, total: int, bar: str) -> None:
    assert progress_bar(done, total) == bar


def test_progress_bar_in_the_message_at_zero_some_and_all() -> None:
    state = started(4)
    assert "`░░░░░░░░░░ 0/4`" in all_text(assert_valid(progress_message(state)))
    for i in range(2):
        state = apply(state, CheckFinished(RUN, result(f"check-{i:03d}", Status.PASSED)))
    assert "`▓▓▓▓▓░░░░░ 2/4`" in all_text(assert_valid(progress_message(state)))
    for i in range(2, 4):
        state = apply(state, CheckFinished(RUN, result(f"check-{i:03d}", Status.PASSED)))
    assert "`▓▓▓▓▓▓▓▓▓▓ 4/4`" in all_text(assert_valid(progress_message(state)))


def test_parent_message() -> None:
    message = assert_valid(parent_message(new_state()))
    text = all_text(message)
    assert "Pre-production validation: *checkout-api 2.14.0* on *staging*" in text
    assert "<@U0ALICE>" in text and "`standard`" in text and "#42" in text
    assert "https://staging.internal.example" in text and f"<{URL}|" in text


def test_progress_shows_each_state_with_its_emoji_and_live_line() -> None:
    planned = (
        PlannedCheck("smoke", "http", True, True),
        PlannedCheck("load", "load", True, True),
        PlannedCheck("tls", "tls", True, True),
        PlannedCheck("headers", "security_headers", False, True),
        PlannedCheck("auth", "auth_required", True, True),
        PlannedCheck("ops", "ops_readiness", True, True),
        PlannedCheck("parity", "parity", True, True),
        PlannedCheck("pii", "pii_scan", True, False),
    )
    state = apply(new_state(), RunStarted(RUN, planned))
    state = apply(state, CheckStarted(RUN, "load"))
    state = apply(state, CheckProgressed(RUN, ProgressEvent("load", "50 users, 121 rps")))
    for check_id, status in [
        ("smoke", Status.PASSED),
        ("tls", Status.WARNED),
        ("headers", Status.FAILED),
        ("auth", Status.ERROR),
        ("ops", Status.SKIPPED),
    ]:
        critical = check_id != "headers"
        state = apply(state, CheckFinished(RUN, result(check_id, status, critical=critical)))
    text = all_text(assert_valid(progress_message(state)))
    for line in [
        "✅ *smoke* (http): smoke passed _1.5s_",
        "🔄 *load* (load): 50 users, 121 rps",
        "⚠️ *tls* (http): tls warned",
        "❌ *headers* (http, non-critical): headers failed",
        "🛑 *auth* (http): auth error",
        "⏭️ *ops* (http): ops skipped",
        "⏳ *parity* (parity)",
        "Not selected: pii",
        "5/7",
    ]:
        assert line in text, line
    assert "Summarised" not in text


def test_many_checks_are_summarised_problems_first() -> None:
    state = started(200, report_url=URL)
    for i in range(150):
        status = Status.FAILED if i % 50 == 7 else Status.PASSED
        long = f"{'very long summary ' * 40} <!channel>"
        state = apply(state, CheckFinished(RUN, result(f"check-{i:03d}", status, long)))
    state = apply(state, CheckStarted(RUN, "check-150"))
    message = assert_valid(progress_message(state))
    text = all_text(message)
    assert "Summarised: 4 of 200 checks shown, problems first" in text
    assert "196 more: 147 passed, 49 pending" in text and f"<{URL}|Full report>" in text
    sections = [b["text"]["text"] for b in message.blocks if b["type"] == "section"]
    rows = "\n".join(sections[1:])
    assert rows.index("check-007") < rows.index("check-107") < rows.index("check-150")
    assert "check-151" not in rows and "check-000" not in rows
    assert "150/200" in text


def test_a_200_check_run_with_100kb_of_evidence_renders_within_limits() -> None:
    evidence = ("x" * 99 + "\n") * 1000
    state = started(200, report_url=None)
    results = []
    for i in range(200):
        status = [Status.PASSED, Status.FAILED, Status.ERROR, Status.WARNED][i % 4]
        summary = f"{'long summary <!channel> ' * 30}"
        results.append(result(f"check-{i:03d}", status, summary, evidence=evidence))
        state = apply(state, CheckStarted(RUN, f"check-{i:03d}"))
        state = apply(state, CheckFinished(RUN, results[-1]))
    progress = all_text(assert_valid(progress_message(state)))
    assert "Summarised: 40 of 200 checks shown" in progress and "see the report" in progress
    for row in state.failures:
        reply = all_text(assert_valid(failure_reply(row, evidence)))
        assert "truncated, full evidence in the report" in reply
    final = all_text(assert_valid(results_message(make_report(results))))
    assert "and 85 more; see the report" in final


def test_failure_reply_truncates_long_evidence() -> None:
    evidence = ("GET /api/items -> 500 <!channel> & ```oops``` trace line\n" * 2000)[:100_000]
    row = CheckRow("load", "load", True, state=Status.FAILED, summary="p95 812ms > 500ms")
    message = assert_valid(failure_reply(row, evidence, URL))
    text = all_text(message)
    assert "blocks the release" in text and "p95 812ms &gt; 500ms" in text
    assert f"… truncated, full evidence in the <{URL}|report>" in text
    code = message.blocks[1]["text"]["text"]
    assert code.startswith("```\nGET /api/items -&gt; 500 &lt;!channel&gt; &amp;")
    assert len(code) <= limits.MAX_SECTION_TEXT


def test_failure_reply_with_short_or_no_evidence() -> None:
    row = CheckRow("pii", "pii_scan", False, state=Status.ERROR, summary=EVIL, duration_s=3)
    short = all_text(assert_valid(failure_reply(row, "email found in /api/items")))
    assert "```\nemail found in /api/items\n```" in short and "truncated" not in short
    assert "does not block the release" in short
    assert len(assert_valid(failure_reply(row, "")).blocks) == 2  # summary + duration


def test_results_message_pass() -> None:
    report = make_report([result("smoke", Status.PASSED), result("tls", Status.WARNED)])
    text = all_text(assert_valid(results_message(report, URL)))
    assert "All blocking checks passed" in text and "*Warnings*" in text
    assert "✅ 1 passed · ⚠️ 1 warned" in text and f"<{URL}|Full report>" in text


def test_results_message_fail_lists_blocking_and_non_blocking_and_appends_actions() -> None:
    results = [
        result("load", Status.FAILED, "p95 812ms > 500ms"),
        result("auth", Status.ERROR, "cannot reach"),
        result("headers", Status.FAILED, "no CSP", critical=False),
    ]
    button = {
        "type": "button",
        "text": {"type": "plain_text", "text": "Approve as SRE " * 10},
        "action_id": "signoff:" + "x" * 300,
        "value": "v" * 3000,
    }
    message = assert_valid(results_message(make_report(results), URL, actions=[button]))
    text = all_text(message)
    assert "2 blocking failures" in text
    blocking = text.index("*Blocking failures*")
    assert blocking < text.index("load") < text.index("*Non-blocking failures*")
    assert text.index("*Non-blocking failures*") < text.index("headers")
    assert message.blocks[-1]["type"] == "actions"
    assert message.blocks[-1]["elements"][0]["text"]["text"].endswith("…")


def test_results_message_of_a_cancelled_run() -> None:
    report = make_report([result("smoke", Status.PASSED)], status="cancelled")
    assert "did not finish" in all_text(assert_valid(results_message(report)))


def test_results_message_with_hundreds_of_failures_stays_within_limits() -> None:
    results = [result(f"c{i}", Status.FAILED, EVIL * 50, critical=i % 2 == 0) for i in range(300)]
    message = assert_valid(results_message(make_report(results), URL))
    assert "and 135 more" in all_text(message)


def test_user_values_are_escaped_everywhere() -> None:
    state = new_state(service="svc <!channel>", version="1 & 2", environment="<@U0EVIL>")
    state = apply(state, RunStarted(RUN, (PlannedCheck("x<!here>", "http", True, True),)))
    state = apply(state, CheckProgressed(RUN, ProgressEvent("x<!here>", EVIL)))
    for message in [parent_message(state), progress_message(state), status_message(state)]:
        text = all_text(assert_valid(message))
        assert "svc &lt;!channel&gt;" in text and "1 &amp; 2" in text
    row = CheckRow("x", "http", state=Status.FAILED, summary=EVIL)
    assert "&lt;!channel&gt;" in all_text(assert_valid(failure_reply(row, EVIL)))
    assert_valid(usage_error(EVIL))
    assert_valid(notice(f"unknown environment {EVIL!r}; known: {EVIL}, staging"))
    assert_valid(notice(EVIL))


def test_command_replies() -> None:
    help_text = all_text(assert_valid(help_message()))
    for command in ["start &lt;service&gt; &lt;version&gt; &lt;env&gt;", "status", "list"]:
        assert f"/preprod {command}" in help_text
    for command in ["cancel", "rerun", "report", "help"]:
        assert f"/preprod {command}" in help_text
    usage = all_text(assert_valid(usage_error("missing <version>")))
    assert "missing &lt;version&gt;" in usage and "/preprod start" in usage
    unknown = all_text(assert_valid(notice("unknown environment 'prod'; known: qa, staging")))
    assert "unknown environment 'prod'; known: qa, staging" in unknown


def test_status_message_of_state_and_report() -> None:
    state = started(30)
    state = apply(state, CheckFinished(RUN, result("check-005", Status.FAILED)))
    live = all_text(assert_valid(status_message(state, URL)))
    assert "1/30" in live and "Summarised: 1 of 30" in live and "check-005" in live
    report = make_report([result("smoke", Status.PASSED)])
    stored = all_text(assert_valid(status_message(report, URL)))
    assert "1/1" in stored and "finished in 3m" in stored


def test_list_message() -> None:
    assert "No runs yet" in all_text(assert_valid(list_message([])))
    runs = [
        RunListItem(i, f"svc-{i}", "1.0", "staging", "finished", T0 + timedelta(hours=i))
        for i in range(25)
    ]
    message = assert_valid(list_message(runs))
    text = all_text(message)
    assert text.index("#24") < text.index("#23") and "#4`" not in text
    assert "and 5 older runs" in text and "<!date^" in text


def test_fit_enforces_every_limit() -> None:
    huge = "x" * 5000
    blocks: list[dict[str, Any]] = [
        {"type": "section", "block_id": "b" * 300, "text": {"type": "mrkdwn", "text": huge}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": huge} for _ in range(12)],
        },
        {"type": "header", "text": {"type": "plain_text", "text": huge}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": huge}] * 12},
        *({"type": "divider"} for _ in range(60)),
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": huge},
                    "action_id": str(i),
                }
                for i in range(30)
            ],
        },
    ]
    fitted = fit(blocks, URL)
    assert_valid(Message("x", fitted))
    assert fitted[0]["text"]["text"].endswith(f"… see the <{URL}|full report>")
    assert fitted[-1]["type"] == "actions" and len(fitted[-1]["elements"]) == 25
    assert "more blocks left out" in all_text(Message("x", fitted))


def test_truncate_never_breaks_markup() -> None:
    assert truncate("abc", 10) == "abc"
    cut = truncate(escape("a & b") * 10, 12)
    assert len(cut) <= 12 and not re.search(r"&[a-z]*…", cut)
    assert "<" not in truncate("see <https://example.com/long|the link> now", 20)
    fenced = truncate("```\n" + "x" * 100 + "\n```", 50)
    assert fenced.count("```") == 2 and len(fenced) <= 50
