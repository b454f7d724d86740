"""Supersede, the Argo Rollouts / Flagger / Spinnaker anchors with their documented
answers, and the OpenAPI document against the app's routes."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from sqlmodel import Session, select
from starlette.routing import Route

from bot.slack.actions import APPROVE
from bot.store.models import AuditEvent
from bot.web.app import create_app
from tests.slackbot import CHANNEL, Harness, running_bot
from tests.test_api import (
    SRE1,
    announcements,
    client,
    harness,
    request,
    signable,
    token,
)

__all__ = ["harness"]  # the fixture


async def test_a_newer_version_supersedes_older_undecided_runs(harness: Harness) -> None:
    async with client(harness, await token(harness)) as http:
        old = (await request(http, "k1")).json()
        await signable(harness, old["id"])
        other_env = (await request(http, "k2", environment="prod")).json()
        waiter = asyncio.create_task(http.get(f"/api/v1/runs/{old['id']}?wait=30"))
        await asyncio.sleep(0.3)
        newer = await request(http, "k3", version="2.15.0")
        assert newer.status_code == 201
        new_id = newer.json()["id"]
        woken = (await waiter).json()
        assert (woken["decision"], woken["superseded_by"]) == ("superseded", new_id)
        assert woken["reasons"] == [f"superseded by run #{new_id} (version 2.15.0)"]
        # the same version again supersedes nothing; prod does not supersede at all
        same = (await request(http, "k4", version="2.15.0")).json()
        for run_id in (new_id, other_env["id"]):
            assert (await http.get(f"/api/v1/runs/{run_id}")).json()["decision"] == "pending"
        assert same["decision"] == "pending"
        # the thread is told through the gate's RunDecided, once
        await harness.until(lambda: len(announcements(harness, "SUPERSEDED")) == 1)
        [told] = announcements(harness, "SUPERSEDED")
        assert f"superseded by run #{new_id}" in str(told.blocks)
        await harness.settle()
    with Session(harness.bot.store.engine) as session:
        decided = session.exec(
            select(AuditEvent).where(
                AuditEvent.run_id == old["id"], AuditEvent.action == "gate.decision"
            )
        ).all()
    assert [(e.actor, e.details["outcome"]) for e in decided] == [("token:gh", "superseded")]


async def test_argo_flagger_and_spinnaker_get_their_documented_answers(harness: Harness) -> None:
    async with client(harness, await token(harness)) as http:
        started = await http.post(
            "/api/v1/spinnaker",
            json={
                "service": "checkout-api",
                "version": "3.0.0",
                "environment": "prod",
                "source": {"kind": "spinnaker", "name": "deploy-prod"},
            },
            headers={"X-Spinnaker-Execution-Id": "01HEXEC"},
        )
        assert started.status_code == 201, started.text
        run_id = started.json()["id"]
        assert started.json() == {
            "id": run_id,
            "status_url": f"/api/v1/runs/{run_id}",
            "decision": "pending",
        }
        assert started.headers["location"] == f"/api/v1/runs/{run_id}"
        retried = await http.post(
            "/api/v1/spinnaker",
            json={
                "service": "checkout-api",
                "version": "3.0.0",
                "environment": "prod",
                "source": {"kind": "spinnaker"},
            },
            headers={"X-Spinnaker-Execution-Id": "01HEXEC"},
        )
        assert (retried.status_code, retried.json()["id"]) == (200, run_id)

        argo = await http.get(f"/api/v1/runs/{run_id}/argo")
        assert (argo.status_code, argo.json()) == (200, {"decision": "pending"})
        by_id = {
            "name": "checkout",
            "namespace": "shop",
            "phase": "Progressing",
            "checksum": "abc",
            "metadata": {"run": str(run_id)},
        }
        by_release = {
            **by_id,
            "metadata": {"service": "checkout-api", "version": "3.0.0", "environment": "prod"},
        }
        unmatched = {
            **by_id,
            "metadata": {"service": "checkout-api", "version": "9", "environment": "prod"},
        }
        for body in (by_id, by_release, unmatched):
            assert (await http.post("/api/v1/flagger", json=body)).status_code == 403

        panel = await signable(harness, run_id)
        await harness.standin.click(SRE1, panel.ts, CHANNEL, APPROVE, block_id="signoff:sre")
        await harness.until(lambda: bool(announcements(harness, "GO")))
        assert (await http.get(f"/api/v1/runs/{run_id}/argo")).json() == {"decision": "go"}
        for body in (by_id, by_release):
            approved = await http.post("/api/v1/flagger", json=body)
            assert (approved.status_code, approved.json()["decision"]) == (200, "go")
        assert (await http.post("/api/v1/flagger", json=unmatched)).status_code == 403
        assert (await http.get(f"/api/v1/runs/{run_id}")).json()["decision"] == "go"


async def test_the_openapi_document_and_the_routes_agree(harness: Harness) -> None:
    app = create_app(harness.bot)
    routes = {
        (re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path), method.lower())
        for route in app.routes
        if isinstance(route, Route) and route.path.startswith("/api/")
        for method in route.methods or ()
        if method != "HEAD"
    }
    async with client(harness, None) as http:
        document = (await http.get("/api/v1/openapi.json")).json()
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert routes == documented
    assert len(routes) == 6
    schemas = document["components"]["schemas"]
    run_view = schemas["RunView"]["properties"]
    assert set(run_view) == {
        "id",
        "service",
        "version",
        "environment",
        "plan",
        "status",
        "decision",
        "reasons",
        "checks",
        "awaiting",
        "signoffs",
        "links",
        "audit",
        "superseded_by",
        "source",
        "commit",
    }
    for ops in document["paths"].values():
        for op in ops.values():
            refs = re.findall(r"#/components/schemas/(\w+)", str(op))
            assert all(ref in schemas for ref in refs)


HANGING = """\
channel: C0RELEASES
roles:
  sre: {label: SRE, members: [U0SRE1]}
environments:
  canary:
    base_url: http://127.0.0.1:9
    plan: slow
    supersede: true
plans:
  slow:
    checks:
      - {id: soak, type: scripted, outcome: hang, timeout: 60s}
"""


@pytest.mark.usefixtures("scripted_kinds")
async def test_a_superseded_run_still_checking_is_cancelled_and_stays_superseded(
    tmp_path: Path,
) -> None:
    config = tmp_path / "preprod.yml"
    config.write_text(HANGING)
    async with running_bot(config, tmp_path) as bot, client(bot, await token(bot)) as http:
        body = {
            "service": "checkout-api",
            "version": "1.0.0",
            "environment": "canary",
            "source": {"kind": "argo"},
        }
        old = (
            await http.post("/api/v1/requests", json=body, headers={"Idempotency-Key": "a"})
        ).json()
        await bot.until(lambda: old["id"] in bot.bot.manager.tasks)
        newer = await http.post(
            "/api/v1/requests",
            json={**body, "version": "1.1.0"},
            headers={"Idempotency-Key": "b"},
        )
        assert newer.status_code == 201
        await bot.until(lambda: old["id"] not in bot.bot.manager.tasks)
        seen = (await http.get(f"/api/v1/runs/{old['id']}")).json()
        assert (seen["status"], seen["decision"]) == ("cancelled", "superseded")
        await bot.until(lambda: len(announcements(bot, "SUPERSEDED")) == 1)
        await asyncio.sleep(0.5)
        assert announcements(bot, "CANCELLED") == []
        await bot.bot.manager.cancel(newer.json()["id"], "test")
        await bot.settle()
