"""The GitHub deployment protection rule end to end: the GitHub stand-in delivers a
signed ``deployment_protection_rule`` webhook to a real bot over real HTTP, the run's
thread opens in the Slack stand-in, the checks run, a sign-off is clicked there, and the
stand-in records GitHub's ``approved`` / ``rejected`` with the comment. Also: a bad
signature, redeliveries, a 5xx storm, a dropped delivery found by the reconciler, an
unmapped environment, a re-run job, and a real serve SIGKILLed before GitHub's answer.
The parts without a bot are in tests/test_github_parts.py."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from bot.audit.chain import Action
from bot.audit.checkpoint import parse
from bot.gate.sweeps import Sweeps
from bot.github.answers import GitHubAnswers
from bot.github.reconcile import Reconciler
from bot.github.settings import (
    API_URL_ENV,
    APP_ID_ENV,
    PRIVATE_KEY_ENV,
    RECONCILE_ENV,
    WEBHOOK_SECRET_ENV,
)
from bot.github.wiring import GitHubApp
from bot.slack.actions import APPROVE, REASON_BLOCK, REASON_INPUT, REJECT, REJECT_MODAL
from bot.store.audit_log import AuditLog
from bot.store.models import GitHubAnswer, Run, SlackThread
from bot.store.runs import RunStore
from github_standin import GitHubStandIn, WaitingJob, sign
from slack_standin import Message
from tests.slackbot import CHANNEL, Harness, running_bot
from tests.support.plans import SMOKE_HEALTHZ, config_file, staging_config
from tests.support.processes import bots, until
from tests.support.target import RunningTarget

SRE1 = "U0SRE1"
TAG = "refs/tags/v2.14.0"

CONFIG = """\
channel: C0RELEASES
roles:
  sre: {{label: SRE, members: [U0SRE1, U0SRE2]}}
  security: {{label: Security, members: [U0SEC1]}}
policy:
  required_signoffs: [sre]
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
github:
  repositories:
    acme/checkout:
      environments:
        production: {{service: checkout-api, environment: staging, plan: standard}}
