"""The App's client (bot/github) against the GitHub stand-in over real HTTP: installation
tokens minted once and reused until shortly before they expire, approve / reject /
comment, retries on 5xx and 429 (``retry-after`` honoured), refusals not retried; the
webhook checks (the documented test vector, a tampered body, the bounds); settings."""

from __future__ import annotations

import asyncio
import ssl
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import certifi
import httpx
import pytest
import time_machine
from githubkit.exception import RequestError, RequestFailed, SecondaryRateLimitExceeded
from githubkit.response import Response
from githubkit.retry import RetryOption

from bot.github import webhook
from bot.github.client import (
    MAX_COMMENT_CHARS,
    GitHubProblem,
    ProtectionRuleClient,
    tls_context,
)
from bot.github.retry import RetryPolicy
from bot.github.settings import GitHubSettings, GitHubSettingsError
from bot.github.target import DeploymentTarget, TargetProblem
from github_standin import App, GitHubStandIn

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, max_wait=5.0)
TARGET = DeploymentTarget("acme", "shop", 99, "production", installation_id=42)


@pytest.fixture(scope="module")
def app_keys() -> App:
    return App()


@pytest.fixture
async def standin(app_keys: App) -> AsyncIterator[GitHubStandIn]:
    app = App(private_key_pem=app_keys.private_key_pem, public_key_pem=app_keys.public_key_pem)
    async with GitHubStandIn(app=app, installations={42: "acme", 7: "other"}) as gh:
        gh.add_job("acme", "shop", 99, "production")
        yield gh


def client_for(gh: GitHubStandIn, *, by_client_id: bool = False) -> ProtectionRuleClient:
    info = gh.app_info
    return ProtectionRuleClient(
        private_key_pem=info.private_key_pem,
        app_id=None if by_client_id else info.app_id,
        client_id=info.client_id if by_client_id else None,
        api_url=gh.url,
        retry=FAST,
    )


async def test_approve_with_app_id_and_reject_with_client_id(standin: GitHubStandIn) -> None:
    await client_for(standin).approve(TARGET, "all checks green, 3 sign-offs")
    job = standin.job("acme", "shop", 99, "production")
    assert (job.state, job.decision_comment) == ("approved", "all checks green, 3 sign-offs")
    other = standin.add_job("acme", "shop", 100, "production")
    await client_for(standin, by_client_id=True).reject(
        DeploymentTarget("acme", "shop", 100, "production", 42), "security said no"
    )
    assert (other.state, other.decision_comment) == ("rejected", "security said no")
    [review_call] = [
        c for c in standin.calls_to("review") if c.path.endswith("/99/deployment_protection_rule")
    ]
    assert review_call.body == {
        "environment_name": "production",
        "state": "approved",
        "comment": "all checks green, 3 sign-offs",
    }


async def test_comments_then_githubs_refusals_are_one_line_problems(
    standin: GitHubStandIn,
) -> None:
    client = client_for(standin)
    for i in range(10):
        await client.comment(TARGET, f"check {i + 1}/10 passed")
    job = standin.job("acme", "shop", 99, "production")
    assert [c.text for c in job.comments][-1] == "check 10/10 passed"
    with pytest.raises(GitHubProblem) as eleventh:
        await client.comment(TARGET, "one too many")
    assert eleventh.value.status == 422 and "\n" not in str(eleventh.value)
    assert "Maximum number of comments" in str(eleventh.value)
    await client.approve(TARGET, "go")
    calls_before = len(standin.calls_to("review"))
    with pytest.raises(GitHubProblem, match="already been approved") as twice:
        await client.reject(TARGET, "changed my mind")
    assert twice.value.status == 422
    assert len(standin.calls_to("review")) == calls_before + 1  # a 422 is not retried


async def test_too_long_or_empty_comment_is_refused_before_any_call(
    standin: GitHubStandIn,
) -> None:
    client = client_for(standin)
    with pytest.raises(GitHubProblem, match="1025 characters, GitHub takes at most 1024"):
        await client.comment(TARGET, "x" * (MAX_COMMENT_CHARS + 1))
    with pytest.raises(GitHubProblem, match="expected some text"):
        await client.approve(TARGET, "  ")
    assert standin.calls == []
    await client.comment(TARGET, "x" * MAX_COMMENT_CHARS)
    assert standin.job("acme", "shop", 99, "production").comments[0].text == "x" * 1024


