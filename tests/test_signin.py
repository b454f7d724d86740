"""Sign in with Slack in front of the web pages, over real HTTP: the bot (Authlib) against
the stand-in's OpenID Connect provider. Without a session every page sends the person to
sign in and ``/metrics`` wants its bearer token; forged, expired and tampered sessions, a
bad ``state``, an ID token signed by another key and a member of another workspace are
each refused. (Ending sessions: tests/test_sessions.py.)"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from itsdangerous import TimestampSigner

from bot.web.signin import SESSION_COOKIE
from tests.slackbot import METRICS_TOKEN, Harness, running_bot
from tests.support.signin import session_cookie

CONFIG = """\
channel: C0RELEASES
roles:
  sre: {label: SRE, members: [U0SRE1, U0SRE2]}
environments:
  staging: {base_url: "http://127.0.0.1:9", plan: standard}
plans:
  standard:
    checks:
      - {id: smoke, type: http, requests: [{path: /healthz}]}
"""
SECRET = "test-session-secret"  # tests/slackbot.py's


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    config = tmp_path / "preprod.yml"
    config.write_text(CONFIG)
    async with running_bot(config, tmp_path, web=True) as running:
        yield running


def cookie(session: dict[str, object], *, secret: str = SECRET, age: float = 0) -> str:
    """A session cookie as Starlette's SessionMiddleware signs it, ``age`` seconds old."""

    class Dated(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - age)

    data = base64.b64encode(json.dumps(session).encode())
    return Dated(secret).sign(data).decode()


async def get(harness: Harness, path: str, value: str | None = None) -> httpx.Response:
    headers = {"cookie": f"{SESSION_COOKIE}={value}"} if value is not None else {}
    async with httpx.AsyncClient(base_url=harness.url) as http:
        return await http.get(path, headers=headers)