"""


@dataclass
class Flow:
    bot: Harness
    gh: GitHubStandIn

    @property
    def app(self) -> GitHubApp:
        assert self.bot.bot.github is not None
        return self.bot.bot.github

    def runs(self) -> list[Run]:
        with Session(self.bot.bot.store.engine) as session:
            return list(session.exec(select(Run)))

    def answers(self) -> list[GitHubAnswer]:
        with Session(self.bot.bot.store.engine) as session:
            return list(session.exec(select(GitHubAnswer)))

    def decisions(self, job: WaitingJob) -> list[object]:
        """The decisions GitHub took for ``job`` (204 answers with a state)."""
        tail = f"/runs/{job.run_id}/deployment_protection_rule"
        return [
            c.body["state"]
            for c in self.gh.calls_to("review")
            if c.path.endswith(tail) and c.status == 204 and "state" in c.body
        ]

    async def panel(self, run_id: int) -> Message:
        def found() -> Message | None:
            with Session(self.bot.bot.store.engine) as session:
                row = session.get(SlackThread, run_id)
            if row is None or row.gate_ts is None:
                return None
            messages = self.bot.standin.thread(CHANNEL, row.parent_ts)
            return next((m for m in messages if m.ts == row.gate_ts), None)

        await self.bot.until(lambda: found() is not None, 60)
        panel = found()
        assert panel is not None
        return panel


@pytest.fixture
async def flow(
    healthy_target: RunningTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Flow]:
    async with _flow(healthy_target, tmp_path, monkeypatch, "24h") as found:
        yield found


class _flow:
    """The GitHub stand-in, then the bot configured for it (its settings in the env)."""

    def __init__(
        self,
        target: RunningTarget,
        tmp: Path,
        patch: pytest.MonkeyPatch,
        deadline: str,
        **kw: float,
    ) -> None:
        self.target, self.tmp, self.patch, self.deadline, self.kw = target, tmp, patch, deadline, kw

    async def __aenter__(self) -> Flow:
        self.gh = await GitHubStandIn().start()
        key = self.tmp / "app.pem"
        key.write_text(self.gh.app_info.private_key_pem)
        self.patch.setenv(APP_ID_ENV, str(self.gh.app_info.app_id))
        self.patch.setenv(PRIVATE_KEY_ENV, str(key))
        self.patch.setenv(WEBHOOK_SECRET_ENV, self.gh.app_info.webhook_secret)
        self.patch.setenv(API_URL_ENV, self.gh.url)
        config = self.tmp / "preprod.yml"
        config.write_text(
            CONFIG.format(
                url=self.target.https_url, ca=self.target.ca_bundle, deadline=self.deadline
            )
        )
        self.running = running_bot(config, self.tmp, **self.kw)  # type: ignore[arg-type]
        harness = self.harness = await self.running.__aenter__()
        self.gh.hooks.url = f"{harness.url}/github/webhook"
        found = Flow(harness, self.gh)
        found.app.answers.stale_after = 0.3  # the reconciler may resend at once in tests
        return found

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.harness.settle()  # no run cut off mid-check by the teardown
        finally:
            try:
                await self.running.__aexit__(None, None, None)
            finally:
                await self.gh.stop()


async def test_webhook_thread_checks_signoff_and_approved_with_the_signer(flow: Flow) -> None:
    job = flow.gh.add_job("acme", "checkout", 501, "production", ref=TAG)
    delivery = await flow.gh.request_review(job)
    assert delivery.status_code == 202, delivery.response_body
    assert delivery.duration < 2.0, delivery.duration  # GitHub gives up after 10 s
    [run] = flow.runs()
    assert run.id is not None
    assert (run.service, run.version, run.environment) == ("checkout-api", "2.14.0", "staging")
    assert run.origin == {
        "kind": "github",
        "url": "https://github.com/acme/checkout/actions/runs/501",
        "name": "acme/checkout → production",
        "triggered_by": "octocat",
    }
    assert run.origin_commit == job.sha
    panel = await flow.panel(run.id)
    # the thread names GitHub as the source; progress reached GitHub as comments
    [parent] = flow.bot.parents()
    assert "GitHub Actions acme/checkout" in str(parent.blocks)
    await flow.bot.until(lambda: len(job.comments) == 2)
    texts = [c.text for c in job.comments]
    started = [t for t in texts if f"preprod run #{run.id} " in t and " started: " in t]
    checks = [t for t in texts if "checks done: 1 passed, 0 failed; awaiting SRE" in t]
    assert len(started) == len(checks) == 1 and "Slack thread" in started[0], texts
    # a redelivery and a second delivery for the same job are the same run
    again = await flow.gh.redeliver(delivery.guid)
    assert again.status_code == 200 and "duplicate" in again.response_body
    other = await flow.gh.request_review(job)
    assert other.status_code == 202 and '"created":false' in other.response_body
    assert len(flow.runs()) == 1

    await flow.bot.standin.click(SRE1, panel.ts, CHANNEL, APPROVE, block_id="signoff:sre")
    await flow.bot.until(lambda: job.state == "approved")
    assert job.decision_comment is not None
    assert "**GO**" in job.decision_comment and "Signed off by SRE: U0SRE1" in job.decision_comment
    assert f"/runs/{run.id})" in job.decision_comment
    # the answer carries the trail's head at the decision, as a checkpoint line
    [line] = re.findall(r"`(preprod-checkpoint [^`]+)`", job.decision_comment)
    published = parse(line)
    decided = await AuditLog(flow.bot.bot.store).last_of(run.id, Action.DECISION)
    assert decided is not None and (published.seq, published.head) == (decided.seq, decided.hash)
    assert flow.decisions(job) == ["approved"]
    key = f"github:{run.id}:decision"
    # marked answered once GitHub's 204 is back (GitHub decided a moment before)
    await flow.bot.until(lambda: any(a.key == key and a.answered_at for a in flow.answers()))
    [decision] = [a for a in flow.answers() if a.key == key]
    assert decision.state == "approved" and decision.attempts == 0
    # the reconciler finds nothing left to do
    done = await flow.app.reconciler.run_once()
    assert (done.decided, done.resent, done.redelivered) == (0, 0, 0)
    assert flow.decisions(job) == ["approved"]
    # the job re-run on GitHub (same workflow run, a new delivery) is a new run; its
    # redelivery is that run again
    rerun = flow.gh.add_job("acme", "checkout", 501, "production", ref=TAG)
    fresh = await flow.gh.request_review(rerun)
    assert fresh.status_code == 202 and '"created":true' in fresh.response_body
    assert '"created":false' in (await flow.gh.request_review(rerun)).response_body
    assert len(flow.runs()) == 2
    await flow.bot.settle()


async def test_a_rejection_reaches_github_with_the_reason(flow: Flow) -> None:
    job = flow.gh.add_job("acme", "checkout", 502, "Production")  # case as GitHub sends it
    assert (await flow.gh.request_review(job)).status_code == 202
    [run] = flow.runs()
    assert run.id is not None and run.version == job.sha[:7]
    panel = await flow.panel(run.id)
    await flow.bot.standin.click(SRE1, panel.ts, CHANNEL, REJECT, block_id="signoff:sre")
    await flow.bot.until(lambda: bool(flow.bot.standin.modals(SRE1)))
    reason = "canary not ready, see <@U0RM> [here](javascript:x)"
    await flow.bot.standin.submit_view(SRE1, REJECT_MODAL, {REASON_BLOCK: {REASON_INPUT: reason}})
    await flow.bot.until(lambda: job.state == "rejected")
    text = job.decision_comment or ""
    assert "**NO-GO**" in text
    assert "Rejected by SRE: U0SRE1" in text
    assert "canary not ready" in text and "](javascript:x)" not in text and "<@" not in text
    assert flow.decisions(job) == ["rejected"]


async def test_an_expired_run_is_rejected_as_expired(
    healthy_target: RunningTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _flow(healthy_target, tmp_path, monkeypatch, "2s") as flow:
        job = flow.gh.add_job("acme", "checkout", 503, "production", ref=TAG)
        assert (await flow.gh.request_review(job)).status_code == 202
        [run] = flow.runs()
        await asyncio.sleep(2.1)  # past the sign-off deadline
        assert await Sweeps(flow.bot.bot.gate).expire_due() == [run.id]  # what the sweep does
        await flow.bot.until(lambda: job.state == "rejected")
        assert "**expired**" in (job.decision_comment or "")
        assert "- the sign-off deadline passed" in (job.decision_comment or "")
        assert flow.decisions(job) == ["rejected"]


async def test_a_bad_signature_is_401_and_starts_nothing(flow: Flow) -> None:
    job = flow.gh.add_job("acme", "checkout", 504, "production")
    payload = flow.gh.requested_payload(job)
    body = json.dumps(payload).encode()
    headers = {
        "X-GitHub-Event": "deployment_protection_rule",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "Content-Type": "application/json",
    }
    async with httpx.AsyncClient(base_url=flow.bot.url) as http:
        forged = await http.post(
            "/github/webhook",
            content=body,
            headers={**headers, "X-Hub-Signature-256": sign("not the secret", body)},
        )
        unsigned = await http.post("/github/webhook", content=body, headers=headers)
        tampered = await http.post(
            "/github/webhook",
            content=body.replace(b"production", b"productiox"),
            headers={
                **headers,
                "X-Hub-Signature-256": sign(flow.gh.app_info.webhook_secret, body),
            },
        )
        huge = await http.post("/github/webhook", content=b"x" * (1024 * 1024 + 1), headers=headers)
    assert [a.status_code for a in (forged, unsigned, tampered, huge)] == [401, 401, 401, 413]
    assert flow.runs() == [] and job.state == "waiting"


async def test_a_5xx_storm_then_the_decision_arrives_once(flow: Flow) -> None:
    job = flow.gh.add_job("acme", "checkout", 505, "production", ref=TAG)
    assert (await flow.gh.request_review(job)).status_code == 202
    [run] = flow.runs()
    assert run.id is not None
    panel = await flow.panel(run.id)
    await flow.bot.until(lambda: len(job.comments) == 2)
    flow.gh.fail(times=6, status=502, route="review")  # more than one call's retries
    await flow.bot.standin.click(SRE1, panel.ts, CHANNEL, APPROVE, block_id="signoff:sre")
    key = f"github:{run.id}:decision"

    def failed_once() -> bool:
        return any(a.key == key and a.attempts >= 1 for a in flow.answers())

    await flow.bot.until(failed_once, 30)
    assert job.state == "waiting"
    for _ in range(20):
        await flow.app.reconciler.run_once()
        if job.state != "waiting":
            break
        await asyncio.sleep(0.35)
    assert job.state == "approved"
    assert flow.decisions(job) == ["approved"]
    assert len([c for c in flow.gh.calls_to("review") if c.status == 502]) == 6


async def test_a_lost_answer_then_422_already_decided_counts_as_done(flow: Flow) -> None:
    """GitHub took the decision but the bot never heard (it died): the retry's 422
    "already approved" marks it answered, and nothing is sent twice."""
    job = flow.gh.add_job("acme", "checkout", 506, "production", ref=TAG)
    assert (await flow.gh.request_review(job)).status_code == 202
    [run] = flow.runs()
    assert run.id is not None
    key = f"github:{run.id}:decision"
    job.state = "approved"  # decided on GitHub by the answer whose reply was lost
    store = flow.app.answers.github
    assert await store.owe(key, run.id, "approved", "GO")
    [answer] = [a for a in flow.answers() if a.key == key]
    assert await flow.app.answers.send(answer)
    [after] = [a for a in flow.answers() if a.key == key]
    assert after.answered_at is not None


async def test_a_dropped_delivery_is_found_redelivered_and_answered(flow: Flow) -> None:
    job = flow.gh.add_job("acme", "checkout", 507, "production", ref=TAG)
    flow.gh.hooks.drop(1)
    lost = await flow.gh.request_review(job)
    assert lost.dropped and flow.runs() == []
    done = await flow.app.reconciler.run_once()
    assert done.redelivered == 1
    await flow.bot.until(lambda: flow.gh.hooks.find(lost.guid).done)  # GitHub sends it later
    [run] = flow.runs()
    assert run.id is not None
    assert flow.gh.hooks.find(lost.guid).redelivery
    # nothing left to redeliver
    assert (await flow.app.reconciler.run_once()).redelivered == 0
    panel = await flow.panel(run.id)
    await flow.bot.standin.click(SRE1, panel.ts, CHANNEL, APPROVE, block_id="signoff:sre")
    await flow.bot.until(lambda: job.state == "approved")
    assert flow.decisions(job) == ["approved"]


async def test_deliveries_answered_late_are_not_redelivered_on_postgres(
    healthy_target: RunningTarget,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    postgres_database: str,
) -> None:
    """GitHub lists a delivery the bot answered after GitHub's 10 s as failed. The bot
    has it (its run started; or, unmapped, its claim is recorded), on this replica or
    another sharing the database: redelivering it, pass after pass, was the loop seen on
    PostgreSQL under load. Only the delivery that truly never arrived is redelivered."""
    async with _flow(
        healthy_target, tmp_path, monkeypatch, "24h", database_url=postgres_database
    ) as flow:  # type: ignore[arg-type]
        late_jobs = [
            flow.gh.add_job("acme", "checkout", 701, "production", ref=TAG),
            flow.gh.add_job("acme", "checkout", 702, "qa"),  # unmapped: no run, a claim
        ]
        late = [await flow.gh.request_review(job) for job in late_jobs]
        assert [d.status_code for d in late] == [202, 202]
        for delivery in late:  # GitHub gave up before the bot's answer came
            delivery.status_code, delivery.error, delivery.response_body = 0, "ReadTimeout", ""
        flow.gh.hooks.drop(1)
        lost = await flow.gh.request_review(
            flow.gh.add_job("acme", "checkout", 703, "production", ref=TAG)
        )
        other = RunStore(postgres_database)  # another replica's view of the database
        try:
            elsewhere = Reconciler(
                GitHubAnswers(other, flow.app.client, lambda run: f"/runs/{run}"),
                flow.app.reconciler.gate,
                flow.app.reconciler.deliveries,
            )
            assert (await elsewhere.run_once()).redelivered == 1
        finally:
            other.engine.dispose()
        await flow.bot.until(lambda: flow.gh.hooks.find(lost.guid).done)
        assert flow.gh.hooks.find(lost.guid).ok
        for _ in range(2):  # later passes: nothing more to redeliver
            assert (await flow.app.reconciler.run_once()).redelivered == 0
        redelivered = [d.guid for d in flow.gh.hooks.deliveries if d.redelivery]
        assert redelivered == [lost.guid]
        assert len(flow.runs()) == 2


async def test_the_started_comment_waits_for_the_thread_without_polling_it(
    flow: Flow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While Slack is down the thread stays closed: the "started" comment waits for the
    opening instead of reading the thread every 0.2 s (a burst of deliveries made
    ~1,000 reads a second of that, in the pool every request's reads queue in)."""
    store = flow.bot.bot.store
    reads: list[int] = []
    real = store.get_thread

    async def counted(run_id: int) -> SlackThread | None:
        reads.append(run_id)
        return await real(run_id)

    monkeypatch.setattr(store, "get_thread", counted)
    flow.bot.standin.outage(4.0)
    job = flow.gh.add_job("acme", "checkout", 509, "production", ref=TAG)
    assert (await flow.gh.request_review(job)).status_code == 202
    [run] = flow.runs()
    await flow.bot.until(lambda: len(job.comments) >= 1, 40)
    assert "Slack thread" in job.comments[0].text, job.comments[0].text
    assert 1 <= reads.count(run.id) <= 5, reads


