"""Sign-offs, waivers, attestations and GO / NO-GO end to end: several distinct users
click through the local Slack stand-in; the bot runs the real checks on the real target."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from sqlmodel import Session, col, select

from bot.gate.sweeps import Sweeps
from bot.slack.actions import (
    APPROVE,
    ATTEST,
    ATTEST_MODAL,
    REASON_BLOCK,
    REASON_INPUT,
    REJECT,
    REJECT_MODAL,
    WAIVE,
    WAIVE_MODAL,
)
from bot.store.audit_log import AuditLog
from bot.store.models import (
    AuditEvent,
    DecisionRecord,
    ProductionOutcome,
    Run,
    SignOff,
    SlackThread,
    Waiver,
)
from slack_standin import Message
from tests.slackbot import CHANNEL, METRICS_TOKEN, Harness, running_bot
from tests.support.target import RunningTarget

RM, SRE1, SRE2, SEC, OUT = "U0RM", "U0SRE1", "U0SRE2", "U0SEC1", "U0OUT"

CONFIG = """\
channel: C0RELEASES
roles:
  sre: {{label: SRE, members: [U0SRE1, U0SRE2]}}
  security: {{label: Security, members: [U0SEC1]}}
policy:
  required_signoffs: [sre, security]
  waivers_by: [sre]
  signoff_deadline: {deadline}
environments:
  staging:
    base_url: {url}
    plan: standard
    ca_bundle: {ca}
plans:
  standard:
    checks:
      - {{id: smoke, type: http, requests: [{{path: /healthz}}]}}
      - {{id: headers, type: security_headers, critical: false}}
    attestations:
      - {{id: oncall, text: On-call rotation staffed for the release, role: sre}}
