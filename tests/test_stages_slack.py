"""Stages in Slack (issue 25, point 1): a failed smoke stage ends the run within seconds,
NO-GO is announced and no sign-off is asked; a passed stage posts its "early confidence"
line; the pipeline API's ``keep_going`` runs every stage; ``/preprod rerun`` continues a
run a stage ended and reopens its early NO-GO. The bot, its HTTP API, the Slack
stand-in and SQLite are real."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot.audit.chain import Action
from bot.store.agreement import check_run
from bot.store.audit_log import AuditLog
from bot.store.gate import GateStore
from bot.store.tokens import Tokens
from bot.store.trends import flaky_checks
from checks.base import Status
from slack_standin.workspace import Message
from tests.slackbot import CHANNEL, Harness, running_bot
from tests.support.local_http import HealthTarget

STAGED = """\
channel: C0RELEASES
roles:
  sre: {label: SRE, members: [U0SRE1, U0SRE2]}
environments:
  staging:
    base_url: http://127.0.0.1:9
    plan: staged
plans:
  staged:
    stages:
      - name: pre
        checks: [{id: lint, type: scripted}]
      - name: smoke
        checks: [{id: health, type: scripted, outcome: fail}]
      - name: full
        checks: [{id: soak, type: scripted, sleep: 3}]
"""


@pytest.mark.usefixtures("scripted_kinds")
async def test_a_failed_smoke_stage_is_no_go_at_once_with_no_sign_off_asked(
    tmp_path: Path,
) -> None:
    config = tmp_path / "preprod.yml"
    config.write_text(STAGED)
    async with running_bot(config, tmp_path, web=True) as harness:
        began = time.monotonic()
        await harness.command("start svc 1.0 staging")
        await harness.settle(timeout=20)
        assert time.monotonic() - began < 10, "the run waited for the later stage"
        report = await harness.bot.store.report(1)
        assert report.duration_s < 2.5, f"the run took {report.duration_s:.1f} s: soak ran"

        thread = harness.thread()
        texts = [m.text for m in thread]
        early = [t for t in texts if t.startswith("✅ Stage")]
        assert early == ["✅ Stage *pre* passed (lint). Next: *smoke* (health), no history yet."]
        assert any("NO-GO" in t for t in texts), texts
        assert not [m for m in thread if any(b.startswith("Approve") for b in m.button_labels())]
        results = harness.results()
        assert "stage smoke failed: health" in str(results.blocks)
        skipped = {r.check_id: r.summary for r in report.results if r.status == "skipped"}
        assert skipped == {"soak": "stage smoke failed: health"}
        decision = await GateStore(harness.bot.store).decision(1)
        assert decision is not None and decision.outcome == "no-go"
        assert "critical check soak was not run (stage smoke failed: health)" in str(
            decision.reasons
        )

        # the pipeline API's keep_going: every stage runs
        secret = await Tokens(harness.bot.store).create("gh", "*", "*", "test")
        body = {
            "service": "svc",
            "version": "1.1",
            "environment": "staging",
            "keep_going": True,
            "source": {"kind": "github", "url": "https://github.example/a/b/actions/runs/1"},
        }
        async with httpx.AsyncClient(base_url=harness.url, timeout=30) as http:
            answer = await http.post(
                "/api/v1/requests",
                json=body,
                headers={"authorization": f"Bearer {secret}", "Idempotency-Key": "k1"},
            )
        assert answer.status_code in (200, 201, 202), answer.text
        run_id = answer.json()["id"]
        await harness.settle(timeout=60)
        kept = await harness.bot.store.report(run_id)
        assert {r.check_id: r.status for r in kept.results}["soak"] is Status.PASSED


CONTINUED = """\
channel: C0RELEASES
roles:
  sre: {{label: SRE, members: [U0SRE1, U0SRE2]}}
policy:
  required_signoffs: [sre]
environments:
  staging:
    base_url: {url}
    plan: staged
plans:
  staged:
    stages:
      - name: smoke
        checks:
          - {{id: ready, type: scripted}}
          - {{id: health, type: http, requests: [{{path: /health}}]}}
      - name: full
        checks: [{{id: soak, type: scripted, sleep: 1.5}}]
