"""The GitHub stand-in over real HTTP: App JWTs and installation tokens, the protection
rule's review rules, fault injection, signed webhook deliveries, payloads in GitHub's
own schema (githubkit's models), and the escaped web view."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import githubkit.webhooks
import httpx
import jwt
import pytest
from githubkit_schemas.latest.models import (
    HookDeliveryItem,
    WebhookDeploymentProtectionRuleRequested,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.github import webhook
from github_standin import MAX_COMMENT_CHARS, MAX_PROGRESS_COMMENTS, App, GitHubStandIn, sign
from slack_standin.serving import StandInServer

VECTOR_SECRET = "It's a Secret to Everybody"
VECTOR_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


@pytest.fixture(scope="module")
def app_keys() -> App:
    """One RSA key pair for the module (generating one takes a moment)."""
    return App()


@pytest.fixture
async def standin(app_keys: App) -> AsyncIterator[GitHubStandIn]:
    app = App(
        private_key_pem=app_keys.private_key_pem,
        public_key_pem=app_keys.public_key_pem,
        client_id=app_keys.client_id,
    )
    async with GitHubStandIn(app=app, installations={42: "acme", 7: "other"}) as gh:
        yield gh


def app_jwt(
    app: App,
    *,
    iat: float | None = None,
    exp: float | None = None,
    iss: Any = None,
    key: str | None = None,
) -> str:
    now = datetime.now(UTC).timestamp()
    claims = {
        "iat": int(now - 60 if iat is None else iat),
        "exp": int(now + 540 if exp is None else exp),
        "iss": str(app.app_id if iss is None else iss),
    }
    return jwt.encode(claims, key or app.private_key_pem, algorithm="RS256")


async def mint(gh: GitHubStandIn, token: str, installation: int = 42) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(
            f"{gh.url}/app/installations/{installation}/access_tokens",
            headers={"Authorization": f"Bearer {token}"},
        )


async def review(gh: GitHubStandIn, token: str, body: Any, run: int = 99) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(
            f"{gh.url}/repos/acme/shop/actions/runs/{run}/deployment_protection_rule",
            headers={"Authorization": f"token {token}"},
            json=body,
        )


async def installation_token(gh: GitHubStandIn, installation: int = 42) -> str:
    answer = await mint(gh, app_jwt(gh.app_info), installation)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


def test_hmac_test_vector() -> None:
    assert sign(VECTOR_SECRET, b"Hello, World!") == VECTOR_SIGNATURE
    assert webhook.signature(VECTOR_SECRET, b"Hello, World!") == VECTOR_SIGNATURE


# -- installation tokens -------------------------------------------------------------------


async def test_valid_jwt_gets_an_installation_token_for_an_hour(standin: GitHubStandIn) -> None:
    for iss in (standin.app_info.app_id, standin.app_info.client_id):
        answer = await mint(standin, app_jwt(standin.app_info, iss=iss))
        assert answer.status_code == 201
        body = answer.json()
        assert body["token"].startswith("ghs_") and len(body["token"]) == 40
        expires = datetime.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%S%z")
        assert 3590 < (expires - datetime.now(UTC)).total_seconds() <= 3600


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"exp": -10}, "'Expiration time' claim ('exp') must be a numeric value"),
        ({"exp": 900}, "'Expiration time' claim ('exp') is too far in the future"),
        ({"iat": 300}, "'Issued at' claim ('iat') must be an Integer"),
        ({"iss": 999}, "Integration not found"),
    ],
)
async def test_bad_jwt_claims_get_401_in_githubs_shape(
    standin: GitHubStandIn, claims: dict[str, int], message: str
) -> None:
    now = datetime.now(UTC).timestamp()
    shifted = {k: now + v if k != "iss" else v for k, v in claims.items()}
    answer = await mint(standin, app_jwt(standin.app_info, **shifted))
    assert answer.status_code == 401
    body = answer.json()
    assert body["message"].startswith(message)
    assert body["documentation_url"].startswith("https://docs.github.com/")


async def test_forged_or_missing_jwt_and_unknown_installation(standin: GitHubStandIn) -> None:
    other = App()  # another key pair: a forged signature
    forged = await mint(standin, app_jwt(standin.app_info, key=other.private_key_pem))
    assert forged.status_code == 401
    assert forged.json()["message"] == "A JSON web token could not be decoded"
    async with httpx.AsyncClient() as client:
        bare = await client.post(f"{standin.url}/app/installations/42/access_tokens")
    assert bare.status_code == 401
    assert (await mint(standin, app_jwt(standin.app_info), installation=5)).status_code == 404
    # an installation token is not an App JWT
    token = await installation_token(standin)
    assert (await mint(standin, token)).status_code == 401
    assert [c.status for c in standin.calls_to("access_tokens")] == [401, 401, 404, 201, 401]


# -- the review endpoint -------------------------------------------------------------------


async def test_approve_then_second_decision_is_422(standin: GitHubStandIn) -> None:
    job = standin.add_job("acme", "shop", 99, "production")
    token = await installation_token(standin)
    ok = await review(
        standin, token, {"environment_name": "production", "state": "approved", "comment": "go"}
    )
    assert ok.status_code == 204 and ok.content == b""
    assert (job.state, job.decision_comment) == ("approved", "go")
    again = await review(standin, token, {"environment_name": "production", "state": "rejected"})
    assert again.status_code == 422
    assert "already been approved" in again.json()["message"]
    late = await review(standin, token, {"environment_name": "production", "comment": "later"})
    assert late.status_code == 422 and job.comments == []
    assert job.state == "approved"


async def test_progress_comments_at_most_ten_of_1024_chars(standin: GitHubStandIn) -> None:
    job = standin.add_job("acme", "shop", 99, "staging")
    token = await installation_token(standin)
    long = await review(
        standin, token, {"environment_name": "staging", "comment": "x" * (MAX_COMMENT_CHARS + 1)}
    )
    assert long.status_code == 422 and "too long" in long.json()["message"]
    for i in range(MAX_PROGRESS_COMMENTS):
        text = "y" * MAX_COMMENT_CHARS if i == 0 else f"step {i}"
        answer = await review(standin, token, {"environment_name": "staging", "comment": text})
        assert answer.status_code == 204
    eleventh = await review(standin, token, {"environment_name": "staging", "comment": "more"})
    assert eleventh.status_code == 422
    assert "Maximum number of comments (10)" in eleventh.json()["message"]
    assert len(job.comments) == MAX_PROGRESS_COMMENTS and job.state == "waiting"
    # the limit counts progress reports: the decision still goes through
    decided = await review(standin, token, {"environment_name": "staging", "state": "rejected"})
    assert decided.status_code == 204 and job.state == "rejected"


@pytest.mark.parametrize(
    "body",
    [
        {"environment_name": "production", "state": "maybe"},
        {"state": "approved"},
        {"environment_name": "production"},
        {"environment_name": "production", "comment": 5},
        ["not", "an", "object"],
    ],
)
async def test_malformed_reviews_are_422(standin: GitHubStandIn, body: Any) -> None:
    job = standin.add_job("acme", "shop", 99, "production")
    answer = await review(standin, await installation_token(standin), body)
    assert answer.status_code == 422
    assert answer.json()["message"].startswith("Invalid request.")
    assert job.state == "waiting"


async def test_unknown_run_environment_token_or_installation(standin: GitHubStandIn) -> None:
    standin.add_job("acme", "shop", 99, "production")
    token = await installation_token(standin)
    body = {"environment_name": "production", "state": "approved"}
    assert (await review(standin, token, body, run=100)).status_code == 404
    wrong_env = {"environment_name": "qa", "state": "approved"}
    assert (await review(standin, token, wrong_env)).status_code == 404
    bad = await review(standin, "ghs_" + "0" * 36, body)
    assert (bad.status_code, bad.json()["message"]) == (401, "Bad credentials")
    other = await review(standin, await installation_token(standin, 7), body)
    assert other.status_code == 403
    assert standin.job("acme", "shop", 99, "production").state == "waiting"
    # names are case-insensitive on GitHub
    assert (
        await review(standin, token, {**body, "environment_name": "Production"})
    ).status_code == 204


async def test_fault_injection_5xx_then_429_then_normal(standin: GitHubStandIn) -> None:
    job = standin.add_job("acme", "shop", 99, "production")
    token = await installation_token(standin)
    standin.fail(2, status=502, route="review")
    standin.rate_limit(1, retry_after=7, route="review")
    body = {"environment_name": "production", "state": "approved"}
    statuses = []
    for _ in range(4):
        answer = await review(standin, token, body)
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            assert answer.headers["retry-after"] == "7"
    assert statuses == [502, 502, 429, 204]
    assert job.state == "approved"
    # a fault for another route leaves this one alone
    standin.fail(1, route="access_tokens")
    assert (await mint(standin, app_jwt(standin.app_info))).status_code == 503
    assert (await mint(standin, app_jwt(standin.app_info))).status_code == 201


# -- webhooks ------------------------------------------------------------------------------


class Receiver:
    """The bot's side, minimal: checks each webhook with bot.github.webhook."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.accepted: list[webhook.Webhook] = []
        self.status = 200
        self.server = StandInServer(Starlette(routes=[Route("/gh", self.hook, methods=["POST"])]))

    async def hook(self, request: Request) -> Response:
        try:
            body = await webhook.read_bounded(request.stream())
            hook = webhook.check(request.headers, body, self.secret)
        except webhook.WebhookProblem as problem:
            return Response(str(problem), status_code=problem.status)
        self.accepted.append(hook)
        return Response("thanks", status_code=self.status)


