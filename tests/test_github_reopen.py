"""A GitHub job's run whose early NO-GO is reopened by ``/preprod rerun`` and decided
again (bot/github/answers.py): GitHub keeps a rejection it took, so the second decision
is not sent to the failed job; the thread says to re-run the job in GitHub, and that
re-run (a new delivery) gets the decision of the reopened run instead of starting a new
run. A rejection GitHub never took (GitHub down) is withdrawn at the reopen and the
waiting job gets the new decision. A pipeline polling the API meanwhile gets the new
decision, not the old. The GitHub and Slack stand-ins, the bot and SQLite are real."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.github.answers import held_otherwise, settled_by
from bot.github.client import GitHubProblem
from bot.github.retry import RetryPolicy
from bot.github.settings import API_URL_ENV, APP_ID_ENV, PRIVATE_KEY_ENV, WEBHOOK_SECRET_ENV
from bot.github.webhook import seen_key
from bot.slack.actions import APPROVE
from bot.slack.render_github import decided_again_note, job_name, reopened_note
from bot.store.models import GitHubAnswer
from bot.store.tokens import Tokens
from github_standin import GitHubStandIn
from slack_standin import Message
from tests.slackbot import CHANNEL, running_bot
from tests.support.local_http import HealthTarget
from tests.test_github_flow import SRE1, TAG, Flow

CONFIG = """\
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
        checks: [{{id: health, type: http, requests: [{{path: /health}}]}}]
      - name: full
        checks: [{{id: home, type: http, requests: [{{path: /}}]}}]
github:
  repositories:
    acme/checkout:
      environments:
        production: {{service: checkout-api, environment: staging, plan: staged}}
"""


@pytest.fixture
async def reopen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Flow]:
    """The bot mapped to a staged plan whose smoke stage fails until ``served.healthy``;
    GitHub's answers are tried once each (no retry), so a fault is one failed send."""
    served = HealthTarget()
    gh = await GitHubStandIn().start()
    key = tmp_path / "app.pem"
    key.write_text(gh.app_info.private_key_pem)
    monkeypatch.setenv(APP_ID_ENV, str(gh.app_info.app_id))
    monkeypatch.setenv(PRIVATE_KEY_ENV, str(key))
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, gh.app_info.webhook_secret)
    monkeypatch.setenv(API_URL_ENV, gh.url)
    config = tmp_path / "preprod.yml"
    config.write_text(CONFIG.format(url=served.url))
    try:
        async with running_bot(config, tmp_path) as harness:
            gh.hooks.url = f"{harness.url}/github/webhook"
            flow = Flow(harness, gh)
            flow.app.answers.stale_after = 0.3
            flow.app.client.retry = RetryPolicy(attempts=1)  # before its first client
            flow.served = served  # type: ignore[attr-defined]
            try:
                yield flow
            finally:
                await harness.settle()
    finally:
        await gh.stop()
        served.close()


def thread_texts(flow: Flow) -> list[str]:
    return [m.text for m in flow.bot.thread()]


def has_approve(flow: Flow, panel: Message) -> bool:
    """Whether the sign-off panel (updated in place) offers the Approve button."""
    message = flow.bot.standin.channel(CHANNEL).message(panel.ts)
    return any(label.startswith("Approve") for label in message.button_labels())


async def test_a_reopened_no_go_is_not_sent_to_the_failed_job_and_its_rerun_gets_the_go(
    reopen: Flow,
) -> None:
    flow = reopen
    job = flow.gh.add_job("acme", "checkout", 601, "production", ref=TAG)
    assert (await flow.gh.request_review(job)).status_code == 202
    [run] = flow.runs()
    assert run.id == 1
    await flow.bot.until(lambda: job.state == "rejected", 30)  # the smoke stage failed
    await flow.bot.until(lambda: any(a.state and a.answered_at for a in flow.answers()))
    await flow.bot.settle()

    flow.served.healthy = True  # type: ignore[attr-defined]
    said = await flow.bot.command("rerun 1", user=SRE1)
    assert "its early NO-GO is reopened" in said, said
    await flow.bot.until(
        lambda: any("GitHub already failed (rejected) the job" in t for t in thread_texts(flow))
    )
    [note] = [t for t in thread_texts(flow) if "continues the run from stage" in t]
    assert "*acme/checkout* run 601 at *production*" in note
    await flow.bot.settle()

    # a pipeline polling the API waits through the reopen and gets the new decision
    secret = await Tokens(flow.bot.bot.store).create("ci", "*", "*", "test")
    async with httpx.AsyncClient(
        base_url=flow.bot.url, headers={"authorization": f"Bearer {secret}"}, timeout=30
    ) as api:
        assert (await api.get("/api/v1/runs/1")).json()["decision"] == "pending"
        polled = asyncio.create_task(api.get("/api/v1/runs/1", params={"wait": 20}))
        panel = await flow.panel(1)
        await flow.bot.until(lambda: has_approve(flow, panel))
        await flow.bot.standin.click(SRE1, panel.ts, CHANNEL, APPROVE, block_id="signoff:sre")
        assert (await polled).json()["decision"] == "go"

    # GitHub keeps its rejection: no second answer; the thread says to re-run the job
    await flow.bot.until(lambda: any("GitHub is not told this GO" in t for t in thread_texts(flow)))
    await flow.app.reconciler.run_once()
    assert flow.decisions(job) == ["rejected"] and job.state == "rejected"

    # the job re-run in GitHub follows the reopened run: approved with its GO at once
    rerun = flow.gh.add_job("acme", "checkout", 601, "production", ref=TAG)
    again = await flow.gh.request_review(rerun)
    assert again.status_code == 202 and '"created":false' in again.response_body, again
    await flow.bot.until(lambda: rerun.state == "approved", 30)
    assert "**GO**" in (rerun.decision_comment or "")
    assert any("was reopened after its earlier decision" in c.text for c in rerun.comments)
    assert len(flow.runs()) == 1
    # its redelivery, once the seen-request claim is gone, is still the same run
    await flow.app.answers.github.forget_seen(seen_key(again.guid))
    redelivered = await flow.gh.redeliver(again.guid)
    assert '"created":false' in redelivered.response_body, redelivered
    await flow.app.reconciler.run_once()
    assert flow.decisions(job) == ["rejected", "approved"] and len(flow.runs()) == 1
    # the GO told, a later re-run is a run of its own, as before (not started here)
    assert not await flow.app.answers.rerun(1, "00000000-0000-4000-8000-000000000000")