"""


def no_go_announcements(harness: Harness) -> list[str]:
    return [
        m.text
        for m in harness.standin.channel(CHANNEL).messages
        if m.thread_ts is None and "NO-GO" in m.text and "Pre-production" not in m.text
    ]


def requester_dms(harness: Harness) -> list[Message]:
    channel = harness.standin.workspace.channels.get("D0RM")  # U0RM's DM with the bot
    return channel.messages if channel else []


@pytest.mark.usefixtures("scripted_kinds")
async def test_rerun_continues_a_run_a_stage_ended_and_reopens_its_no_go(
    tmp_path: Path,
) -> None:
    """``/preprod rerun`` of a run its smoke stage ended NO-GO: the failed check and the
    skipped stage run again in the same run and thread, the NO-GO is reopened (trail,
    thread, API ``pending`` while it runs); failing again is a new NO-GO, announced; passing
    asks for sign-offs, and the check is flaky."""
    served = HealthTarget()
    config = tmp_path / "preprod.yml"
    config.write_text(CONTINUED.format(url=served.url))
    try:
        async with running_bot(config, tmp_path, web=True) as harness:
            store = harness.bot.store
            await harness.command("start svc 1.0 staging")
            await harness.settle(timeout=30)
            gates = GateStore(store)
            assert (await gates.decision(1)) is not None
            assert len(no_go_announcements(harness)) == 1
            secret = await Tokens(store).create("gh", "*", "*", "test")
            api = httpx.AsyncClient(
                base_url=harness.url, headers={"authorization": f"Bearer {secret}"}, timeout=30
            )
            async with api:
                assert (await api.get("/api/v1/runs/1")).json()["decision"] == "no-go"

                # one check of it: refused, pointing at the whole re-run
                said = await harness.command("rerun 1 health")
                assert "`rerun 1` continues it from there" in said, said

                # still failing: a new NO-GO, announced again
                said = await harness.command("rerun 1")
                assert "its early NO-GO is reopened" in said, said
                await harness.settle(timeout=30)
                decided = await gates.decision(1)
                assert decided is not None and decided.outcome == "no-go"
                await harness.until(lambda: len(no_go_announcements(harness)) == 2)
                # the requester is told each decision, the one after the reopen too
                await harness.until(lambda: len(requester_dms(harness)) == 2)
                assert all("NO-GO" in m.text for m in requester_dms(harness))

                # healthy now: the run goes on, pending while it runs and after
                served.healthy = True
                await harness.command("rerun 1")
                await harness.until(lambda: 1 in harness.bot.manager.tasks)
                running = (await api.get("/api/v1/runs/1")).json()
                assert running["decision"] == "pending", running
                await harness.settle(timeout=30)
                view = (await api.get("/api/v1/runs/1")).json()
                assert view["decision"] == "pending"
                assert view["awaiting"] == [{"role": "sre", "label": "SRE"}]

            assert await gates.decision(1) is None
            report = await store.report(1)
            assert {r.check_id: r.status for r in report.results} == {
                "ready": Status.PASSED,
                "health": Status.PASSED,
                "soak": Status.PASSED,
            }
            thread = harness.thread()
            texts = [m.text for m in thread]
            notes = [t for t in texts if "continues the run from stage `smoke`" in t]
            assert len(notes) == 2 and all("early NO-GO is reopened" in t for t in notes)
            assert "`health`, `soak`" in notes[0]
            assert any(any(b.startswith("Approve") for b in m.button_labels()) for m in thread)
            events = await AuditLog(store).events(1)
            reopened = [e for e in events if e.action == Action.REOPEN]
            assert [e.details["stage"] for e in reopened] == ["smoke", "smoke"]
            assert reopened[0].details["outcome"] == "no-go"
            assert await check_run(store, 1) == [], "the trail and the tables disagree"
            since = datetime.now(UTC) - timedelta(hours=1)
            assert "health" in [f.check_id for f in await flaky_checks(store, since)]
            # ready passed in the first attempt and was never run again
            assert "ready" not in {
                c for e in events if e.action == Action.RUN_RERUN for c in e.details["checks"]
            }
    finally:
        served.close()
