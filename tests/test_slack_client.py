"""SlackClient over real HTTP on 127.0.0.1: limiter, 429 Retry-After, 5xx/network retries, errors.

``FakeSlack`` is a deliberately tiny Slack Web API double (also used by test_slack_coalesce);
the full stand-in lives in ``slack_standin``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.slack.client import RetryPolicy, SlackCallError, SlackClient, SlackRetriesExhausted
from bot.slack.limiter import Rate, RateLimiter, Tier


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    at: float
    status: int
    headers: dict[str, str]


class FakeSlack:
    """Answers Slack-style JSON, records calls, and misbehaves on demand."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.port = 0
        self._limited: dict[str, list[float]] = {}
        self._failing: dict[str, list[int]] = {}
        self._errors: dict[str, str] = {}
        self._ts = 0
        self.app = Starlette(routes=[Route("/api/{method}", self._handle, methods=["GET", "POST"])])

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def rate_limit(self, method: str, times: int, retry_after: float = 1) -> None:
        self._limited.setdefault(method, []).extend([retry_after] * times)

    def fail(self, method: str, times: int, status: int = 503) -> None:
        self._failing.setdefault(method, []).extend([status] * times)

    def error(self, method: str, error: str) -> None:
        self._errors[method] = error

    def delivered(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.status == 200]

    async def _handle(self, request: Request) -> Response:
        method = request.path_params["method"]
        args: dict[str, Any] = dict(request.query_params)
        body = await request.body()
        if request.headers.get("content-type", "").startswith("application/json") and body:
            args.update(json.loads(body))
        elif body:
            args.update((await request.form()).items())
        call = Call(method, args, time.monotonic(), 200, dict(request.headers))
        self.calls.append(call)
        if self._limited.get(method):
            retry_after = self._limited[method].pop(0)
            call.status = 429
            return JSONResponse(
                {"ok": False, "error": "ratelimited"},
                status_code=429,
                headers={"Retry-After": f"{retry_after:g}"},
            )
        if self._failing.get(method):
            call.status = self._failing[method].pop(0)
            return PlainTextResponse("upstream trouble", status_code=call.status)
        if method in self._errors:
            return JSONResponse({"ok": False, "error": self._errors[method]})
        return JSONResponse({"ok": True, **self._answer(method, args)})

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        self._ts += 1
        ts = f"1700000000.{self._ts:06d}"
        if method in ("chat.postMessage", "chat.update"):
            return {"channel": args.get("channel"), "ts": args.get("ts", ts)}
        if method == "chat.postEphemeral":
            return {"message_ts": ts}
        if method.startswith("views."):
            return {"view": {"id": args.get("view_id", "V1"), **args.get("view", {})}}
        if method == "conversations.open":
            return {"channel": {"id": "D" + str(args.get("users"))}}
        if method == "usergroups.users.list":
            return {"users": ["U1", "U2"]}
        if method == "users.info":
            return {"user": {"id": args.get("user"), "real_name": "Ada"}}
        if method == "auth.test":
            return {"user_id": "UBOT", "team_id": "T1"}
        return {}


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    fake.port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(fake.app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield fake
    finally:
        server.should_exit = True
        await task
        sock.close()


FAST_RATES = {tier: Rate(60_000, burst=100) for tier in Tier}
FAST_RETRY = RetryPolicy(backoff_base=0.01, backoff_cap=0.05)


def make_client(
    fake: FakeSlack, *, rates: dict[Tier, Rate] | None = None, policy: RetryPolicy = FAST_RETRY
) -> SlackClient:
    limiter = RateLimiter(rates={**FAST_RATES, **(rates or {})})
    return SlackClient("xoxb-test", base_url=fake.api_url, limiter=limiter, policy=policy)


async def test_post_message_returns_ts_and_sends_json(slack: FakeSlack) -> None:
    client = make_client(slack)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]
    ts = await client.post_message("C1", "hello", blocks=blocks, thread_ts="1.0")
    await client.aclose()
    assert ts.startswith("1700000000.")
    (call,) = slack.calls
    assert call.method == "chat.postMessage"
    assert call.args == {"channel": "C1", "text": "hello", "blocks": blocks, "thread_ts": "1.0"}
    assert call.headers["authorization"] == "Bearer xoxb-test"
    assert client.metrics()["chat.postMessage"] == {"calls": 1}


async def test_429_storm_delays_but_delivers_each_message_once_in_order(slack: FakeSlack) -> None:
    slack.rate_limit("chat.postMessage", 3, retry_after=1)
    client = make_client(slack)
    started = time.monotonic()
    texts = ["first", "second", "third"]
    await asyncio.gather(*(client.post_message("C1", text) for text in texts))
    elapsed = time.monotonic() - started
    await client.aclose()
    assert elapsed >= 2.9  # three Retry-After: 1 honoured
    assert [c.args["text"] for c in slack.delivered("chat.postMessage")] == texts
    assert sum(c.status == 429 for c in slack.calls) == 3
    counts = client.metrics()["chat.postMessage"]
    assert counts["calls"] == 3
    assert counts["ratelimited"] == 3
    assert counts["retries"] == 3
    assert "failed" not in counts


