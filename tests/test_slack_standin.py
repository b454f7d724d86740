"""The local Slack stand-in, driven over real HTTP with slack_sdk's own client."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from slack_standin import SlackStandIn, limits
from slack_standin.ratelimit import RateLimiter
from slack_standin.serving import StandInServer

SECRET = "test-signing-secret"
StandInFactory = Callable[..., Awaitable[SlackStandIn]]


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def slack_standin() -> AsyncIterator[StandInFactory]:
    """``await slack_standin(**kwargs)`` starts a stand-in; all stop after the test."""
    started: list[SlackStandIn] = []

    async def make(**kwargs: Any) -> SlackStandIn:
        kwargs.setdefault("signing_secret", SECRET)
        kwargs.setdefault("users", {"U1": "alice", "U2": "bob", "U3": "carol"})
        kwargs.setdefault("usergroups", {"S0SRE": ["U1", "U2"]})
        standin = await SlackStandIn(**kwargs).start()
        started.append(standin)
        return standin

    yield make
    await asyncio.gather(*(standin.stop() for standin in started))


def client(standin: SlackStandIn, **kwargs: Any) -> AsyncWebClient:
    return AsyncWebClient(token=standin.token, base_url=standin.api_url, **kwargs)


def section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def button(action_id: str, value: str = "v", text: str = "Go", **extra: Any) -> dict[str, Any]:
    label = {"type": "plain_text", "text": text}
    return {"type": "button", "action_id": action_id, "value": value, "text": label, **extra}


def actions(*elements: dict[str, Any], block_id: str = "signoff") -> dict[str, Any]:
    return {"type": "actions", "block_id": block_id, "elements": list(elements)}


@dataclass
class Receiver:
    """A tiny stand-in for the bot: verifies signatures like Bolt, records, answers."""

    verifier: SignatureVerifier = field(default_factory=lambda: SignatureVerifier(SECRET))
    requests: list[tuple[dict[str, str], bytes, bool]] = field(default_factory=list)
    reply: dict[str, Any] | None = None

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        valid = self.verifier.is_valid_request(body, headers)
        self.requests.append((headers, body, valid))
        if not valid:
            return Response("invalid request", status_code=401)
        return JSONResponse(self.reply) if self.reply is not None else Response(b"")

    def form(self, index: int = -1) -> dict[str, str]:
        fields = parse_qs(self.requests[index][1].decode(), keep_blank_values=True)
        return {k: v[0] for k, v in fields.items()}

    def payload(self, index: int = -1) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.form(index)["payload"])
        return data


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    bot = Receiver()
    server = StandInServer(
        Starlette(routes=[Route("/slack/events", bot.endpoint, methods=["POST"])])
    )
    await server.start()
    yield bot, f"http://127.0.0.1:{server.port}/slack/events"
    await server.stop()


# -- limits: pure ---------------------------------------------------------------------


def test_a_plain_message_and_blocks_at_the_limits_pass() -> None:
    fields = [{"type": "mrkdwn", "text": "f" * 2000}] * 10
    blocks = [section("x" * 3000, fields=fields, block_id="b" * 255)]
    blocks.append(actions(*[button(f"a{i}", "v" * 2000, "t" * 75) for i in range(25)]))
    blocks += [section(str(i)) for i in range(48)]
    assert limits.validate_message("hi", None) is None
    assert limits.validate_message("x" * 40_000, blocks) is None


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([section("x")] * 51, "/blocks]"),
        ([section("x" * 3001)], "/blocks/0/text/text"),
        ([section("x", fields=[{"type": "mrkdwn", "text": "f"}] * 11)], "/blocks/0/fields"),
        (
            [section("x", fields=[{"type": "mrkdwn", "text": "f" * 2001}])],
            "/blocks/0/fields/0/text",
        ),
        ([actions(button("a", text="t" * 76))], "/blocks/0/elements/0/text/text"),
        ([actions(button("a", value="v" * 2001))], "/blocks/0/elements/0/value"),
        ([actions(button("a", url="u" * 3001))], "/blocks/0/elements/0/url"),
        ([actions(button("a" * 256))], "/blocks/0/elements/0/action_id"),
        ([section("x", block_id="b" * 256)], "/blocks/0/block_id"),
        ([actions(*[button(f"a{i}") for i in range(26)])], "/blocks/0/elements"),
        ([section("x", accessory=button("a", text="t" * 76))], "/blocks/0/accessory/text/text"),
        ([section("x", block_id="same"), section("y", block_id="same")], "/blocks/1/block_id"),
        ([{"type": "bogus"}], "/blocks/0/type"),
    ],
)
def test_block_kit_violations_are_invalid_blocks(blocks: list[Any], pointer: str) -> None:
    err = limits.validate_message("fallback", blocks)
    assert err is not None and err.error == "invalid_blocks"
    assert any(pointer in line and line.startswith("[ERROR]") for line in err.messages), err
    assert err.body()["response_metadata"]["messages"] == list(err.messages)


def test_message_text_rules() -> None:
    assert limits.validate_message(None, None) == limits.SlackError("no_text")
    assert limits.validate_message("", []) == limits.SlackError("no_text")
    assert limits.validate_message("x" * 40_001, None) == limits.SlackError("msg_too_long")
    err = limits.validate_message("x", {"type": "section"})
    assert err is not None and err.error == "invalid_blocks_format"


def test_view_limits() -> None:
    title = {"type": "plain_text", "text": "Reject"}
    modal = {"type": "modal", "title": title, "blocks": [section("x")] * 100}
    assert limits.validate_view(modal, "modal") is None
    too_many = limits.validate_view({**modal, "blocks": [section("x")] * 101}, "modal")
    assert too_many is not None and too_many.error == "invalid_arguments"
    assert "no more than 100 items" in too_many.messages[0]
    long_title = {**modal, "title": {"type": "plain_text", "text": "t" * 25}}
    err = limits.validate_view(long_title, "modal")
    assert err is not None and "/view/title/text" in err.messages[0]
    assert limits.validate_view({"type": "home", "blocks": []}, "home") is None
    assert limits.validate_view(modal, "home") is not None


def test_rate_tiers_use_sliding_minute_windows() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    assert all(limiter.check("usergroups.users.list") is None for _ in range(20))
    assert limiter.check("usergroups.users.list") == 60
    clock.now += 59.5
    assert limiter.check("usergroups.users.list") == 1
    clock.now += 0.5
    assert limiter.check("usergroups.users.list") is None
    assert all(limiter.check("chat.update") is None for _ in range(50))
    assert limiter.check("chat.update") is not None
    assert all(limiter.check("users.info") is None for _ in range(100))


def test_post_message_is_about_one_a_second_per_channel_with_a_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, post_message_burst=3)
    assert [limiter.check("chat.postMessage", "C1") for _ in range(4)] == [None, None, None, 1]
    assert limiter.check("chat.postMessage", "C2") is None
    clock.now += 1.0
    assert limiter.check("chat.postMessage", "C1") is None
    assert limiter.check("chat.postMessage", "C1") == 1


# -- the Web API over HTTP ------------------------------------------------------------


async def test_auth_and_unknown_methods_answer_like_slack(slack_standin: StandInFactory) -> None:
    standin = await slack_standin()
    auth = await client(standin).auth_test()
    assert auth["user_id"] == standin.workspace.bot_user_id and auth["team_id"]
    async with httpx.AsyncClient(base_url=standin.api_url) as http:
        missing = await http.post("chat.postMessage", data={"channel": "C0RELEASES", "text": "x"})
        wrong = await http.post("auth.test", headers={"Authorization": "Bearer xoxb-nope"})
        unknown = await http.post(
            "chat.unknown", headers={"Authorization": f"Bearer {standin.token}"}
        )
    assert (missing.status_code, missing.json()) == (200, {"ok": False, "error": "not_authed"})
    assert wrong.json()["error"] == "invalid_auth"
    assert unknown.json() == {"ok": False, "error": "unknown_method"}
    assert [c.method for c in standin.calls] == [
        "auth.test",
        "chat.postMessage",
        "auth.test",
        "chat.unknown",
    ]


async def test_post_thread_and_update_change_the_channel_in_place(
    slack_standin: StandInFactory,
) -> None:
    standin = await slack_standin()
    web = client(standin)
    parent = await web.chat_postMessage(
        channel="C0RELEASES", text="Run 1", blocks=[section("*Run 1*")]
    )
    ts = parent["ts"]
    assert parent["channel"] == "C0RELEASES" and parent["message"]["blocks"][0]["type"] == "section"
    progress = await web.chat_postMessage(channel="C0RELEASES", thread_ts=ts, text="0/3")
    for step in ("1/3", "2/3"):
        await web.chat_update(channel="C0RELEASES", ts=progress["ts"], text=step)
    updated = await web.chat_update(
        channel="C0RELEASES", ts=ts, text="Run 1 done", blocks=[section("*done*")]
    )
    assert updated["ts"] == ts and updated["message"]["text"] == "Run 1 done"

    channel = standin.channel("C0RELEASES")
    assert [m.ts for m in channel.messages] == [ts]
    assert channel.message(ts).blocks == [section("*done*")] and channel.message(ts).edit_count == 1
    (reply,) = standin.thread("C0RELEASES", ts)
    assert (reply.text, reply.edit_count, reply.thread_ts) == ("2/3", 2, ts)
    assert len(standin.calls_to("chat.update")) == 3

    with pytest.raises(SlackApiError) as missing:
        await web.chat_update(channel="C0RELEASES", ts="1.000001", text="x")
    assert missing.value.response["error"] == "message_not_found"
    with pytest.raises(SlackApiError) as nowhere:
        await web.chat_postMessage(channel="C0NOPE", text="x")
    assert nowhere.value.response["error"] == "channel_not_found"


async def test_form_encoded_blocks_are_parsed_and_recorded(slack_standin: StandInFactory) -> None:
    standin = await slack_standin()
    async with httpx.AsyncClient(base_url=standin.api_url) as http:
        resp = await http.post(
            "chat.postMessage",
            data={"channel": "C0RELEASES", "text": "t", "blocks": json.dumps([section("s")])},
            headers={"Authorization": f"Bearer {standin.token}"},
        )
    assert resp.json()["ok"] is True
    (call,) = standin.calls_to("chat.postMessage")
    assert call.args["blocks"] == [section("s")] and call.status == 200 and call.ok
    assert "token" not in call.args


async def test_ephemerals_dms_users_and_groups(slack_standin: StandInFactory) -> None:
    standin = await slack_standin()
    web = client(standin)
    eph = await web.chat_postEphemeral(channel="C0RELEASES", user="U2", text="only you")
    assert [m.text for m in standin.ephemerals("U2")] == ["only you"]
    assert standin.ephemerals("U2")[0].ts == eph["message_ts"] and standin.ephemerals("U1") == []
    dm = await web.conversations_open(users="U3")
    assert dm["channel"]["id"].startswith("D")
    await web.chat_postMessage(channel=dm["channel"]["id"], text="please sign")
    assert [m.text for m in standin.channel(dm["channel"]["id"]).messages] == ["please sign"]
    assert (await web.usergroups_users_list(usergroup="S0SRE"))["users"] == ["U1", "U2"]
    user = (await web.users_info(user="U1"))["user"]
    assert (user["id"], user["name"], user["real_name"], user["tz"]) == (
        "U1",
        "alice",
        "Alice",
        "Europe/Berlin",
    )
    for call, error in [
        (web.users_info(user="U9"), "user_not_found"),
        (web.usergroups_users_list(usergroup="S9"), "no_such_subteam"),
        (web.chat_postEphemeral(channel="C0RELEASES", user="U9", text="x"), "user_not_found"),
    ]:
        with pytest.raises(SlackApiError) as failed:
            await call
        assert failed.value.response["error"] == error


async def test_views_open_publish_update_and_trigger_expiry(slack_standin: StandInFactory) -> None:
    clock = FakeClock()
    standin = await slack_standin(clock=clock)
    web = client(standin)
    modal = {
        "type": "modal",
        "callback_id": "reject",
        "title": {"type": "plain_text", "text": "Reject"},
        "blocks": [section("Why?")],
    }
    opened = await web.views_open(trigger_id=standin.issue_trigger("U2"), view=modal)
    view_id = opened["view"]["id"]
    assert view_id.startswith("V") and [v.id for v in standin.modals("U2")] == [view_id]
    updated = await web.views_update(
        view_id=view_id, hash=opened["view"]["hash"], view={**modal, "blocks": [section("Sure?")]}
    )
    assert updated["view"]["blocks"] == [section("Sure?")]
    with pytest.raises(SlackApiError) as conflict:
        await web.views_update(view_id=view_id, hash=opened["view"]["hash"], view=modal)
    assert conflict.value.response["error"] == "hash_conflict"

    home = await web.views_publish(user_id="U1", view={"type": "home", "blocks": [section("hi")]})
    published = standin.home("U1")
    assert published is not None and published.id == home["view"]["id"]

    late = standin.issue_trigger("U1")
    clock.now += 3.1
    for trigger, error in [(late, "expired_trigger_id"), ("nope", "invalid_trigger_id")]:
        with pytest.raises(SlackApiError) as refused:
            await web.views_open(trigger_id=trigger, view=modal)
        assert refused.value.response["error"] == error
    with pytest.raises(SlackApiError) as too_big:
        big = {**modal, "blocks": [section("x")] * 101}
        await web.views_open(trigger_id=standin.issue_trigger("U1"), view=big)
    assert too_big.value.response["error"] == "invalid_arguments"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"text": "x", "blocks": [section("x")] * 51}, "invalid_blocks"),
        ({"text": "x", "blocks": [section("x" * 3001)]}, "invalid_blocks"),
        ({"text": "x", "blocks": [actions(button("a", value="v" * 2001))]}, "invalid_blocks"),
        ({"text": "x" * 40_001}, "msg_too_long"),
        ({}, "no_text"),
    ],
)
@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
async def test_limit_violations_get_slacks_errors(
    slack_standin: StandInFactory, kwargs: dict[str, Any], error: str
) -> None:
    standin = await slack_standin()
    with pytest.raises(SlackApiError) as refused:
        await client(standin).chat_postMessage(channel="C0RELEASES", **kwargs)
    assert refused.value.response.status_code == 200
    assert refused.value.response["error"] == error
    if error == "invalid_blocks":
        assert refused.value.response["response_metadata"]["messages"]
    assert standin.channel("C0RELEASES").messages == []
    assert standin.calls[-1].response["error"] == error


# -- rate limits and failures ---------------------------------------------------------


async def test_rate_limit_on_demand_answers_429_then_recovers(
    slack_standin: StandInFactory,
) -> None:
    standin = await slack_standin()
    posted = await client(standin).chat_postMessage(channel="C0RELEASES", text="x")
    standin.rate_limit("chat.update", times=2, retry_after=7)
    async with httpx.AsyncClient(base_url=standin.api_url) as http:
        auth = {"Authorization": f"Bearer {standin.token}"}
        args = {"channel": "C0RELEASES", "ts": posted["ts"], "text": "y"}
        answers = [await http.post("chat.update", data=args, headers=auth) for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["Retry-After"] == "7"
    assert answers[0].json() == {"ok": False, "error": "ratelimited"}
    assert [c.status for c in standin.calls_to("chat.update")] == [429, 429, 200]
    assert standin.channel("C0RELEASES").message(posted["ts"]).edit_count == 1


async def test_an_outage_fails_every_method_for_its_window_then_slack_answers(
    slack_standin: StandInFactory,
) -> None:
    clock = FakeClock()
    standin = await slack_standin(clock=clock)
    standin.outage(60)
    standin.outage(30, 429, retry_after=5)
    auth = {"Authorization": f"Bearer {standin.token}"}
    post = {"channel": "C0RELEASES", "text": "x"}
    seen: list[tuple[float, str, int, str | None]] = []
    async with httpx.AsyncClient(base_url=standin.api_url, headers=auth) as http:
        for at, method in [(0, "chat.postMessage"), (59.9, "auth.test"),
                           (60, "chat.postMessage"), (89.9, "users.info"),
                           (90, "chat.postMessage")]:  # fmt: skip
            clock.now = 1000.0 + at
            answer = await http.post(method, data=post if method != "users.info" else
                                     {"user": "U1"})  # fmt: skip
            seen.append((at, method, answer.status_code, answer.headers.get("Retry-After")))
        assert not standin.in_outage
        standin.outage(10)
        assert standin.in_outage
        standin.end_outage()
        assert (await http.post("auth.test")).status_code == 200
    assert seen == [
        (0, "chat.postMessage", 503, None),
        (59.9, "auth.test", 503, None),
        (60, "chat.postMessage", 429, "5"),
        (89.9, "users.info", 429, "5"),
        (90, "chat.postMessage", 200, None),
    ]
    assert [c.status for c in standin.calls][:5] == [503, 503, 429, 429, 200]
    assert [m.text for m in standin.channel("C0RELEASES").messages] == ["x"]  # one got through
    with pytest.raises(ValueError, match="HTTP error status"):
        standin.outage(5, status=200)


async def test_slack_sdk_retry_handlers_get_through(slack_standin: StandInFactory) -> None:
    standin = await slack_standin()
    fast = FixedValueRetryIntervalCalculator(0.01)
    web = client(
        standin,
        retry_handlers=[
            AsyncRateLimitErrorRetryHandler(max_retry_count=1),
            AsyncServerErrorRetryHandler(max_retry_count=2, interval_calculator=fast),
        ],
    )
    started = time.monotonic()
    standin.rate_limit("chat.postMessage", times=1, retry_after=1)
    first = await web.chat_postMessage(channel="C0RELEASES", text="through a 429")
    assert first["ok"] and time.monotonic() - started >= 1.0  # Retry-After was honoured
    standin.fail("chat.postMessage", times=2, status=503)
    second = await web.chat_postMessage(channel="C0RELEASES", text="through two 503s")
    assert second["ok"]
    statuses = [c.status for c in standin.calls_to("chat.postMessage")]
    assert statuses == [429, 200, 503, 503, 200]
    assert [m.text for m in standin.channel("C0RELEASES").messages] == [
        "through a 429",
        "through two 503s",
    ]


async def test_enforced_tiers_answer_429_with_retry_after(slack_standin: StandInFactory) -> None:
    clock = FakeClock()
    standin = await slack_standin(enforce_rate_limits=True, clock=clock, post_message_burst=2)
    web = client(standin)
    for _ in range(20):
        await web.usergroups_users_list(usergroup="S0SRE")
    with pytest.raises(SlackApiError) as limited:
        await web.usergroups_users_list(usergroup="S0SRE")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "60"
    clock.now += 60
    assert (await web.usergroups_users_list(usergroup="S0SRE"))["ok"]
    await web.chat_postMessage(channel="C0RELEASES", text="1")
    await web.chat_postMessage(channel="C0RELEASES", text="2")
    with pytest.raises(SlackApiError) as flood:
        await web.chat_postMessage(channel="C0RELEASES", text="3")
    assert flood.value.response["error"] == "ratelimited"


# -- signed requests to the bot -------------------------------------------------------


async def test_slash_command_is_signed_and_complete(
    slack_standin: StandInFactory, receiver: tuple[Receiver, str]
) -> None:
    bot, url = receiver
    standin = await slack_standin(bot_url=url)
    resp = await standin.send_command("start checkout-api 2.14.0 staging", user_id="U2")
    assert resp.status_code == 200
    headers, body, valid = bot.requests[0]
    assert valid and headers["content-type"] == "application/x-www-form-urlencoded"
    assert abs(int(headers["x-slack-request-timestamp"]) - time.time()) < 5
    expected = SignatureVerifier(SECRET).generate_signature(
        timestamp=headers["x-slack-request-timestamp"], body=body
    )
    assert headers["x-slack-signature"] == expected
    form = bot.form()
    assert set(form) >= {
        "token", "team_id", "team_domain", "channel_id", "channel_name", "user_id",
        "user_name", "command", "text", "api_app_id", "response_url", "trigger_id",
    }  # fmt: skip
    assert (form["command"], form["text"], form["user_id"], form["user_name"]) == (
        "/preprod",
        "start checkout-api 2.14.0 staging",
        "U2",
        "bob",
    )
    assert (form["channel_id"], form["channel_name"]) == ("C0RELEASES", "releases")
    assert form["response_url"].startswith(f"{standin.url}/response/")
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "t"}, "blocks": []}
    opened = await client(standin).views_open(trigger_id=form["trigger_id"], view=modal)
    assert standin.modals("U2")[0].id == opened["view"]["id"]


async def test_response_url_posts_and_ack_bodies_are_shown(
    slack_standin: StandInFactory, receiver: tuple[Receiver, str]
) -> None:
    bot, url = receiver
    standin = await slack_standin(bot_url=url)
    bot.reply = {"text": "usage: /preprod start <service> <version> <env>"}
    await standin.send_command("start", user_id="U1")
    assert [m.text for m in standin.ephemerals("U1")] == [bot.reply["text"]]
    response_url = bot.form()["response_url"]
    async with httpx.AsyncClient() as http:
        quiet = await http.post(response_url, json={"text": "just you"})
        loud = await http.post(response_url, json={"response_type": "in_channel", "text": "all"})
        bad = await http.post(response_url, json={"blocks": [section("x")] * 51})
    assert (quiet.status_code, loud.status_code, bad.status_code) == (200, 200, 400)
    assert bad.json()["error"] == "invalid_blocks"
    assert [m.text for m in standin.ephemerals("U1")][-1] == "just you"
    assert [m.text for m in standin.channel("C0RELEASES").messages] == ["all"]
    assert [r.body.get("text") for r in standin.responses] == ["just you", "all", None]


async def test_click_sends_block_actions_with_the_stored_message(
    slack_standin: StandInFactory, receiver: tuple[Receiver, str]
) -> None:
    bot, url = receiver
    standin = await slack_standin(bot_url=url)
    blocks = [
        section("Sign off run 7"),
        actions(button("approve", "run-7", "Approve", style="primary")),
    ]
    posted = await client(standin).chat_postMessage(
        channel="C0RELEASES", text="sign", blocks=blocks
    )
    resp = await standin.click("U2", posted["ts"], "C0RELEASES", "approve")
    assert resp.status_code == 200 and bot.requests[-1][2]
    payload = bot.payload()
    assert payload["type"] == "block_actions" and payload["user"]["id"] == "U2"
    assert payload["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": "C0RELEASES",
        "is_ephemeral": False,
    }
    assert payload["channel"] == {"id": "C0RELEASES", "name": "releases"}
    assert payload["message"]["blocks"] == blocks and payload["message"]["ts"] == posted["ts"]
    (action,) = payload["actions"]
    assert (action["action_id"], action["block_id"], action["value"], action["type"]) == (
        "approve",
        "signoff",
        "run-7",
        "button",
    )
    assert action["text"]["text"] == "Approve" and action["action_ts"]
    assert payload["trigger_id"] and payload["api_app_id"] and payload["team"]["id"]

    async with httpx.AsyncClient() as http:
        await http.post(
            payload["response_url"], json={"replace_original": True, "text": "Approved"}
        )
    message = standin.channel("C0RELEASES").message(posted["ts"])
    assert (message.text, message.blocks, message.edit_count) == ("Approved", blocks, 1)

    await standin.click("U3", posted["ts"], "C0RELEASES", "gone", value="run-7", block_id="b")
    stale = bot.payload()["actions"][0]
    assert (stale["action_id"], stale["block_id"], stale["value"]) == ("gone", "b", "run-7")


async def test_clicks_on_ephemeral_messages_can_be_replaced_and_deleted(
    slack_standin: StandInFactory, receiver: tuple[Receiver, str]
) -> None:
    bot, url = receiver
    standin = await slack_standin(bot_url=url)
    blocks = [actions(button("confirm_cancel", "run-3", "Cancel run 3", style="danger"))]
    eph = await client(standin).chat_postEphemeral(
        channel="C0RELEASES", user="U1", text="sure?", blocks=blocks
    )
    await standin.click("U1", eph["message_ts"], "C0RELEASES", "confirm_cancel")
    payload = bot.payload()
    assert payload["container"]["is_ephemeral"] is True
    assert payload["actions"][0]["style"] == "danger"
    async with httpx.AsyncClient() as http:
        await http.post(payload["response_url"], json={"replace_original": True, "text": "ok"})
        (shown,) = standin.ephemerals("U1")
        assert (shown.text, shown.edit_count) == ("ok", 1)
        await http.post(payload["response_url"], json={"delete_original": True})
    assert standin.ephemerals("U1") == []


async def test_submit_view_sends_state_values_and_follows_response_action(
    slack_standin: StandInFactory, receiver: tuple[Receiver, str]
) -> None:
    bot, url = receiver
    standin = await slack_standin(bot_url=url)
    web = client(standin)
    modal = {
        "type": "modal",
        "callback_id": "reject_reason",
        "private_metadata": "run-7",
        "title": {"type": "plain_text", "text": "Reject"},
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": "Why?"},
                "element": {"type": "plain_text_input", "action_id": "text"},
            }
        ],
    }
    await web.views_open(trigger_id=standin.issue_trigger("U2"), view=modal)
    bot.reply = {"response_action": "errors", "errors": {"reason": "Say why"}}
    await standin.submit_view("U2", "reject_reason", {"reason": {"text": ""}})
    (still_open,) = standin.modals("U2")
    assert still_open.errors == {"reason": "Say why"}

    bot.reply = None
    resp = await standin.submit_view("U2", still_open.id, {"reason": {"text": "p99 too high"}})
    assert resp.status_code == 200 and standin.modals("U2") == []
    payload = bot.payload()
    assert payload["type"] == "view_submission" and payload["user"]["id"] == "U2"
    view = payload["view"]
    assert (view["id"], view["callback_id"], view["private_metadata"]) == (
        still_open.id,
        "reject_reason",
        "run-7",
    )
    assert view["state"]["values"] == {
        "reason": {"text": {"type": "plain_text_input", "value": "p99 too high"}}
    }
    with pytest.raises(LookupError):
        await standin.submit_view("U2", "reject_reason", {})


async def test_wrong_secret_old_timestamp_and_unsigned_are_refused(
    slack_standin: StandInFactory, receiver: tuple[Receiver, str]
) -> None:
    bot, url = receiver
    standin = await slack_standin(bot_url=url)
    wrong = await standin.send_command("help", secret="not-the-secret")
    old = await standin.send_command("help", timestamp=int(time.time()) - 6 * 60)
    unsigned = await standin.send_raw("command=%2Fpreprod&text=help", signed=False)
    signed_raw = await standin.send_raw(b"payload=%7B%7D")
    assert [wrong.status_code, old.status_code, unsigned.status_code] == [401, 401, 401]
    assert signed_raw.status_code == 200
    assert [valid for _, _, valid in bot.requests] == [False, False, False, True]
    assert [d.status for d in standin.deliveries] == [401, 401]
    assert standin.ephemerals("U1") == []


def test_module_entry_point_parses_demo_arguments() -> None:
    from slack_standin.__main__ import parse

    args = parse(["--port", "0", "--bot-url", "http://127.0.0.1:3000/slack/events"])
    assert args.port == 0 and args.bot_url.endswith("/slack/events")
    assert sys.modules["slack_standin.__main__"] is not None


# -- a real Bolt app against the stand-in --------------------------------------------


async def test_a_bolt_app_works_against_the_stand_in(slack_standin: StandInFactory) -> None:
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
    from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

    standin = await slack_standin()
    app = AsyncApp(client=client(standin), signing_secret=SECRET)
    done = asyncio.Event()

    @app.command("/preprod")
    async def command(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack("starting...")
        blocks = [section("Run 1"), actions(button("approve", "run-1", "Approve"))]
        await app.client.chat_postMessage(channel=body["channel_id"], text="Run 1", blocks=blocks)
        await respond(text="started")

    @app.action("approve")
    async def approve(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        view = {
            "type": "modal",
            "callback_id": "why",
            "title": {"type": "plain_text", "text": "Why"},
        }
        await app.client.views_open(trigger_id=body["trigger_id"], view={**view, "blocks": []})
        done.set()

    handler = AsyncSlackRequestHandler(app)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    server = StandInServer(Starlette(routes=[Route("/slack/events", events, methods=["POST"])]))
    await server.start()
    try:
        standin.bot_url = f"http://127.0.0.1:{server.port}/slack/events"
        assert (await standin.send_command("start x 1 staging")).status_code == 200
        for _ in range(200):
            if standin.channel("C0RELEASES").messages and len(standin.ephemerals("U1")) == 2:
                break
            await asyncio.sleep(0.01)
        assert sorted(m.text for m in standin.ephemerals("U1")) == ["started", "starting..."]
        (posted,) = standin.channel("C0RELEASES").messages
        assert (await standin.click("U2", posted.ts, "C0RELEASES", "approve")).status_code == 200
        await asyncio.wait_for(done.wait(), 2)
        assert [m.callback_id for m in standin.modals("U2")] == ["why"]
        assert (await standin.send_command("help", secret="wrong")).status_code == 401
        assert [c.method for c in standin.calls] == ["auth.test", "chat.postMessage", "views.open"]
    finally:
        await server.stop()


async def test_demo_web_view_shows_the_channel_and_drives_the_bot(
    slack_standin: StandInFactory, receiver: tuple[Receiver, str]
) -> None:
    bot, url = receiver
    standin = await slack_standin(bot_url=url)
    web = client(standin)
    blocks = [section("*Run 7* <b>"), actions(button("approve", "run-7", "Approve"))]
    posted = await web.chat_postMessage(channel="C0RELEASES", text="Run 7", blocks=blocks)
    await web.chat_postMessage(channel="C0RELEASES", thread_ts=posted["ts"], text="smoke failed")
    modal = {
        "type": "modal",
        "callback_id": "why",
        "title": {"type": "plain_text", "text": "Why"},
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": "Reason"},
                "element": {"type": "plain_text_input", "action_id": "text"},
            }
        ],
    }
    await web.views_open(trigger_id=standin.issue_trigger("U2"), view=modal)
    async with httpx.AsyncClient(base_url=standin.url) as http:
        html = (await http.get("/", params={"as": "U2", "in": "C0RELEASES"})).text
        assert "<b>Run 7</b> b" in html and "smoke failed" in html and "Approve" in html
        assert "name='v:reason.text'" in html
        ctx = {"as": "U2", "in": "C0RELEASES"}
        click = {**ctx, "ts": posted["ts"], "channel": "C0RELEASES", "action_id": "approve"}
        answers = [
            await http.post("/ui/click", data={**click, "block_id": "signoff", "value": "run-7"}),
            await http.post("/ui/command", data={**ctx, "text": "status", "command": "/preprod"}),
            await http.post("/ui/submit", data={**ctx, "view_id": "why", "v:reason.text": "no"}),
        ]
    assert [a.status_code for a in answers] == [303, 303, 303]
    assert all(a.headers["location"].endswith("note=") for a in answers)  # no error shown
    assert [d.kind for d in standin.deliveries] == ["block_actions", "command", "view_submission"]
    assert bot.payload(0)["actions"][0]["value"] == "run-7"
    assert bot.form(1)["text"] == "status"
    values = bot.payload(2)["view"]["state"]["values"]
    assert values == {"reason": {"text": {"type": "plain_text_input", "value": "no"}}}