async def test_a_new_job_is_answered_after_few_database_calls(
    flow: Flow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before its 2xx a delivery claims its GUID, starts the run and records the job; it
    no longer reads the run's whole view (GitHub's 10 s is shared by a burst of
    deliveries, whose calls queue in one thread pool)."""
    store = flow.bot.bot.store
    calls: list[tuple[object, str]] = []
    real = store._call

    async def counted(fn: Any, **options: Any) -> Any:
        name = fn.__qualname__.removesuffix(".<locals>.work")
        calls.append(
            (asyncio.current_task(), name if "_insert_runs" in name else name.split(".")[0])
        )
        return await real(fn, **options)

    monkeypatch.setattr(store, "_call", counted)
    job = flow.gh.add_job("acme", "checkout", 510, "production", ref=TAG)
    answered = await flow.gh.request_review(job)
    assert answered.status_code == 202 and '"created":true' in answered.response_body
    # the GUID's claim and the run are written by group tasks (bot/store/together.py)
    assert [what for _, what in calls].count("SeenRequests") == 1, calls
    assert [what for _, what in calls].count("RunStore._insert_runs") == 1, calls
    handler = next(task for task, what in calls if what == "Requests")
    made = [what for task, what in calls if task is handler]  # not the run's own work
    assert made == ["Requests", "Requests", "GitHubStore"], made


async def test_an_unmapped_environment_is_answered_and_rejected(flow: Flow) -> None:
    job = flow.gh.add_job("acme", "checkout", 508, "qa")
    delivery = await flow.gh.request_review(job)
    assert delivery.status_code == 202 and "unmapped" in delivery.response_body
    await flow.bot.until(lambda: job.state == "rejected")
    assert "no mapping for acme/checkout environment qa" in (job.decision_comment or "")
    assert flow.runs() == []


CRASH_GITHUB = """\
github:
  repositories:
    acme/checkout: {environments: {production: {service: checkout-api, environment: staging}}}
