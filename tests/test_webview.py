"""The stand-in's web view over real HTTP: the composer, rendered mrkdwn, ephemerals in
time order, and the server-sent events that make a modal show as soon as it opens."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import httpx
import pytest
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from slack_standin import SlackStandIn
from slack_standin.serving import StandInServer

MODAL = {"type": "modal", "callback_id": "why", "title": {"type": "plain_text", "text": "Why"}}


@pytest.fixture
async def standin() -> AsyncIterator[SlackStandIn]:
    """A stand-in and a tiny bot: commands are echoed, a click opens a modal."""
    holder: dict[str, SlackStandIn] = {}
    seen: list[dict[str, list[str]]] = []

    async def events(request: Request) -> Response:
        form = parse_qs((await request.body()).decode())
        seen.append(form)
        if "command" in form:
            return JSONResponse({"text": f"got {form['command'][0]} {form['text'][0]}"})
        payload = json.loads(form["payload"][0])
        web = AsyncWebClient(token=holder["s"].token, base_url=holder["s"].api_url)

        async def later() -> None:  # after the ack, as Bolt does
            await asyncio.sleep(0.2)
            await web.views_open(trigger_id=payload["trigger_id"], view={**MODAL, "blocks": []})

        asyncio.get_running_loop().create_task(later())
        return Response(b"")

    bot = StandInServer(Starlette(routes=[Route("/slack/events", events, methods=["POST"])]))
    await bot.start()
    users = {"U0RM": "rita", "U0SRE1": "sam"}
    s = await SlackStandIn(bot_url=f"http://127.0.0.1:{bot.port}/slack/events", users=users).start()
    holder["s"] = s
    s.seen = seen  # type: ignore[attr-defined]
    yield s
    await s.stop()
    await bot.stop()


async def test_the_composer_takes_what_a_slack_user_types(standin: SlackStandIn) -> None:
    async with httpx.AsyncClient(base_url=standin.url) as http:
        ctx = {"as": "U0RM", "in": "C0RELEASES"}
        text = "/preprod start checkout-api 2.14.0 staging"
        sent = await http.post("/ui/command", data={**ctx, "text": text})
        await http.post("/ui/command", data={**ctx, "text": "hello *team*"})
        page = (await http.get("/", params=ctx)).text
    assert sent.status_code == 303 and sent.headers["location"].endswith("note=")
    [command] = standin.seen  # type: ignore[attr-defined]
    assert command["command"] == ["/preprod"]
    assert command["text"] == ["start checkout-api 2.14.0 staging"]
    assert "got /preprod start checkout-api 2.14.0 staging" in page
    assert "hello <b>team</b>" in page and "unknown command" not in page
    assert [m.user for m in standin.channel("C0RELEASES").messages] == ["U0RM"]


async def test_mrkdwn_is_rendered_and_ephemerals_are_in_time_order(
    standin: SlackStandIn,
) -> None:
    web = AsyncWebClient(token=standin.token, base_url=standin.api_url)
    first = await web.chat_postMessage(
        channel="C0RELEASES",
        text="x",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": (
            "*checkout-api* by <@U0RM> took _212ms_ <http://127.0.0.1:9/runs/1|Live report> "
            "`/preprod start &lt;service&gt;` <!date^1718028000^{date_num}|x> :rocket: "
            "<script>alert(1)</script>"
        )}}],
    )  # fmt: skip
    for n in range(7):
        await web.chat_postEphemeral(channel="C0RELEASES", user="U0RM", text=f"eph {n}")
    await web.chat_postMessage(channel="C0RELEASES", text="last")
    await web.chat_postEphemeral(
        channel="C0RELEASES", user="U0RM", text="in thread", thread_ts=first["ts"]
    )
    async with httpx.AsyncClient(base_url=standin.url) as http:
        page = (await http.get("/", params={"as": "U0RM", "in": "C0RELEASES"})).text
    assert "<b>checkout-api</b>" in page and "<i>212ms</i>" in page
    assert '<span class="mention">@rita</span>' in page
    assert '<a href="http://127.0.0.1:9/runs/1" target="_blank"' in page
    assert "<code>/preprod start &lt;service&gt;</code>" in page and "&amp;lt;" not in page
    assert "2024-06-10" in page and "🚀" in page and "<script>alert" not in page
    assert first["ts"] not in page.split('id="m')[1].split(">")[1]  # a clock time is shown
    order = [page.index(t) for t in ("checkout-api", *(f"eph {n}" for n in range(7)), "last")]
    assert order == sorted(order)  # all seven, in time order, before the later message
    assert page.index("in thread") < page.index("eph 0")  # under its thread's parent


async def test_a_modal_is_pushed_to_the_page_as_soon_as_it_opens(standin: SlackStandIn) -> None:
    web = AsyncWebClient(token=standin.token, base_url=standin.api_url)
    button = {"type": "button", "action_id": "why", "text": {"type": "plain_text", "text": "Why"}}
    posted = await web.chat_postMessage(
        channel="C0RELEASES", text="x", blocks=[{"type": "actions", "elements": [button]}]
    )
    ctx = {"as": "U0SRE1", "in": "C0RELEASES"}
    async with httpx.AsyncClient(base_url=standin.url, timeout=10) as http:
        assert "new EventSource('/ui/events'" in (await http.get("/", params=ctx)).text
        async with http.stream("GET", "/ui/events", params=ctx) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            assert await anext(lines) == "event: change"  # on connect: fetch the page
            click = {**ctx, "ts": posted["ts"], "channel": "C0RELEASES", "action_id": "why"}
            await http.post("/ui/click", data=click)
            events = []
            async with asyncio.timeout(3):
                while not standin.modals("U0SRE1"):
                    events.append(await anext(lines))
            assert "event: change" in events  # the modal's views.open was pushed
            live = (await http.get("/ui/live", params=ctx)).text
    assert '<div class="modal"><h3>Why</h3>' in live