async def test_token_is_reused_until_shortly_before_it_expires(standin: GitHubStandIn) -> None:
    client = client_for(standin)
    with time_machine.travel(time.time(), tick=True) as clock:
        for i in range(3):
            await client.comment(TARGET, f"progress {i}")
        assert len(standin.calls_to("access_tokens")) == 1
        clock.shift(timedelta(minutes=58))  # the token (1 h) still has 2 minutes
        await client.comment(TARGET, "still the same token")
        assert len(standin.calls_to("access_tokens")) == 1
        clock.shift(timedelta(seconds=90))  # 30 s left: too close, a fresh one is minted
        await client.comment(TARGET, "a new token")
        assert len(standin.calls_to("access_tokens")) == 2
        # another installation gets its own token (inside the travel: the App JWT
        # githubkit keeps for 8 minutes was signed at the travelled time)
        standin.add_job("other", "app", 5, "production", installation_id=7)
        await client.approve(DeploymentTarget("other", "app", 5, "production", 7), "ok")
        assert len(standin.calls_to("access_tokens")) == 3
    assert {c.status for c in standin.calls_to("review")} == {204}


async def test_calls_share_one_tls_context(
    standin: GitHubStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each githubkit call opens an httpx client; building its TLS context (the whole CA
    bundle loaded) per call blocked the event loop for tens of ms each time."""
    built: list[object] = []
    real = ssl.create_default_context

    def counted(*args: Any, **kw: Any) -> ssl.SSLContext:
        built.append(args)
        return real(*args, **kw)

    monkeypatch.setattr(ssl, "create_default_context", counted)
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())  # a fresh key of the cache
    client = client_for(standin)
    for i in range(4):
        await client.comment(TARGET, f"progress {i}")
    standin.add_job("other", "app", 6, "production", installation_id=7)
    await client.approve(DeploymentTarget("other", "app", 6, "production", 7), "ok")
    await client_for(standin).comment(TARGET, "another client")
    assert len(standin.calls_to("review")) == 6
    assert len(built) == 1
    shared = tls_context()
    monkeypatch.setenv("SSL_CERT_DIR", str(Path(certifi.where()).parent))
    assert tls_context() is not shared  # the environment is followed, as httpx would
    assert len(built) == 2


async def test_server_errors_are_retried_with_backoff(standin: GitHubStandIn) -> None:
    standin.fail(1, status=502, route="access_tokens")
    standin.fail(2, status=503, route="review")
    await client_for(standin).approve(TARGET, "go")
    assert [c.status for c in standin.calls_to("access_tokens")] == [502, 201]
    assert [c.status for c in standin.calls_to("review")] == [503, 503, 204]
    assert standin.job("acme", "shop", 99, "production").state == "approved"


async def test_gives_up_after_the_attempts(standin: GitHubStandIn) -> None:
    client = client_for(standin)
    await client.comment(TARGET, "token first")
    standin.fail(4, status=500, route="review")
    with pytest.raises(GitHubProblem, match="GitHub answered 500") as failed:
        await client.approve(TARGET, "go")
    assert failed.value.status == 500
    assert [c.status for c in standin.calls_to("review")][1:] == [500] * 4
    assert standin.job("acme", "shop", 99, "production").state == "waiting"


async def test_rate_limit_waits_retry_after(standin: GitHubStandIn) -> None:
    client = client_for(standin)
    await client.comment(TARGET, "token first")
    standin.rate_limit(1, retry_after=1, route="review")
    started = time.monotonic()
    await client.approve(TARGET, "go")
    waited = time.monotonic() - started
    assert 1.0 <= waited < 3.0
    assert [c.status for c in standin.calls_to("review")] == [204, 429, 204]


async def test_a_retry_after_beyond_max_wait_fails_at_once(standin: GitHubStandIn) -> None:
    client = client_for(standin)
    await client.comment(TARGET, "token first")
    standin.rate_limit(1, retry_after=600, route="review")
    started = time.monotonic()
    with pytest.raises(GitHubProblem, match="GitHub answered 429"):
        await client.approve(TARGET, "go")
    assert time.monotonic() - started < 1.0


async def test_a_wrong_key_is_401_and_not_retried(standin: GitHubStandIn) -> None:
    client = ProtectionRuleClient(
        private_key_pem=App().private_key_pem,
        app_id=standin.app_info.app_id,
        api_url=standin.url,
        retry=FAST,
    )
    with pytest.raises(GitHubProblem, match="401: A JSON web token could not be decoded"):
        await client.approve(TARGET, "go")
    assert [c.status for c in standin.calls_to("access_tokens")] == [401]
    assert standin.calls_to("review") == []


async def test_an_unreachable_github_is_retried_then_named() -> None:
    client = ProtectionRuleClient(
        private_key_pem=App().private_key_pem, app_id=1, api_url="http://127.0.0.1:9", retry=FAST
    )
    with pytest.raises(GitHubProblem, match="GitHub could not be reached: ConnectError"):
        await asyncio.wait_for(client.approve(TARGET, "go"), 10)


def failed(status: int, retry_after: float | None = None) -> RequestFailed:
    raw = httpx.Response(status, request=httpx.Request("POST", "http://127.0.0.1/x"))
    response: Response[Any] = Response(raw, Any)
    if retry_after is None:
        return RequestFailed(response)
    return SecondaryRateLimitExceeded(response, timedelta(seconds=retry_after))


def test_retry_policy_decisions() -> None:
    policy = RetryPolicy(attempts=4, base_delay=0.5, max_delay=1.5, max_wait=30.0)
    assert [policy.delay(failed(503), n) for n in range(4)] == [0.5, 1.0, 1.5, None]
    assert policy.delay(failed(429), 0) == 0.5  # a 429 without a hint backs off too
    assert policy.delay(failed(429, retry_after=12), 1) == 12.0
    assert policy.delay(failed(429, retry_after=31), 0) is None
    for status in (401, 403, 404, 422):
        assert policy.delay(failed(status), 0) is None
    connect = RequestError(httpx.ConnectError("refused"))
    assert policy.delay(connect, 0) == 0.5
    # what failed inside the auth flow (the token request) is judged by its own status
    assert policy.delay(RequestError(failed(401)), 0) is None
    assert policy.delay(RequestError(failed(502)), 1) == 1.0
    assert policy(failed(503), 0) == RetryOption(True, timedelta(seconds=0.5))
    assert policy(failed(422), 0) == RetryOption(False)


# -- webhooks ------------------------------------------------------------------------------

VECTOR_SECRET = "It's a Secret to Everybody"
VECTOR = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def headers(body: bytes, secret: str = "s3cret", **extra: str) -> dict[str, str]:
    return {
        "X-GitHub-Event": "deployment_protection_rule",
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-Hub-Signature-256": webhook.signature(secret, body),
        **extra,
    }


def test_signature_test_vector() -> None:
    assert webhook.signature(VECTOR_SECRET, b"Hello, World!") == VECTOR
    assert webhook.signature_ok(VECTOR_SECRET, b"Hello, World!", VECTOR)
    assert not webhook.signature_ok(VECTOR_SECRET, b"Hello, World?", VECTOR)
    assert not webhook.signature_ok(VECTOR_SECRET, b"Hello, World!", VECTOR.upper())
    assert not webhook.signature_ok("", b"Hello, World!", VECTOR)
    assert not webhook.signature_ok(VECTOR_SECRET, b"Hello, World!", None)


def test_check_reads_event_delivery_and_payload() -> None:
    body = b'{"action":"requested","environment":"production"}'
    hook = webhook.check({k.lower(): v for k, v in headers(body).items()}, body, "s3cret")
    assert hook.event == "deployment_protection_rule" and hook.action == "requested"
    assert hook.delivery == uuid.UUID("72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert hook.payload["environment"] == "production"


def test_a_tampered_body_is_refused_before_parsing() -> None:
    body = b'{"action":"requested"}'
    sent = headers(body)
    with pytest.raises(webhook.WebhookProblem, match="X-Hub-Signature-256") as tampered:
        webhook.check(sent, b'{"action":"requested" }', "s3cret")
    assert tampered.value.status == 401
    # not JSON, but unsigned: the signature is what is refused, nothing is parsed
    with pytest.raises(webhook.WebhookProblem, match="X-Hub-Signature-256"):
        webhook.check(headers(b"x", secret="wrong"), b"not json", "s3cret")
    with pytest.raises(webhook.WebhookProblem, match="body: expected JSON") as signed_junk:
        webhook.check(headers(b"not json"), b"not json", "s3cret")
    assert signed_junk.value.status == 400


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"X-GitHub-Delivery": "not-a-guid"}, "X-GitHub-Delivery: expected a GUID"),
        ({"X-GitHub-Event": ""}, "X-GitHub-Event: expected an event name"),
        ({"X-GitHub-Event": "a;b"}, "X-GitHub-Event: expected an event name"),
    ],
)
def test_bad_headers_are_named(extra: dict[str, str], message: str) -> None:
    body = b"{}"
    with pytest.raises(webhook.WebhookProblem, match=message):
        webhook.check(headers(body, **extra), body, "s3cret")


async def test_bodies_are_bounded() -> None:
    big = b"x" * (webhook.MAX_BODY + 1)
    with pytest.raises(webhook.WebhookProblem) as too_big:
        webhook.check(headers(big), big, "s3cret")
    assert too_big.value.status == 413

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"y" * 1000

    with pytest.raises(webhook.WebhookProblem, match="larger than 5000 bytes"):
        await webhook.read_bounded(chunks(), limit=5000)
    assert len(await webhook.read_bounded(chunks())) == 100_000


# -- targets and settings ------------------------------------------------------------------


def test_target_from_a_callback_url() -> None:
    url = "https://api.github.com/repos/acme/shop.web/actions/runs/4242/deployment_protection_rule"
    assert DeploymentTarget.from_callback_url(url, "production", 42) == DeploymentTarget(
        "acme", "shop.web", 4242, "production", 42
    )
    for bad in (
        "https://api.github.com/repos/acme/shop/actions/runs/abc/deployment_protection_rule",
        "https://api.github.com/repos/acme/shop/actions/runs/1/pending_deployments",
        "https://api.github.com/repos/a%2Fb/shop/actions/runs/1/deployment_protection_rule",
    ):
        with pytest.raises(TargetProblem, match="deployment_callback_url: expected"):
            DeploymentTarget.from_callback_url(bad, "production", 42)
    with pytest.raises(TargetProblem, match="environment: expected 1 to 255"):
        DeploymentTarget.from_callback_url(url, "", 42)
    # built directly, the names that go into the URL path are checked the same
    for owner, repo, message in (
        ("..", "shop", "owner"),
        ("acme", "..", "repository"),
        ("acme", "a/b", "repository"),
        ("-x", "shop", "owner"),
    ):
        with pytest.raises(TargetProblem, match=message):
            DeploymentTarget(owner, repo, 1, "production", 42)
    with pytest.raises(TargetProblem, match="run id"):
        DeploymentTarget("acme", "shop", 0, "production", 42)
    with pytest.raises(TargetProblem, match=r"installation\.id"):
        DeploymentTarget("acme", "shop", 1, "production", 0)


def test_settings_from_env(tmp_path: Path, app_keys: App) -> None:
    key = tmp_path / "app.pem"
    key.write_text(app_keys.private_key_pem)
    assert GitHubSettings.from_env({}) is None
    env = {
        "PREPROD_GITHUB_APP_ID": "123456",
        "PREPROD_GITHUB_PRIVATE_KEY_FILE": str(key),
        "PREPROD_GITHUB_WEBHOOK_SECRET": "s3cret",
    }
    settings = GitHubSettings.from_env(env)
    assert settings is not None and settings.app_id == 123456 and settings.client_id is None
    assert settings.api_url == "https://api.github.com" and settings.issuer == "123456"
    by_client = GitHubSettings.from_env(
        {
            **env,
            "PREPROD_GITHUB_APP_ID": "Iv23liAbc",
            "PREPROD_GITHUB_API_URL": "http://127.0.0.1:1234/",
        }
    )
    assert by_client is not None and (by_client.app_id, by_client.client_id) == (None, "Iv23liAbc")
    assert by_client.api_url == "http://127.0.0.1:1234"
    problems = {
        "PREPROD_GITHUB_WEBHOOK_SECRET: not set": {**env, "PREPROD_GITHUB_WEBHOOK_SECRET": ""},
        "PREPROD_GITHUB_APP_ID: expected the App id": {**env, "PREPROD_GITHUB_APP_ID": "12 34"},
        "PREPROD_GITHUB_PRIVATE_KEY_FILE: cannot read": {
            **env,
            "PREPROD_GITHUB_PRIVATE_KEY_FILE": str(tmp_path / "missing.pem"),
        },
        "PREPROD_GITHUB_API_URL: expected an http(s) URL": {
            **env,
            "PREPROD_GITHUB_API_URL": "ftp://x",
        },
    }
    for message, bad_env in problems.items():
        with pytest.raises(
            GitHubSettingsError, match=message.replace("(", r"\(").replace(")", r"\)")
        ):
            GitHubSettings.from_env(bad_env)
    (tmp_path / "not.pem").write_text("hello")
    with pytest.raises(GitHubSettingsError, match="is not a PEM private key"):
        GitHubSettings.from_env(
            {**env, "PREPROD_GITHUB_PRIVATE_KEY_FILE": str(tmp_path / "not.pem")}
        )


async def test_from_settings_talks_to_the_standin(standin: GitHubStandIn, tmp_path: Path) -> None:
    key = tmp_path / "app.pem"
    key.write_text(standin.app_info.private_key_pem)
    settings = GitHubSettings.from_env(
        {
            "PREPROD_GITHUB_APP_ID": standin.app_info.client_id,
            "PREPROD_GITHUB_PRIVATE_KEY_FILE": str(key),
            "PREPROD_GITHUB_WEBHOOK_SECRET": standin.app_info.webhook_secret,
            "PREPROD_GITHUB_API_URL": standin.url,
        }
    )
    assert settings is not None
    await ProtectionRuleClient.from_settings(settings, FAST).approve(TARGET, "go")
    assert standin.job("acme", "shop", 99, "production").state == "approved"