async def test_a_rejection_github_never_took_is_withdrawn_at_the_reopen(reopen: Flow) -> None:
    flow = reopen
    flow.gh.fail(times=2, status=502, route="review")  # the started comment and the NO-GO
    job = flow.gh.add_job("acme", "checkout", 602, "production", ref=TAG)
    assert (await flow.gh.request_review(job)).status_code == 202

    def both_failed() -> bool:
        return len([a for a in flow.answers() if a.attempts >= 1]) == 2

    await flow.bot.until(both_failed, 30)
    assert job.state == "waiting"
    await flow.bot.settle()

    flow.served.healthy = True  # type: ignore[attr-defined]
    said = await flow.bot.command("rerun 1", user=SRE1)
    assert "its early NO-GO is reopened" in said, said
    await asyncio.sleep(0.4)  # the failed claims are stale now
    await flow.app.reconciler.run_once()  # the old NO-GO is withdrawn, not sent
    assert job.state == "waiting" and flow.decisions(job) == []
    assert [a.key for a in flow.answers() if a.state] == []
    assert not any("GitHub already" in t for t in thread_texts(flow))
    await flow.bot.settle()

    panel = await flow.panel(1)
    await flow.bot.until(lambda: has_approve(flow, panel))
    await flow.bot.standin.click(SRE1, panel.ts, CHANNEL, APPROVE, block_id="signoff:sre")
    await flow.bot.until(lambda: job.state == "approved", 30)
    assert flow.decisions(job) == ["approved"]
    assert not any("GitHub is not told" in t for t in thread_texts(flow))


async def test_a_job_re_run_while_the_reopened_run_runs_gets_its_next_decision(
    reopen: Flow,
) -> None:
    flow = reopen
    job = flow.gh.add_job("acme", "checkout", 603, "production", ref=TAG)
    assert (await flow.gh.request_review(job)).status_code == 202
    await flow.bot.until(lambda: any(a.state and a.answered_at for a in flow.answers()), 30)
    assert job.state == "rejected"
    await flow.bot.settle()

    flow.served.healthy = True  # type: ignore[attr-defined]
    assert "reopened" in await flow.bot.command("rerun 1", user=SRE1)
    await flow.bot.until(lambda: any("GitHub already failed" in t for t in thread_texts(flow)))
    rerun = flow.gh.add_job("acme", "checkout", 603, "production", ref=TAG)
    again = await flow.gh.request_review(rerun)
    assert '"created":false' in again.response_body, again
    await flow.bot.until(lambda: bool(rerun.comments))
    assert "waits for its next one" in rerun.comments[0].text
    await flow.bot.settle()

    panel = await flow.panel(1)
    await flow.bot.until(lambda: has_approve(flow, panel))
    await flow.bot.standin.click(SRE1, panel.ts, CHANNEL, APPROVE, block_id="signoff:sre")
    await flow.bot.until(lambda: rerun.state == "approved", 30)
    assert len(flow.runs()) == 1 and flow.decisions(job) == ["rejected", "approved"]
    await flow.bot.settle()
    assert not any("GitHub is not told" in t for t in thread_texts(flow))
    assert (await flow.app.reconciler.run_once()).decided == 0  # the re-run no longer waits


def test_the_thread_notes_escape_the_jobs_names() -> None:
    name = job_name("acme", "checkout", 601, "prod <@U0RM> & *all*\nnow")
    assert name == "*acme/checkout* run 601 at *prod &lt;@U0RM&gt; &amp; *all* now*"
    assert "GitHub already failed (rejected) the job" in reopened_note(name, "rejected")
    note = decided_again_note(name, "rejected", "GO")
    assert note.startswith(":information_source: GitHub is not told this GO")


def test_a_refusal_naming_the_other_decision_is_not_taken_for_ours() -> None:
    approve = GitHubAnswer(key="github:1:decision:9", run_id=1, state="approved", comment="GO")
    comment = GitHubAnswer(key="github:1:checks:2", run_id=1, comment="checks done")
    rejected = GitHubProblem("GitHub answered 422: already been rejected", 422)
    approved = GitHubProblem("GitHub answered 422: already been approved", 422)
    assert held_otherwise(rejected, approve) and not settled_by(rejected, approve)
    assert settled_by(approved, approve) and not held_otherwise(approved, approve)
    assert settled_by(rejected, comment)
    assert not settled_by(GitHubProblem("GitHub answered 502", 502), approve)