@pytest.fixture
async def receiver(standin: GitHubStandIn) -> AsyncIterator[Receiver]:
    rec = Receiver(standin.app_info.webhook_secret)
    await rec.server.start()
    standin.hooks.url = f"http://127.0.0.1:{rec.server.port}/gh"
    yield rec
    await rec.server.stop()


async def test_deliveries_are_signed_recorded_and_redelivered(
    standin: GitHubStandIn, receiver: Receiver
) -> None:
    job = standin.add_job("acme", "shop", 99, "production")
    first = await standin.request_review(job)
    assert (first.status_code, first.response_body, first.ok) == (200, "thanks", True)
    assert first.duration > 0 and (datetime.now(UTC) - first.delivered_at).total_seconds() < 5
    assert first.headers["X-GitHub-Event"] == "deployment_protection_rule"
    assert githubkit.webhooks.verify(
        standin.app_info.webhook_secret, first.body, first.headers["X-Hub-Signature-256"]
    )
    [got] = receiver.accepted
    assert (got.event, str(got.delivery), got.action) == (
        "deployment_protection_rule",
        first.guid,
        "requested",
    )
    receiver.status = 500
    again = await standin.redeliver(first.guid)
    assert (again.guid, again.redelivery, again.status_code) == (first.guid, True, 500)
    assert again.body == first.body and len(receiver.accepted) == 2
    assert again.status == "Invalid HTTP Response: 500"


