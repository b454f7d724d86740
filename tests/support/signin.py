"""Signing in to the bot's pages through the stand-in's Sign in with Slack, over HTTP.

httpx (like Python's cookie jar) never sends a ``Secure`` cookie over plain http, and the
session cookie is always ``Secure``; so the redirects are followed here by hand and the
cookie is carried in a header, as a browser on 127.0.0.1 would."""

from __future__ import annotations

from http.cookies import SimpleCookie
from urllib.parse import urljoin

import httpx

from bot.web.signin import SESSION_COOKIE
from slack_standin import SlackStandIn


async def session_cookie(
    bot_url: str, standin: SlackStandIn, user: str, path: str = "/runs"
) -> tuple[str, httpx.Response]:
    """The session cookie ``user`` gets by signing in from ``path``, and the last answer."""
    standin.oidc.user = user
    jar: dict[str, str] = {}
    url = f"{bot_url}{path}"
    async with httpx.AsyncClient(timeout=10) as http:
        for _ in range(8):
            own = url.startswith(bot_url)
            headers = {"cookie": "; ".join(f"{k}={v}" for k, v in jar.items())} if own else {}
            answer = await http.get(url, headers=headers)
            if own:
                for header in answer.headers.get_list("set-cookie"):
                    parsed = SimpleCookie(header)
                    jar.update({name: morsel.value for name, morsel in parsed.items()})
            if answer.status_code not in (301, 302, 303, 307):
                return jar.get(SESSION_COOKIE, ""), answer
            url = urljoin(url, answer.headers["location"])
    raise AssertionError("sign-in did not settle after 8 redirects")


async def signed_in(bot_url: str, standin: SlackStandIn, user: str) -> httpx.AsyncClient:
    """A client of the bot's pages as ``user`` (close it after use). It keeps the session
    cookie as a browser does: a page that rewrites it (the notice an action leaves for the
    next page) is answered with the new one on the next request."""
    cookie, answer = await session_cookie(bot_url, standin, user)
    assert answer.status_code == 200 and cookie, answer.text
    client = httpx.AsyncClient(
        base_url=bot_url, headers={"cookie": f"{SESSION_COOKIE}={cookie}"}, timeout=10
    )

    async def keep(response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            morsel = SimpleCookie(header).get(SESSION_COOKIE)
            if morsel is not None and morsel.value and morsel.value != "null":
                client.headers["cookie"] = f"{SESSION_COOKIE}={morsel.value}"

    client.event_hooks["response"] = [keep]
    return client
