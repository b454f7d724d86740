"""The pipelines' API end to end: a real bot over real HTTP with the Slack stand-in, a
pipeline token requesting a run, sign-offs clicked in the stand-in, and waiters woken
by the decision."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, select

from bot.slack.actions import APPROVE, REASON_BLOCK, REASON_INPUT, REJECT, REJECT_MODAL
from bot.store.models import AuditEvent, Run, SlackThread
from bot.store.tokens import Tokens
from slack_standin import Message
from tests.slackbot import CHANNEL, Harness, running_bot
from tests.support.signin import signed_in
from tests.support.target import RunningTarget

RM, SRE1, SEC = "U0RM", "U0SRE1", "U0SEC1"

CONFIG = """\
channel: C0RELEASES
roles:
  sre: {{label: SRE, members: [U0SRE1, U0SRE2, U0RM]}}
  security: {{label: Security, members: [U0SEC1]}}
policy:
  required_signoffs: [sre]
environments:
  staging:
    base_url: {url}
    plan: standard
    ca_bundle: {ca}
    supersede: true
  prod:
    base_url: {url}
    plan: standard
    ca_bundle: {ca}
plans:
  standard:
    checks:
      - {{id: smoke, type: http, requests: [{{path: /healthz}}]}}
"""

BODY: dict[str, Any] = {
    "service": "checkout-api",
    "version": "2.14.0",
    "environment": "staging",
    "commit": "9f2c1e0a7b3d",
    "source": {
        "kind": "github",
        "url": "https://github.example/acme/checkout/actions/runs/77",
        "triggered_by": "alice <!channel>",
        "name": "deploy.yml",
    },
}


def config_for(tmp_path: Path, target: RunningTarget) -> Path:
    path = tmp_path / "preprod.yml"
    path.write_text(CONFIG.format(url=target.https_url, ca=target.ca_bundle))
    return path


@pytest.fixture
async def harness(healthy_target: RunningTarget, tmp_path: Path) -> AsyncIterator[Harness]:
    """The bot at its real address (``web``), so that Sign in with Slack returns to it."""
    async with running_bot(config_for(tmp_path, healthy_target), tmp_path, web=True) as found:
        yield found


async def token(
    harness: Harness, name: str = "gh", service: str = "checkout-*", environment: str = "*"
) -> str:
    return await Tokens(harness.bot.store).create(name, service, environment, "test")


def client(harness: Harness, secret: str | None) -> httpx.AsyncClient:
    headers = {"authorization": f"Bearer {secret}"} if secret else {}
    return httpx.AsyncClient(base_url=harness.url, headers=headers, timeout=90)


async def request(http: httpx.AsyncClient, key: str, **changes: Any) -> httpx.Response:
    return await http.post(
        "/api/v1/requests", json={**BODY, **changes}, headers={"Idempotency-Key": key}
    )


def panel_of(harness: Harness, run_id: int) -> Message | None:
    with Session(harness.bot.store.engine) as session:
        thread = session.get(SlackThread, run_id)
    if thread is None or thread.gate_ts is None:
        return None
    messages = harness.standin.thread(CHANNEL, thread.parent_ts)
    return next((m for m in messages if m.ts == thread.gate_ts), None)


async def signable(harness: Harness, run_id: int) -> Message:
    await harness.until(lambda: panel_of(harness, run_id) is not None, 60)
    found = panel_of(harness, run_id)
    assert found is not None
    return found


def actions(harness: Harness, run_id: int) -> list[tuple[str, str]]:
    with Session(harness.bot.store.engine) as session:
        query = select(AuditEvent).where(AuditEvent.run_id == run_id)
        return [(e.action, e.actor) for e in session.exec(query.order_by(col(AuditEvent.seq)))]


def announcements(harness: Harness, word: str) -> list[Message]:
    return [
        m
        for m in harness.standin.channel(CHANNEL).messages
        if m.thread_ts is None and word in m.text and "Pre-production" not in m.text
    ]


async def test_a_pipeline_requests_waits_and_is_woken_by_the_deciding_click(
    harness: Harness,
) -> None:
    async with client(harness, await token(harness)) as http:
        first = await request(http, "build-77")
        assert first.status_code == 201, first.text
        view = first.json()
        assert first.headers["location"] == f"/api/v1/runs/{view['id']}"
        assert (view["decision"], view["commit"], view["source"]["kind"]) == (
            "pending",
            "9f2c1e0a7b3d",
            "github",
        )
        # the same key is the same run
        again = await request(http, "build-77")
        assert (again.status_code, again.json()["id"]) == (200, view["id"])
        # the thread names the pipeline, the commit and who triggered it, escaped
        await harness.until(lambda: bool(harness.parents()))
        [parent] = harness.parents()
        text = str(parent.blocks)
        assert (
            "<https://github.example/acme/checkout/actions/runs/77|GitHub Actions deploy.yml>"
            in text
        )
        assert "commit `9f2c1e0a7b3d`" in text and "alice &lt;!channel&gt;" in text
        assert "<!channel>" not in text
        panel = await signable(harness, view["id"])
        status = await http.get(f"/api/v1/runs/{view['id']}")
        assert status.json()["awaiting"] == [{"role": "sre", "label": "SRE"}]
        assert status.json()["checks"]["done"] == 1

        waiter = asyncio.create_task(http.get(f"/api/v1/runs/{view['id']}?wait=30"))
        await asyncio.sleep(0.5)
        assert not waiter.done()
        clicked = time.monotonic()
        await harness.standin.click(SRE1, panel.ts, CHANNEL, APPROVE, block_id="signoff:sre")
        answer = await waiter
        woke = time.monotonic() - clicked
        assert answer.status_code == 200
        decided = answer.json()
        assert decided["decision"] == "go" and woke < 3.0, (decided["decision"], woke)
        assert decided["signoffs"] == [
            {"role": "sre", "user": SRE1, "vote": "approve", "reason": ""}
        ]
        assert decided["audit"]["seq"] > 0 and len(decided["audit"]["hash"]) == 64
        await harness.until(lambda: bool(announcements(harness, "GO")))
        assert "GitHub Actions deploy.yml" in str(announcements(harness, "GO")[0].blocks)
    assert ("run.started", "token:gh") in actions(harness, view["id"])


async def test_a_rejection_wakes_the_waiter_with_no_go(harness: Harness) -> None:
    async with client(harness, await token(harness)) as http:
        view = (await request(http, "k1")).json()
        panel = await signable(harness, view["id"])
        waiter = asyncio.create_task(http.get(f"/api/v1/runs/{view['id']}?wait=30"))
        await harness.standin.click(SRE1, panel.ts, CHANNEL, REJECT, block_id="signoff:sre")
        await harness.until(lambda: bool(harness.standin.modals(SRE1)))
        reason = "smoke is green but the canary is not ready"
        await harness.standin.submit_view(
            SRE1, REJECT_MODAL, {REASON_BLOCK: {REASON_INPUT: reason}}
        )
        answer = (await waiter).json()
        assert answer["decision"] == "no-go"
        assert (
            answer["signoffs"][0]["vote"] == "reject" and answer["signoffs"][0]["reason"] == reason
        )
        # a waiter on a decided run answers at once; a short wait on a pending one ends in time
        started = time.monotonic()
        assert (await http.get(f"/api/v1/runs/{view['id']}?wait=30")).json()["decision"] == "no-go"
        assert time.monotonic() - started < 2


async def test_scope_revocation_cookies_and_pages(harness: Harness) -> None:
    mine, other = await token(harness), await token(harness, "payments", "payments-*", "prod")
    async with client(harness, mine) as http, client(harness, other) as foreign:
        view = (await request(http, "k1")).json()
        # outside the scope: 403 to request (and kept in the trail), 404 to read
        refused = await request(foreign, "k2")
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
        for path in (f"/api/v1/runs/{view['id']}", f"/api/v1/runs/{view['id']}/argo"):
            hidden = await foreign.get(path)
            assert (hidden.status_code, hidden.json()["error"]["code"]) == (404, "not_found")
        assert (await foreign.get("/api/v1/runs/99999")).status_code == 404
        with Session(harness.bot.store.engine) as session:
            refusals = session.exec(select(AuditEvent).where(AuditEvent.action == "api.refused"))
            assert [(e.actor, e.details["service"]) for e in refusals] == [
                ("token:payments", "checkout-api")
            ]
        # no token, a junk one, a revoked one: 401
        async with client(harness, None) as anonymous:
            answer = await anonymous.get(f"/api/v1/runs/{view['id']}")
            assert answer.status_code == 401 and "Bearer" in answer.headers["www-authenticate"]
        async with client(harness, mine[:-2] + "xx") as forged:
            assert (await forged.get(f"/api/v1/runs/{view['id']}")).status_code == 401
        await Tokens(harness.bot.store).revoke("gh", "test")
        assert (await http.get(f"/api/v1/runs/{view['id']}")).status_code == 401
    # a signed-in web session opens nothing in the API, and a token nothing in the pages
    pages = await signed_in(harness.url, harness.standin, RM)
    async with pages:
        assert (await pages.get("/runs")).status_code == 200
        assert (await pages.get(f"/api/v1/runs/{view['id']}")).status_code == 401
    async with client(harness, other) as foreign:
        page = await foreign.get("/runs")
        assert page.status_code == 302 and "/auth/login" in page.headers["location"]


async def test_bad_requests_get_clear_errors(harness: Harness) -> None:
    async with client(harness, await token(harness)) as http:
        cases = [
            (await http.post("/api/v1/requests", json=BODY), 400, "no_idempotency_key"),
            (await request(http, "x" * 201), 400, "bad_idempotency_key"),
            (
                await http.post(
                    "/api/v1/requests", content=b"{nope", headers={"Idempotency-Key": "a"}
                ),
                400,
                "bad_json",
            ),
            (
                await http.post(
                    "/api/v1/requests", content=b"[" * 20_000, headers={"Idempotency-Key": "a"}
                ),
                413,
                "too_large",
            ),
            (await request(http, "b", version="2.0 <script>"), 422, "invalid"),
            (await request(http, "c", source={"kind": "travis"}), 422, "invalid"),
            (
                await request(http, "d", source={"kind": "other", "url": "javascript:x"}),
                422,
                "invalid",
            ),
            (await request(http, "e", service="payments"), 403, "forbidden"),
            (await http.get("/api/v1/runs/1?wait=61"), 400, "bad_wait"),
        ]
        for answer, status, code in cases:
            assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)
            assert len(answer.json()["error"]["message"].splitlines()) == 1
        # an environment in scope that the config does not know: the engine's words
        unknown = await request(http, "f", environment="qa")
        assert unknown.status_code == 422 and "qa" in unknown.json()["error"]["message"]
        # nothing was started by the failed request, and its key can be used again
        assert (await request(http, "f")).status_code == 201


async def test_the_same_key_at_the_same_moment_is_one_run(harness: Harness) -> None:
    async with client(harness, await token(harness)) as http:
        answers = await asyncio.gather(*(request(http, "same") for _ in range(4)))
        assert sorted(a.status_code for a in answers) == [200, 200, 200, 201]
        assert len({a.json()["id"] for a in answers}) == 1
        with Session(harness.bot.store.engine) as session:
            assert len(session.exec(select(Run)).all()) == 1
        await harness.settle()
