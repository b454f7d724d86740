"""Stages in Slack (issue 25, point 1): a failed smoke stage ends the run within seconds,
NO-GO is announced and no sign-off is asked; a passed stage posts its "early confidence"
line; the pipeline API's ``keep_going`` runs every stage. The bot, its HTTP API, the Slack
stand-in and SQLite are real."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from bot.store.gate import GateStore
from bot.store.tokens import Tokens
from checks.base import Status
from tests.slackbot import running_bot

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
