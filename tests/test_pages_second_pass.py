"""The web pages as a person reads them (issue 24, point 7), over real HTTP with the
stand-in: names where Slack shows names (looked up once, never waited on for long), a
role's tally that never reads "2 of 1" and no buttons once it has its approvals, every
action ending on the run's page with its notice shown once, the trail in words, every
time labelled with its zone, and the report naming the blocking attestation that still
waits beside a PASS. The layout (where boxes sit, what wraps) is in
tests/test_browser_pages.py."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from bot.record.report import AttestationItem, RunReport
from bot.reports.html import render_html, still_waiting
from bot.slack.client import SlackClient
from bot.web.names import DisplayNames, display_name, shown
from slack_standin import SlackStandIn
from tests.slackbot import running_bot
from tests.support.signin import signed_in
from tests.support.target import RunningTarget
from tests.support.workspace import CHANNEL, USERS
from tests.test_dashboard import csrf_of, form
from tests.test_signoffs import RM, SRE1, SRE2, config_for, signoffs, started

TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d)?(?! UTC)(?!:)")
"""A date and time the page does not say the zone of."""


@pytest.fixture
async def standin() -> AsyncIterator[SlackStandIn]:
    slack = SlackStandIn(users=USERS, channels={CHANNEL: "releases"})
    await slack.start()
    try:
        yield slack
    finally:
        await slack.stop()


async def test_names_come_from_users_info_once_each(standin: SlackStandIn) -> None:
    client = SlackClient(standin.token, base_url=standin.api_url)
    names = DisplayNames(client.user_info)
    wanted = {SRE1, RM, "U0NOBODY", "cli", "github:octo", "<script>"}
    found = await names.names(wanted)
    assert found == {SRE1: "sam-sre", RM: "rita-release-manager"}
    assert sorted(c.args["user"] for c in standin.calls_to("users.info")) == sorted(
        [SRE1, RM, "U0NOBODY"]
    )  # ids only: "cli", "github:..." and markup are never sent to Slack
    assert await names.names(wanted) == found  # cached, the unknown one too
    assert len(standin.calls_to("users.info")) == 3
    assert shown(SRE1, found) == "sam-sre (U0SRE1)" and shown("cli", found) == "cli"
    await client.aclose()


async def test_a_silent_slack_costs_a_page_at_most_the_budget() -> None:
    """Slack accepts the connection and never answers: the page gets ids, in the budget."""
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = SlackClient("xoxb-test", base_url=f"http://127.0.0.1:{port}/api/")
    names = DisplayNames(client.user_info, budget=0.3)
    began = time.monotonic()
    assert await names.names({SRE1, SRE2, RM}) == {}
    assert time.monotonic() - began < 1.0
    began = time.monotonic()
    assert await names.names({SRE1}) == {}  # not asked again at once: no wait at all
    assert time.monotonic() - began < 0.05
    for writer in held:
        writer.close()
    server.close()
    await client.aclose()


def test_the_shown_name_is_slacks_display_name_then_real_name() -> None:
    spaced = {"name": "h", "profile": {"display_name": " Sam  S ", "real_name": "R"}}
    assert display_name(spaced) == "Sam S"
    assert display_name({"name": "h", "profile": {"display_name": "", "real_name": "R"}}) == "R"
    assert display_name({"name": "h"}) == "h" and display_name({}) is None


def unlabelled_times(page: str) -> list[str]:
    return TIME.findall(re.sub(r"<[^>]+>", "", page))


async def test_the_run_page_and_its_report_read_as_slack_does(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    async with running_bot(config_for(tmp_path, healthy_target), tmp_path, web=True) as harness:
        await started(harness)
        async with await signed_in(harness.url, harness.standin, SRE1) as sre:
            page = (await sre.get("/runs/1")).text
            assert "requested by rita-release-manager (U0RM)" in page
            assert 'value="approve-sre"' in page and "0 of 1" in page
            listing = (await sre.get("/runs")).text
            assert "rita-release-manager (U0RM)" in listing and not unlabelled_times(listing)
            report = (await sre.get("/runs/1/report")).text
            banner = report.split('aria-label="Verdict"', 1)[1].split("</section>", 1)[0]
            assert "Verdict: PASS" in banner
            assert "1 blocking attestation still waits" in banner

            done = await sre.post("/runs/1/act", data=form(csrf_of(page), "approve", "sre"))
            assert (done.status_code, done.headers["location"]) == (303, "/runs/1")
            page = (await sre.get("/runs/1")).text
            assert "Your approval is recorded." in page
            assert "Your approval is recorded." not in (await sre.get("/runs/1")).text
            # SRE has its one approval: its buttons are gone, Security's stay
            assert "1 of 1" in page and 'value="approve-sre"' not in page
            assert 'value="reject-sre"' not in page and 'value="approve-security"' in page
            assert "sam-sre (U0SRE1) at" in page

        async with await signed_in(harness.url, harness.standin, SRE2) as second:
            page = (await second.get("/runs/1")).text
            token = csrf_of(page)
            late = await second.post("/runs/1/act", data=form(token, "approve", "sre"))
            assert late.status_code == 303
            page = (await second.get("/runs/1")).text
            # the gate keeps a second approval of a role (its signers are on record)
            assert [(s.role, s.user) for s in signoffs(harness)] == [("sre", SRE1), ("sre", SRE2)]
            assert "2 approvals, 1 needed" in page and "2 of 1" not in page

            refused = await second.post("/runs/1/act", data=form(token, "reject", "nope", "x"))
            assert (refused.status_code, refused.headers["location"]) == (303, "/runs/1")
            assert 'class="notice bad"' in (await second.get("/runs/1")).text

            tick = await second.post("/runs/1/act", data=form(token, "tick", "oncall", "sam"))
            assert tick.status_code == 303
            page = (await second.get("/runs/1")).text
            trail = page.split("Audit trail", 1)[1].split("<h2>Report", 1)[0]
            assert "sam-sre (U0SRE1)" in trail and "sue-sre (U0SRE2)" in trail
            assert not re.search(r": (True|False)\b", trail), trail
            assert "blocking" in trail  # the tick's flag, as a word
            assert not unlabelled_times(page), unlabelled_times(page)
            report = (await second.get("/runs/1/report")).text
            assert "still wait" not in report
            assert "Requested by</dt><dd>rita-release-manager (U0RM)" in report
            assert "ticked by sue-sre (U0SRE2)" in report
            assert not re.search(r": (True|False)\b", report.split('id="audit"', 1)[1])
            assert not unlabelled_times(report)


def test_the_report_says_the_zone_of_naive_times_and_counts_what_waits() -> None:
    """SQLite hands times back naive (they are UTC); the report still says UTC."""
    items = [
        AttestationItem(id="a", text="A", role="sre"),
        AttestationItem(id="b", text="B", role="sre"),
        AttestationItem(id="c", text="C", role="sre", blocking=False),
        AttestationItem(id="d", text="D", role="sre", ticked_by=SRE1),
    ]
    report = RunReport(
        run_id=7, service="svc", version="1.0", environment="staging", plan="p",
        base_url="http://127.0.0.1:9", started_at=datetime(2026, 12, 6, 20, 9, 8),
        finished_at=datetime(2026, 12, 6, 20, 9, 30), results=[], attestations=items,
    )  # fmt: skip
    html = render_html(report)
    assert "2026-12-06 20:09:08 UTC" in html and not unlabelled_times(html)
    assert still_waiting(report) == "2 blocking attestations still wait"
    assert "2 blocking attestations still wait" in html
    named = render_html(report, {SRE1: "<b>sam</b>"})  # a display name is anyone's text
    assert "ticked by &lt;b&gt;sam&lt;/b&gt; (U0SRE1)" in named and "<b>sam" not in named