async def test_dropped_deliveries_never_arrive(standin: GitHubStandIn, receiver: Receiver) -> None:
    job = standin.add_job("acme", "shop", 99, "production")
    standin.hooks.drop(1)
    lost = await standin.request_review(job)
    assert (lost.dropped, lost.status_code, lost.ok) == (True, 0, False)
    assert receiver.accepted == []
    found = await standin.redeliver(lost.guid)
    assert found.ok and [str(h.delivery) for h in receiver.accepted] == [lost.guid]


async def test_a_tampered_delivery_is_refused_by_the_receiver(
    standin: GitHubStandIn, receiver: Receiver
) -> None:
    standin.hooks.secret = "not the App's secret"
    job = standin.add_job("acme", "shop", 99, "production")
    refused = await standin.request_review(job)
    assert refused.status_code == 401 and receiver.accepted == []


async def test_delivery_list_and_redelivery_over_the_api(
    standin: GitHubStandIn, receiver: Receiver
) -> None:
    job = standin.add_job("acme", "shop", 99, "production")
    standin.hooks.drop(1)
    lost = await standin.request_review(job)
    headers = {"Authorization": f"Bearer {app_jwt(standin.app_info)}"}
    async with httpx.AsyncClient(base_url=standin.url, headers=headers) as client:
        listed = await client.get("/app/hook/deliveries")
        assert listed.status_code == 200
        [item] = [HookDeliveryItem.model_validate(d) for d in listed.json()]
        assert (item.guid, item.status_code, item.installation_id) == (lost.guid, 0, 42)
        assert item.action == "requested" and not item.redelivery
        redone = await client.post(f"/app/hook/deliveries/{item.id}/attempts")
        assert redone.status_code == 202  # accepted; sent afterwards, as GitHub does
        for _ in range(100):
            newest = (await client.get("/app/hook/deliveries")).json()[0]
            if newest["redelivery"]:
                break
            await asyncio.sleep(0.02)
        assert (newest["guid"], newest["redelivery"], newest["status"]) == (lost.guid, True, "OK")
        unauthenticated = await client.get("/app/hook/deliveries", headers={"Authorization": ""})
        assert unauthenticated.status_code == 401
    assert len(receiver.accepted) == 1


@pytest.mark.parametrize("deployment_id", [None, 314])
async def test_requested_payload_is_githubs_shape(
    standin: GitHubStandIn, deployment_id: int | None
) -> None:
    job = standin.add_job("acme", "shop", 99, "production", ref="refs/heads/release")
    payload = standin.requested_payload(job, deployment_id)
    raw = json.dumps(payload).encode()
    event = githubkit.webhooks.parse("deployment_protection_rule", raw)
    assert isinstance(event, WebhookDeploymentProtectionRuleRequested)
    # nothing we sent was ignored or changed by GitHub's schema (no misspelt key)
    dumped = event.model_dump(mode="json", by_alias=True, exclude_unset=True)
    assert dumped == payload
    assert event.environment == "production" and event.ref == "refs/heads/release"
    assert event.installation and event.installation.id == 42
    assert event.deployment_callback_url == (
        f"{standin.url}/repos/acme/shop/actions/runs/99/deployment_protection_rule"
    )
    if deployment_id is None:
        assert event.deployment is None
    else:
        assert event.deployment and event.deployment.id == deployment_id


async def test_web_view_escapes_what_it_shows(standin: GitHubStandIn) -> None:
    job = standin.add_job("acme", "shop", 99, "<b>prod</b>")
    token = await installation_token(standin)
    answer = await review(
        standin, token, {"environment_name": "<b>prod</b>", "comment": "<script>x()</script>"}
    )
    assert answer.status_code == 204
    async with httpx.AsyncClient() as client:
        page = (await client.get(f"{standin.url}/")).text
    assert "<script>" not in page and "&lt;script&gt;x()&lt;/script&gt;" in page
    assert "&lt;b&gt;prod&lt;/b&gt;" in page and job.state in page
