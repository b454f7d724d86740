"""Stages in Slack (issue 25, point 1): a failed smoke stage ends the run within seconds,
NO-GO is announced and no sign-off is asked; a passed stage posts its "early confidence"
line. The bot, the Slack stand-in and SQLite are real."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.store.gate import GateStore
from tests.hostile_bot import quick_bot

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
        checks: [{id: soak, type: scripted, sleep: 30}]
"""


@pytest.mark.usefixtures("scripted_kinds")
async def test_a_failed_smoke_stage_is_no_go_at_once_with_no_sign_off_asked(
    tmp_path: Path,
) -> None:
    async with quick_bot(tmp_path, STAGED) as harness:
        began = time.monotonic()
        await harness.command("start svc 1.0 staging")
        await harness.settle(timeout=20)
        assert time.monotonic() - began < 10, "the run waited for the later stage"

        thread = harness.thread()
        texts = [m.text for m in thread]
        early = [t for t in texts if t.startswith("✅ Stage")]
        assert early == ["✅ Stage *pre* passed (lint). Next: *smoke* (health), no history yet."]
        assert any("NO-GO" in t for t in texts), texts
        assert not [m for m in thread if any(b.startswith("Approve") for b in m.button_labels())]
        results = harness.results()
        assert "stage smoke failed: health" in str(results.blocks)
        report = await harness.bot.store.report(1)
        skipped = {r.check_id: r.summary for r in report.results if r.status == "skipped"}
        assert skipped == {"soak": "stage smoke failed: health"}
        decision = await GateStore(harness.bot.store).decision(1)
        assert decision is not None and decision.outcome == "no-go"
        assert "critical check soak was not run (stage smoke failed: health)" in str(
            decision.reasons
        )
