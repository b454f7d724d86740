"""The dashboard over real HTTP, signed in through the stand-in: acting on a run from its
page under Slack's rules (one signature per person and role whichever way it came, the
Slack panel updated, outsiders and forms without the session's token refused and nothing
recorded), and the run list's filters, decisions and key-based pages."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from sqlmodel import Session, select

from bot.slack.actions import APPROVE
from bot.store.models import DecisionRecord, Run, RunStatus, SignOff, utcnow
from tests.slackbot import CHANNEL, Harness, running_bot
from tests.support.signin import signed_in
from tests.support.target import RunningTarget
from tests.test_signoffs import (
    OUT,
    RM,
    SEC,
    SRE1,
    approve,
    config_for,
    panel,
    refused,
    signoffs,
    started,
)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no form"
    return found.group(1)


def form(
    csrf: str, action: str, subject: str, text: str = "", generation: int = 1
) -> dict[str, str]:
    return {
        "csrf": csrf,
        "action": action,
        "subject": subject,
        "generation": str(generation),
        "text": text,
    }


async def test_a_dashboard_approval_counts_once_with_slack_and_outsiders_are_refused(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    async with running_bot(config_for(tmp_path, healthy_target), tmp_path, web=True) as harness:
        await started(harness)
        async with await signed_in(harness.url, harness.standin, SRE1) as sre:
            page = (await sre.get("/runs/1")).text
            assert "awaiting SRE, Security" in page and "Approve" in page
            token = csrf_of(page)
            done = await sre.post("/runs/1/act", data=form(token, "approve", "sre"))
            assert done.status_code == 303 and done.headers["location"] == "/runs/1"
            assert "Your approval is recorded" in (await sre.get(done.headers["location"])).text
            assert "Your approval is recorded" not in (await sre.get("/runs/1")).text  # once
            # the Slack panel shows it, and the same person's click in Slack is the same one
            await harness.until(lambda: SRE1 in str(panel(harness).blocks))
            await approve(harness, SRE1, "sre")
            again = await sre.post("/runs/1/act", data=form(token, "approve", "sre"))
            assert again.headers["location"] == "/runs/1"
            assert "already recorded" in (await sre.get("/runs/1")).text
            # a form without the session's token is refused before anything is read
            forged = await sre.post("/runs/1/act", data=form("forged", "approve", "security"))
            assert forged.status_code == 403 and "another session" in forged.text
            listing = (await sre.get("/runs")).text
            assert "awaiting Security" in listing
        assert [(s.role, s.user) for s in signoffs(harness)] == [("sre", SRE1)]

        async with await signed_in(harness.url, harness.standin, OUT) as outsider:
            token = csrf_of((await outsider.get("/runs/1")).text)
            answer = await outsider.post("/runs/1/act", data=form(token, "approve", "security"))
            assert answer.status_code == 303 and answer.headers["location"] == "/runs/1"
            assert "Only members of Security" in (await outsider.get("/runs/1")).text
            stale = await outsider.post(
                "/runs/1/act", data=form(token, "approve", "sre", generation=0)
            )
            assert stale.status_code == 303
            assert "before a re-run" in (await outsider.get("/runs/1")).text
        async with await signed_in(harness.url, harness.standin, RM) as requester:
            token = csrf_of((await requester.get("/runs/1")).text)
            short = await requester.post("/runs/1/act", data=form(token, "reject", "sre", "no"))
            assert short.status_code == 303
            assert 'class="notice bad"' in (await requester.get("/runs/1")).text
        assert [(s.role, s.user) for s in signoffs(harness)] == [("sre", SRE1)]

        # a rejection with its reason from the page decides the run, and Slack says so
        async with await signed_in(harness.url, harness.standin, SEC) as security:
            token = csrf_of((await security.get("/runs/1")).text)
            reason = "TLS config not reviewed yet"
            done = await security.post(
                "/runs/1/act", data=form(token, "reject", "security", reason)
            )
            assert done.status_code == 303
            page = (await security.get("/runs/1")).text
            assert "NO-GO" in page and reason in page and 'name="csrf"' not in page
            # the audit trail of the run, on its page: the page's and Slack's actions alike
            trail = page.split("Audit trail", 1)[1]
            for action in ("run.started", "gate.signoff", "gate.reject", "gate.decision"):
                assert action in trail, action
            assert trail.count("gate.signoff") == 1, "one signature, once in the trail"
            report = (await security.get("/runs/1/report")).text
            assert reason in report and "gate.reject" in report
        await harness.until(lambda: "NO-GO" in str(panel(harness).blocks))
        await harness.command("list")
        await harness.until(
            lambda: any("NO-GO" in str(m.blocks) for m in harness.standin.ephemerals(RM))
        )
        stale = await harness.standin.click(
            SEC, panel(harness).ts, CHANNEL, APPROVE, value="1:1:security"
        )  # a stale button in Slack
        assert stale.status_code == 200
        await refused(harness, SEC, "already decided")


def seed(harness: Harness, count: int) -> None:
    """``count`` runs: services a/b by parity, environments by thirds, every fifth GO."""
    start = utcnow() - timedelta(days=1)
    with Session(harness.bot.store.engine) as session:
        for n in range(1, count + 1):
            session.add(
                Run(
                    service="svc-a" if n % 2 else "svc-b",
                    version=f"1.{n}",
                    environment=("staging", "qa", "perf")[n % 3],
                    plan="standard",
                    base_url="http://127.0.0.1:9",
                    status=RunStatus.FINISHED if n % 7 else RunStatus.CANCELLED,
                    created_at=start + timedelta(minutes=n),
                )
            )
        session.flush()
        for n in range(5, count + 1, 5):
            session.add(DecisionRecord(run_id=n, outcome="go" if n % 7 else "cancelled"))
        session.commit()


def run_ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<a href="/runs/(\d+)">#', page)]


async def test_the_run_list_filters_and_pages_by_key(tmp_path: Path) -> None:
    config = tmp_path / "preprod.yml"
    config.write_text(
        "channel: C0RELEASES\nroles:\n  sre: {label: SRE, members: [U0SRE1]}\n"
        "environments:\n  staging: {base_url: 'http://127.0.0.1:9', plan: standard}\n"
        "plans:\n  standard:\n    checks:\n      - {id: smoke, type: http, requests: [{path: /}]}\n"
    )
    async with running_bot(config, tmp_path, web=True) as harness:
        seed(harness, 130)
        async with await signed_in(harness.url, harness.standin, RM) as http:
            first = (await http.get("/runs")).text
            assert run_ids(first) == list(range(130, 80, -1))
            assert 'href="/runs?before=81"' in first and "newer" not in first
            second = (await http.get("/runs?before=81")).text
            assert run_ids(second) == list(range(80, 30, -1))
            assert 'href="/runs?after=80"' in second
            last = (await http.get("/runs?before=31")).text
            assert run_ids(last) == list(range(30, 0, -1)) and "older" not in last
            back = (await http.get("/runs?after=80")).text
            assert run_ids(back) == list(range(130, 80, -1))

            go = run_ids((await http.get("/runs?service=svc-a&decision=go")).text)
            assert go == [n for n in range(130, 0, -1) if n % 2 and n % 5 == 0 and n % 7]
            qa = (await http.get("/runs?environment=qa&status=cancelled")).text
            assert run_ids(qa) == [n for n in range(130, 0, -1) if n % 3 == 1 and n % 7 == 0]
            pending = run_ids((await http.get("/runs?decision=pending")).text)
            assert pending == [n for n in range(130, 0, -1) if n % 5 and n % 7][:50]
            cancelled = (await http.get("/runs?decision=cancelled&service=svc-b")).text
            assert run_ids(cancelled) == [n for n in range(130, 0, -1) if n % 7 == 0 and n % 2 == 0]
            assert ">CANCELLED<" in cancelled and ">GO<" in first
            assert "awaiting SRE" in first  # an undecided finished run
            filtered = (await http.get("/runs?service=svc-a")).text
            assert 'href="/runs?service=svc-a&amp;before=' in filtered  # the filter is kept
            junk = await http.get("/runs?status=nope&decision=maybe&before=x&service=" + "s" * 500)
            assert junk.status_code == 200 and run_ids(junk.text) == []
            with Session(harness.bot.store.engine) as session:
                assert session.exec(select(SignOff)).all() == []