async def test_429_budget_exhausted_raises_and_logs(
    slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    slack.rate_limit("chat.update", 5, retry_after=0)
    client = make_client(slack, policy=RetryPolicy(max_ratelimited=3))
    with caplog.at_level(logging.ERROR), pytest.raises(SlackRetriesExhausted) as info:
        await client.update_message("C1", "1.0", "x")
    await client.aclose()
    assert info.value.error == "ratelimited"
    assert info.value.attempts == 3
    assert "giving up" in caplog.text
    assert client.metrics()["chat.update"]["failed"] == 1


async def test_5xx_is_retried_with_backoff(slack: FakeSlack) -> None:
    slack.fail("chat.update", 2, 503)
    client = make_client(slack)
    data = await client.update_message("C1", "1.0", "done", [])
    await client.aclose()
    assert data["ok"] is True
    assert [c.status for c in slack.calls] == [503, 503, 200]
    counts = client.metrics()["chat.update"]
    assert counts["server_errors"] == 2
    assert counts["retries"] == 2


async def test_5xx_budget_exhausted_raises(slack: FakeSlack) -> None:
    slack.fail("views.open", 10, 500)
    client = make_client(slack, policy=RetryPolicy(max_failures=3, backoff_base=0.01))
    with pytest.raises(SlackRetriesExhausted) as info:
        await client.open_view("trig", {"type": "modal"})
    await client.aclose()
    assert info.value.status == 500
    assert len(slack.calls) == 3


async def test_ok_false_raises_with_error_name_without_retry(slack: FakeSlack) -> None:
    slack.error("chat.postMessage", "channel_not_found")
    client = make_client(slack)
    with pytest.raises(SlackCallError, match="channel_not_found") as info:
        await client.post_message("C404", "hello")
    await client.aclose()
    assert info.value.error == "channel_not_found"
    assert info.value.method == "chat.postMessage"
    assert not isinstance(info.value, SlackRetriesExhausted)
    assert len(slack.calls) == 1


async def test_network_errors_retry_then_raise() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now: connection refused
    client = SlackClient(
        "xoxb-test",
        base_url=f"http://127.0.0.1:{port}/api/",
        policy=RetryPolicy(max_failures=3, backoff_base=0.01),
    )
    with pytest.raises(SlackRetriesExhausted):
        await client.auth_test()
    await client.aclose()
    counts = client.metrics()["auth.test"]
    assert counts["network_errors"] == 3
    assert counts["retries"] == 2


async def test_limiter_spaces_chat_update(slack: FakeSlack) -> None:
    client = make_client(slack, rates={Tier.T3: Rate(600, burst=1)})  # one per 0.1 s
    for i in range(5):
        await client.update_message("C1", "1.0", f"state {i}")
    await client.aclose()
    times = [c.at for c in slack.delivered("chat.update")]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 5
    assert min(gaps) >= 0.085


async def test_convenience_methods(slack: FakeSlack) -> None:
    client = make_client(slack)
    assert await client.open_dm("U7") == "DU7"
    assert await client.usergroup_members("S1") == ["U1", "U2"]
    assert (await client.user_info("U7"))["real_name"] == "Ada"
    assert (await client.auth_test())["user_id"] == "UBOT"
    assert await client.post_ephemeral("C1", "U7", "only you") != ""
    assert (await client.open_view("trig", {"type": "modal"}))["type"] == "modal"
    assert (await client.publish_home("U7", {"type": "home"}))["type"] == "home"
    assert (await client.update_view("V9", {"type": "modal"}))["id"] == "V9"
    assert (await client.api_call("chat.delete", channel="C1", ts="1.0"))["ok"] is True
    await client.aclose()
    by_method = {c.method: c.args for c in slack.calls}
    assert by_method["conversations.open"] == {"users": "U7"}
    assert by_method["usergroups.users.list"] == {"usergroup": "S1"}
    assert by_method["users.info"] == {"user": "U7"}
    assert by_method["chat.postEphemeral"] == {"channel": "C1", "user": "U7", "text": "only you"}
    assert by_method["views.open"] == {"trigger_id": "trig", "view": {"type": "modal"}}
    assert by_method["views.publish"] == {"user_id": "U7", "view": {"type": "home"}}
    assert by_method["chat.delete"] == {"channel": "C1", "ts": "1.0"}


async def test_base_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api")
    client = SlackClient("xoxb-test")
    assert isinstance(client.web_client, AsyncWebClient)
    assert client.web_client.base_url == "http://127.0.0.1:9/api/"
    monkeypatch.delenv("SLACK_API_URL")
    assert SlackClient("x").web_client.base_url == "https://slack.com/api/"
    assert SlackClient("x", base_url="http://h/api/").web_client.base_url == "http://h/api/"


async def test_web_client_shares_one_session(slack: FakeSlack) -> None:
    client = make_client(slack)
    await client.auth_test()
    session = client.web_client.session
    await client.auth_test()
    assert session is not None and client.web_client.session is session
    await client.aclose()
    assert session.closed


async def test_against_the_shared_stand_in() -> None:
    """Wire compatibility with the full stand-in (skipped while it is not importable)."""
    server = pytest.importorskip("slack_standin.server")
    standin = server.SlackStandIn(
        users={"U1": "alice", "U2": "bob"}, usergroups={"S1": ["U1"]}, enforce_rate_limits=True
    )
    async with standin:
        client = SlackClient(standin.token, base_url=standin.api_url, policy=FAST_RETRY)
        channel = "C0RELEASES"
        parent = await client.post_message(channel, "parent")
        await client.post_message(channel, "reply", thread_ts=parent)
        await client.update_message(channel, parent, "edited", [{"type": "divider"}])
        assert await client.usergroup_members("S1") == ["U1"]
        assert (await client.user_info("U2"))["name"] == "bob"
        assert (await client.open_dm("U2")).startswith("D")
        standin.fail("chat.update", 1)
        await client.update_message(channel, parent, "edited twice")
        await client.aclose()
        assert [m.text for m in standin.thread(channel, parent)] == ["reply"]
        assert not any(c.status == 429 for c in standin.calls)
        assert client.metrics()["chat.update"]["server_errors"] == 1