"""


async def test_a_serve_killed_between_the_click_and_githubs_answer_decides_once(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    """A real ``preprod serve`` is SIGKILLed while GitHub answers 503 to the decision it
    owes; after a restart the decision reaches GitHub exactly once."""
    text = staging_config(healthy_target.http_url, SMOKE_HEALTHZ, tail=CRASH_GITHUB)
    config = config_file(tmp_path, text)
    async with GitHubStandIn() as gh:
        key = tmp_path / "app.pem"
        key.write_text(gh.app_info.private_key_pem)
        env = {
            APP_ID_ENV: str(gh.app_info.app_id),
            PRIVATE_KEY_ENV: str(key),
            WEBHOOK_SECRET_ENV: gh.app_info.webhook_secret,
            API_URL_ENV: gh.url,
            RECONCILE_ENV: "1",
        }
        async with bots(config, tmp_path, lease_ttl=1.5, **env) as group:
            serve = group.serve()
            gh.hooks.url = f"{serve.url}/github/webhook"
            job = gh.add_job("acme", "checkout", 601, "production", ref=TAG)
            assert (await gh.request_review(job)).status_code == 202

            def panel() -> str | None:
                parents = group.parents()
                if not parents:
                    return None
                found = [
                    m for m in group.standin.thread(CHANNEL, parents[0].ts) if m.button_labels()
                ]
                return found[0].ts if found else None

            await until(lambda: panel() is not None and len(job.comments) == 2, timeout=60)
            ts = panel()
            assert ts is not None
            gh.fail(times=4, status=503, route="review")  # one call's retries, ~3.5 s
            await group.standin.click(SRE1, ts, CHANNEL, APPROVE, block_id="signoff:sre")
            owed = "SELECT count(*) FROM githubanswer WHERE state IS NOT NULL"
            await until(lambda: group.query(owed) == [(1,)], timeout=30)
            group.kill(serve)
            assert job.state == "waiting"

            serve = group.serve()
            gh.hooks.url = f"{serve.url}/github/webhook"
            await until(lambda: job.state == "approved", timeout=60)
            await asyncio.sleep(2.5)  # two more reconciler passes: a double would show
            sent = [c for c in gh.calls_to("review") if "state" in c.body and c.status != 503]
            assert [(c.body["state"], c.status) for c in sent] == [("approved", 204)]
            answered = "SELECT count(*) FROM githubanswer WHERE answered_at IS NULL"
            assert group.query(answered) == [(0,)]
            assert "Traceback" not in group.logs()