"""


def config_for(tmp_path: Path, target: RunningTarget, deadline: str = "24h") -> Path:
    path = tmp_path / "preprod.yml"
    path.write_text(CONFIG.format(url=target.https_url, ca=target.ca_bundle, deadline=deadline))
    return path


@pytest.fixture
async def gated(healthy_target: RunningTarget, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_bot(config_for(tmp_path, healthy_target), tmp_path) as harness:
        await started(harness)
        yield harness


async def started(harness: Harness, requester: str = RM) -> None:
    await harness.command("start checkout-api 2.14.0 staging", user=requester)
    await harness.settle()
    await harness.until(lambda: gate_message(harness) is not None)


def gate_message(harness: Harness) -> Message | None:
    """The sign-off panel, found where the bot stored it."""
    with Session(harness.bot.store.engine) as session:
        thread = session.get(SlackThread, 1)
    if thread is None or thread.gate_ts is None:
        return None
    return next((m for m in harness.thread() if m.ts == thread.gate_ts), None)


def panel(harness: Harness) -> Message:
    found = gate_message(harness)
    assert found is not None
    return found


async def click(harness: Harness, user: str, action: str, block_id: str | None = None) -> None:
    message = panel(harness)
    response = await harness.standin.click(user, message.ts, CHANNEL, action, block_id=block_id)
    assert response.status_code == 200, response.text


async def approve(harness: Harness, user: str, role: str) -> None:
    await click(harness, user, APPROVE, f"signoff:{role}")


def signoffs(harness: Harness) -> list[SignOff]:
    with Session(harness.bot.store.engine) as session:
        return list(session.exec(select(SignOff)))


def trail(harness: Harness) -> list[tuple[str, str]]:
    """The audit trail of run 1 as ``(action, actor)``, in order."""
    with Session(harness.bot.store.engine) as session:
        query = select(AuditEvent).where(AuditEvent.run_id == 1).order_by(col(AuditEvent.seq))
        return [(e.action, e.actor) for e in session.exec(query)]


def decisions(harness: Harness) -> list[DecisionRecord]:
    with Session(harness.bot.store.engine) as session:
        return list(session.exec(select(DecisionRecord)))


def announcements(harness: Harness) -> list[Message]:
    return [
        m
        for m in harness.standin.channel(CHANNEL).messages
        if m.thread_ts is None and ("GO" in m.text or "EXPIRED" in m.text)
        and "Pre-production validation" not in m.text
    ]  # fmt: skip


async def refused(harness: Harness, user: str, words: str) -> None:
    await harness.until(lambda: any(words in m.text for m in harness.standin.ephemerals(user)))


async def tick_oncall(harness: Harness, user: str = SRE1) -> None:
    await click(harness, user, ATTEST)
    await harness.until(lambda: bool(harness.standin.modals(user)))
    await harness.standin.submit_view(user, ATTEST_MODAL, {REASON_BLOCK: {REASON_INPUT: "PD-42"}})
    await harness.until(
        lambda: "☑" in str(panel(harness).blocks) or "PD-42" in str(panel(harness).blocks)
    )


async def test_all_approvals_and_attestation_give_one_go_announcement(gated: Harness) -> None:
    assert {"Approve", "Reject", "Tick"} <= set(panel(gated).button_labels())
    await approve(gated, SRE1, "sre")
    await approve(gated, SEC, "security")
    await gated.until(lambda: len(signoffs(gated)) == 2)
    assert decisions(gated) == []  # the blocking attestation is not ticked yet
    await gated.until(lambda: "attestation oncall not ticked" in str(panel(gated).blocks))
    await tick_oncall(gated)
    await gated.until(lambda: len(decisions(gated)) == 1)
    assert decisions(gated)[0].outcome == "go"
    await gated.until(lambda: len(announcements(gated)) == 1)
    [announced] = announcements(gated)
    assert "GO" in announced.text and "NO-GO" not in announced.text
    body = str(announced.blocks)
    assert SRE1 in body and SEC in body and "http://127.0.0.1:3000/runs/1" in body
    await gated.until(lambda: panel(gated).button_labels() == [])
    assert "GO" in str(panel(gated).blocks)
    # a stale click on the decided run: refused privately, nothing recorded
    await gated.standin.click(SRE2, panel(gated).ts, CHANNEL, APPROVE, value="1:1:sre")
    await refused(gated, SRE2, "already decided")
    assert len(signoffs(gated)) == 2
    # production outcome, for the success metrics
    assert "Recorded" in await gated.command("outcome 1 success", user=RM)
    with Session(gated.bot.store.engine) as session:
        [outcome] = session.exec(select(ProductionOutcome)).all()
    assert (outcome.result, outcome.user) == ("success", RM)
    # every action is in the audit trail once, the stale click nowhere, and it verifies
    assert trail(gated) == [
        ("run.started", RM),
        ("check.finished", "preprod"),
        ("check.finished", "preprod"),
        ("run.finished", "preprod"),
        ("gate.signoff", SRE1),
        ("gate.signoff", SEC),
        ("gate.attestation", SRE1),
        ("gate.decision", "preprod"),
        ("production.outcome", RM),
    ]
    assert (await AuditLog(gated.bot.store).verify()).ok
    async with httpx.AsyncClient() as client:
        bearer = {"authorization": f"Bearer {METRICS_TOKEN}"}
        metrics = (await client.get(f"{gated.url}/metrics", headers=bearer)).text
        health = (await client.get(f"{gated.url}/healthz")).json()
    assert 'preprod_decisions_total{outcome="go"} 1.0' in metrics
    assert 'preprod_production_outcomes_total{result="success"} 1.0' in metrics
    assert 'preprod_runs{status="finished"} 1.0' in metrics
    assert "preprod_decision_cycle_seconds_count 1.0" in metrics
    assert 'preprod_slack_api_total{kind="calls",method="chat.postMessage"}' in metrics
    assert health == {"status": "ok", "active_runs": 0}


async def test_outsider_and_requester_are_refused_and_nothing_is_recorded(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    async with running_bot(config_for(tmp_path, healthy_target), tmp_path) as harness:
        await started(harness, requester=SRE1)
        await approve(harness, OUT, "sre")
        await refused(harness, OUT, "Only members of SRE can sign for SRE")
        await approve(harness, SRE1, "sre")
        await refused(harness, SRE1, "You requested this release")
        await approve(harness, SEC, "sre")
        await refused(harness, SEC, "Only members of SRE can sign")
        assert signoffs(harness) == []


async def test_reject_needs_a_reason_and_gives_no_go(gated: Harness) -> None:
    await click(gated, SEC, REJECT, "signoff:security")
    await gated.until(lambda: bool(gated.standin.modals(SEC)))
    response = await gated.standin.submit_view(
        SEC, REJECT_MODAL, {REASON_BLOCK: {REASON_INPUT: "  "}}
    )
    assert response.status_code == 200
    assert json.loads(response.text)["response_action"] == "errors"
    assert signoffs(gated) == []
    reason = "CSP report-only in staging <!channel>"
    await gated.standin.submit_view(SEC, REJECT_MODAL, {REASON_BLOCK: {REASON_INPUT: reason}})
    await gated.until(lambda: len(decisions(gated)) == 1)
    assert decisions(gated)[0].outcome == "no-go"
    await gated.until(lambda: len(announcements(gated)) == 1)
    [announced] = announcements(gated)
    assert "NO-GO" in announced.text
    assert "CSP report-only in staging" in str(announced.blocks)
    assert "<!channel>" not in str(announced.blocks)
    await gated.until(lambda: panel(gated).button_labels() == [])
    assert ("gate.reject", SEC) in trail(gated)


async def test_double_click_and_redelivery_record_one_signature(gated: Harness) -> None:
    await tick_oncall(gated)
    message = panel(gated)
    [stale] = [  # SRE's Approve as a client still showing it would send it later
        e["value"]
        for b in message.blocks
        if b.get("block_id") == "signoff:sre"
        for e in b["elements"]
        if e["action_id"] == APPROVE
    ]
    await gated.standin.click(SRE1, message.ts, CHANNEL, APPROVE, block_id="signoff:sre")
    await gated.standin.click(SRE1, message.ts, CHANNEL, APPROVE, block_id="signoff:sre")
    [delivery] = [d for d in gated.standin.deliveries if d.kind == "block_actions"][-1:]
    await gated.standin.send_raw(
        "payload=" + quote(json.dumps(delivery.payload)),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    await gated.until(lambda: len(signoffs(gated)) >= 1)
    await approve(gated, SEC, "security")
    await approve(gated, SEC, "security")
    await gated.until(lambda: len(decisions(gated)) == 1)
    await gated.until(lambda: len(announcements(gated)) >= 1)
    # too late: the run is decided (and SRE's buttons leave the panel once it has its
    # approval, so only a stale client can still send this click). The panel's edit is
    # coalesced and paced (chat.update), so it may land after the announcement: waited
    # for, not assumed (the full suite failed here once, on a loaded machine)
    await gated.until(
        lambda: not any(b.get("block_id") == "signoff:sre" for b in panel(gated).blocks)
    )
    await gated.standin.click(
        SRE2, message.ts, CHANNEL, APPROVE, value=stale, block_id="signoff:sre"
    )
    await refused(gated, SRE2, "already decided")
    assert sorted((s.role, s.user) for s in signoffs(gated)) == [("security", SEC), ("sre", SRE1)]
    assert len(announcements(gated)) == 1
    assert len(decisions(gated)) == 1
    signed = [entry for entry in trail(gated) if entry[0] == "gate.signoff"]
    assert signed == [("gate.signoff", SRE1), ("gate.signoff", SEC)]  # once each
    assert trail(gated).count(("gate.decision", "preprod")) == 1


async def test_rerun_clears_earlier_signoffs(gated: Harness) -> None:
    await approve(gated, SRE1, "sre")
    await gated.until(lambda: len(signoffs(gated)) == 1)
    assert "Re-running check smoke" in await gated.command("rerun 1 smoke", user=RM)
    await gated.settle()
    assert any("sign-offs given on the old evidence are cleared" in m.text
               for m in gated.thread())  # fmt: skip
    await gated.until(lambda: "2 of 2" not in str(panel(gated).blocks))
    run = await gated.bot.store.get_run(1)
    assert run is not None and run.generation == 2
    current = await gated.bot.gate.gates.signoffs(1, run.generation)
    assert current == []
    # the old button (generation 1) is stale now
    await gated.standin.click(SRE2, panel(gated).ts, CHANNEL, APPROVE, value="1:1:sre")
    await refused(gated, SRE2, "from before a re-run")
    assert ("run.rerun", RM) in trail(gated)


async def test_waiver_of_a_non_critical_failure_then_approvals_give_go(
    target_factory: Callable[..., RunningTarget], tmp_path: Path
) -> None:
    target = target_factory("no-hsts")
    async with running_bot(config_for(tmp_path, target), tmp_path) as harness:
        await started(harness)
        assert "Waive" in panel(harness).button_labels()
        await click(harness, SEC, WAIVE)
        await refused(harness, SEC, "Only members of the roles allowed to waive")
        await click(harness, SRE2, WAIVE)
        await harness.until(lambda: bool(harness.standin.modals(SRE2)))
        response = await harness.standin.submit_view(
            SRE2, WAIVE_MODAL, {REASON_BLOCK: {REASON_INPUT: "short"}}
        )
        assert json.loads(response.text)["response_action"] == "errors"
        justification = "HSTS is set by the CDN in production, not by the app"
        await harness.standin.submit_view(
            SRE2, WAIVE_MODAL, {REASON_BLOCK: {REASON_INPUT: justification}}
        )
        await harness.until(lambda: "Waive" not in panel(harness).button_labels())
        with Session(harness.bot.store.engine) as session:
            [waiver] = session.exec(select(Waiver)).all()
        assert (waiver.check_id, waiver.user) == ("headers", SRE2)
        await tick_oncall(harness)
        await approve(harness, SRE2, "sre")
        await approve(harness, SEC, "security")
        await harness.until(lambda: len(decisions(harness)) == 1)
        assert decisions(harness)[0].outcome == "go"
        await harness.until(lambda: len(announcements(harness)) == 1)
        assert "CDN in production" in str(announcements(harness)[0].blocks)


async def test_a_critical_failure_is_no_go_at_once_and_cannot_be_waived(
    target_factory: Callable[..., RunningTarget], tmp_path: Path
) -> None:
    target = target_factory("errors")
    config = config_for(tmp_path, target)
    config.write_text(config.read_text().replace("[{path: /healthz}]", "[{path: /api/items}]"))
    async with running_bot(config, tmp_path) as harness:
        await started(harness)
        await harness.until(lambda: len(decisions(harness)) == 1)
        assert decisions(harness)[0].outcome == "no-go"
        assert "critical check smoke failed" in decisions(harness)[0].reasons
        assert panel(harness).button_labels() == []
        await harness.standin.click(SRE1, panel(harness).ts, CHANNEL, WAIVE, value="1:1:smoke")
        await refused(harness, SRE1, "already decided")


async def test_deadline_passing_first_expires_the_run(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    async with running_bot(config_for(tmp_path, healthy_target, "2s"), tmp_path) as harness:
        await started(harness)
        await approve(harness, SRE1, "sre")
        await harness.until(lambda: len(signoffs(harness)) == 1)
        deadline = harness.bot.gate.deadline(run(harness))
        await harness.until(lambda: harness.bot.gate.clock() >= deadline)
        assert await Sweeps(harness.bot.gate).decide_due() == [1]
        assert await Sweeps(harness.bot.gate).decide_due() == []
        assert decisions(harness)[0].outcome == "expired"
        await harness.until(lambda: len(announcements(harness)) == 1)
        assert "EXPIRED" in announcements(harness)[0].text
        await harness.until(lambda: panel(harness).button_labels() == [])


def run(harness: Harness) -> Run:
    with Session(harness.bot.store.engine) as session:
        found = session.get(Run, 1)
    assert found is not None
    return found


async def test_app_home_lists_pending_signoffs_and_active_runs(gated: Harness) -> None:
    event = {
        "type": "event_callback",
        "team_id": "T0STANDIN",
        "api_app_id": "A0PREPROD",
        "event": {"type": "app_home_opened", "user": SRE1, "channel": "D0SRE1", "tab": "home"},
        "event_id": "Ev1",
        "event_time": int(time.time()),
    }
    response = await gated.standin.send_raw(json.dumps(event), {"Content-Type": "application/json"})
    assert response.status_code == 200
    await gated.until(lambda: gated.standin.home(SRE1) is not None)
    home = gated.standin.home(SRE1)
    assert home is not None
    assert "checkout-api" in str(home.blocks) and "SRE" in str(home.blocks)