async def test_without_a_session_pages_redirect_and_metrics_want_the_token(
    harness: Harness,
) -> None:
    for path in ("/runs", "/runs/1", "/runs/1/report", "/insights", "/insights.json?days=7"):
        answer = await get(harness, path)
        assert answer.status_code == 302, path
        assert answer.headers["location"] == f"/auth/login?{urlencode({'next': path})}"
    async with httpx.AsyncClient(base_url=harness.url) as http:
        post = await http.post("/runs/1/act", data={"action": "approve"})
        assert post.status_code == 401
        assert (await http.get("/metrics")).status_code == 401
        wrong = await http.get("/metrics", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
        right = await http.get("/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})
        assert right.status_code == 200 and "preprod_runs" in right.text
        assert (await http.get("/healthz")).status_code == 200

    # signing in comes back to the page asked for, with a Secure, HttpOnly, Lax cookie
    value, page = await session_cookie(harness.url, harness.standin, "U0RM", "/insights?days=7")
    assert page.status_code == 200 and "Insights" in page.text
    assert str(page.url).endswith("/insights?days=7")
    [issued] = harness.standin.oidc.issued
    assert issued["aud"] == harness.standin.oidc.client_id and issued["nonce"]
    async with httpx.AsyncClient(base_url=harness.url) as http:
        login = await http.get("/auth/login", params={"next": "/runs"})
    authorize = parse_qs(urlsplit(login.headers["location"]).query)
    assert authorize["team"] == [harness.standin.workspace.team_id]
    assert authorize["redirect_uri"] == [f"{harness.url}/auth/callback"]
    flags = login.headers["set-cookie"].lower()
    assert "secure" in flags and "httponly" in flags and "samesite=lax" in flags
    page = await get(harness, "/runs", value)
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'none'" in csp
    assert page.headers["x-frame-options"] == "SAMEORIGIN"

    # an open redirect is not offered: only local paths
    value, page = await session_cookie(
        harness.url, harness.standin, "U0RM", "/auth/login?next=//evil.example/x"
    )
    assert str(page.url) == f"{harness.url}/runs"


async def test_forged_expired_and_tampered_sessions_are_refused(harness: Harness) -> None:
    real, _ = await session_cookie(harness.url, harness.standin, "U0RM")
    good = json.loads(base64.b64decode(real.split(".")[0]))
    assert set(good) == {"sid", "csrf"}  # a random token; who it is stays in the database
    assert (await get(harness, "/runs", cookie(good))).status_code == 200  # the control
    forged = cookie(good, secret="somebody-elses-secret")
    assert (await get(harness, "/runs", forged)).status_code == 302
    stale_signature = cookie(good, age=harness.bot.settings.session_ttl + 60)
    assert (await get(harness, "/runs", stale_signature)).status_code == 302
    # the cookie secret alone opens nothing: neither a made-up token nor the former
    # cookie that said who and when
    made_up = cookie({**good, "sid": "A" * 43})
    assert (await get(harness, "/runs", made_up)).status_code == 302
    former = cookie({"user": "U0RM", "name": "rita", "at": int(time.time()), "csrf": "x" * 43})
    assert (await get(harness, "/runs", former)).status_code == 302
    other, _ = await session_cookie(harness.url, harness.standin, "U0SRE1")
    signed = cookie(good)
    tampered = signed.replace(signed.split(".")[0], other.split(".")[0])
    assert (await get(harness, "/runs", tampered)).status_code == 302
    assert (await get(harness, "/runs", "not-a-cookie")).status_code == 302


async def test_bad_state_rogue_key_other_workspace_and_replays_are_refused(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    oidc = harness.standin.oidc
    oidc.user = "U0RM"
    async with httpx.AsyncClient(base_url=harness.url) as http:
        login = await http.get("/auth/login")
        started = {SESSION_COOKIE: _set_cookie(login)}
        consent = await http.get(login.headers["location"])
        back = urlsplit(consent.headers["location"])
        query = parse_qs(back.query)
        assert set(query) == {"code", "state"}
        cookie_header = {"cookie": f"{SESSION_COOKIE}={started[SESSION_COOKIE]}"}
        bad_state = await http.get(
            "/auth/callback",
            params={"code": query["code"][0], "state": "not-the-state"},
            headers=cookie_header,
        )
        assert bad_state.status_code == 403
        left = bad_state.headers.get("set-cookie") and _set_cookie(bad_state)
        assert (await get(harness, "/runs", left or "")).status_code == 302  # not signed in
        no_session = await http.get(f"/auth/callback?{back.query}")
        assert no_session.status_code == 403  # the state lives in the session

    assert "MismatchingStateError" in caplog.text

    oidc.rogue_key = True
    _, refused = await session_cookie(harness.url, harness.standin, "U0RM")
    assert refused.status_code == 403 and "Sign-in failed" in refused.text
    assert "BadSignatureError" in caplog.text  # checked against the published key
    oidc.rogue_key = False

    oidc.team_override = "T0SOMEONEELSE"
    _, refused = await session_cookie(harness.url, harness.standin, "U0RM")
    assert refused.status_code == 403 and "workspace" in refused.text
    oidc.team_override = None

    value, page = await session_cookie(harness.url, harness.standin, "U0RM")
    assert page.status_code == 200 and value


async def test_configured_roles_limit_who_sees_the_pages(tmp_path: Path) -> None:
    config = tmp_path / "preprod.yml"
    config.write_text(CONFIG)
    async with running_bot(config, tmp_path, web=True, web_roles=("sre",)) as harness:
        _, refused = await session_cookie(harness.url, harness.standin, "U0RM")
        assert refused.status_code == 403 and "release roles" in refused.text
        # nor does a cookie of the former kind, which said who and when
        outsider = cookie({"user": "U0RM", "at": int(time.time()), "csrf": "x"})
        assert (await get(harness, "/runs", outsider)).status_code == 302
        _, page = await session_cookie(harness.url, harness.standin, "U0SRE1")
        assert page.status_code == 200 and "signed in as Sam-Sre (U0SRE1)" in page.text


def _set_cookie(response: httpx.Response) -> str:
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name == SESSION_COOKIE:
            return rest.split(";")[0]
    raise AssertionError("no session cookie set")
