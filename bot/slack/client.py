"""The one path for every Web API call the bot makes: limiter first, then bounded retries.

A 429 penalises the limiter bucket for ``Retry-After`` seconds, so every caller of that bucket
waits, and the call is retried: a 429 storm delays a message, it does not lose it. 5xx answers
and network errors retry with exponential backoff and jitter. Any other ``ok: false`` raises
:class:`SlackCallError` carrying Slack's error name. ``chat.postMessage`` calls to one channel
are sent one at a time, in order, so thread replies never overtake each other during a storm.

Note: a network error after the request left may mean Slack got it; retrying then gives
at-least-once delivery (a rare duplicate beats a lost failure reply).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.gate.roles import DirectoryUnavailable
from bot.slack.limiter import RateLimiter, Sleep
from bot.slack.reachability import SlackReachability

log = logging.getLogger(__name__)

JSON = dict[str, Any]
Delivered = Callable[[], Awaitable[JSON | None]]
"""Asked before retrying a call Slack may have carried out: its answer, if it did."""
NETWORK_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientError, TimeoutError, OSError)


class NotWanted(Exception):
    """A message's sender gave it up while it waited for its turn (``still_wanted``)."""

    def __init__(self, method: str) -> None:
        super().__init__(f"{method} given up before sending")


class SlackCallError(Exception):
    """A Web API call failed for good; ``error`` is Slack's error name (``channel_not_found``)."""

    def __init__(
        self, method: str, error: str, *, status: int | None = None, attempts: int = 1
    ) -> None:
        self.method = method
        self.error = error
        self.status = status
        self.attempts = attempts
        where = f"HTTP {status}, " if status is not None else ""
        super().__init__(f"{method} failed: {error} ({where}{attempts} attempt(s))")


class SlackRetriesExhausted(SlackCallError):
    """Still rate limited / failing after the retry budget; logged as an error before raising."""


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying. 429s get a generous budget: they only ever delay."""

    max_ratelimited: int = 20
    max_failures: int = 5
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    max_retry_after: float = 300.0
    default_retry_after: float = 1.0


class SlackClient:
    """Rate-limited, retrying wrapper around slack_sdk's ``AsyncWebClient``."""

    def __init__(
        self,
        token: str | None,
        *,
        base_url: str | None = None,
        limiter: RateLimiter | None = None,
        policy: RetryPolicy | None = None,
        timeout: int = 30,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        url = base_url or os.environ.get("SLACK_API_URL") or AsyncWebClient.BASE_URL
        # retry_handlers=[]: this class owns retries; SDK handlers would hide 429s from the limiter.
        self.web_client = AsyncWebClient(
            token=token, base_url=url, timeout=timeout, retry_handlers=[]
        )
        self.limiter = limiter or RateLimiter(sleep=sleep)
        self.policy = policy or RetryPolicy()
        self._timeout = timeout
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._order: dict[str, asyncio.Lock] = {}
        self.counters: defaultdict[str, Counter[str]] = defaultdict(Counter)
        """Per method: calls, retries, ratelimited, server_errors, network_errors, failed."""
        self.reachability = SlackReachability()
        """Each attempt's outcome: did Slack answer (``/readyz``, ``/metrics``)."""

    def _session(self) -> None:
        # One keep-alive session, created inside the running loop on first use; Bolt's
        # per-request clients copy ``web_client.session`` so they share it too.
        session = self.web_client.session
        if session is None or session.closed:
            self.web_client.session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            )

    async def aclose(self) -> None:
        """Close the HTTP session."""
        session = self.web_client.session
        if session is not None and not session.closed:
            await session.close()

    def metrics(self) -> dict[str, dict[str, int]]:
        """A plain snapshot of the counters."""
        return {method: dict(values) for method, values in self.counters.items()}

    def _retry_after(self, headers: Any) -> float:
        raw = headers.get("Retry-After") if hasattr(headers, "get") else None
        try:
            value: float = float(str(raw)) if raw is not None else self.policy.default_retry_after
        except ValueError:
            value = self.policy.default_retry_after
        return min(max(value, 0.0), self.policy.max_retry_after)

    async def _call(
        self,
        method: str,
        *,
        channel: str | None = None,
        http_verb: str = "POST",
        json: JSON | None = None,
        params: JSON | None = None,
        delivered: Delivered | None = None,
        still_wanted: Callable[[], Awaitable[bool]] | None = None,
    ) -> JSON:
        args = (method, channel, http_verb, json, params, delivered, still_wanted)
        if method == "chat.postMessage" and channel is not None:
            lock = self._order.setdefault(channel, asyncio.Lock())
            async with lock:
                return await self._attempt(*args)
        return await self._attempt(*args)

    async def _attempt(
        self,
        method: str,
        channel: str | None,
        verb: str,
        json: JSON | None,
        params: JSON | None,
        delivered: Delivered | None = None,
        still_wanted: Callable[[], Awaitable[bool]] | None = None,
    ) -> JSON:
        """One call with its retries. After a 5xx or a network error Slack may have acted
        all the same (a posted message whose answer was lost): ``delivered`` is asked
        before each such retry, and what it finds is the answer."""
        counts = self.counters[method]
        counts["calls"] += 1
        limited = failures = 0
        while True:
            await self.limiter.acquire(method, channel)
            if still_wanted is not None and not await still_wanted():
                raise NotWanted(method)
            self._session()
            try:
                response = await self.web_client.api_call(
                    method, http_verb=verb, json=json, params=params
                )
                self.reachability.answered(method)
                return cast(JSON, response.data)
            except SlackApiError as exc:
                status, error, headers = _describe(exc)
                if status is not None and status >= 500:
                    self.reachability.unreachable(method, f"HTTP {status}")
                else:
                    self.reachability.answered(method, error=error)
                attempts = limited + failures + 1
                if status == 429 or error == "ratelimited":
                    limited += 1
                    counts["ratelimited"] += 1
                    delay = self._retry_after(headers)
                    self.limiter.penalise(method, delay, channel)
                    if limited >= self.policy.max_ratelimited:
                        raise self._exhausted(method, error, status, attempts) from exc
                    log.warning("%s rate limited; retrying in %.1fs", method, delay)
                elif status is not None and status >= 500:
                    failures += 1
                    counts["server_errors"] += 1
                    if failures >= self.policy.max_failures:
                        raise self._exhausted(method, error, status, attempts) from exc
                    await self._backoff_sleep(method, failures, f"HTTP {status}")
                    if delivered is not None and (found := await delivered()) is not None:
                        return found
                else:
                    counts["failed"] += 1
                    raise SlackCallError(method, error, status=status, attempts=attempts) from exc
            except NETWORK_ERRORS as exc:
                self.reachability.unreachable(method, type(exc).__name__)
                failures += 1
                counts["network_errors"] += 1
                if failures >= self.policy.max_failures:
                    name, attempts = type(exc).__name__, limited + failures
                    raise self._exhausted(method, name, None, attempts) from exc
                await self._backoff_sleep(method, failures, repr(exc))
                if delivered is not None and (found := await delivered()) is not None:
                    return found
            counts["retries"] += 1

    async def _backoff_sleep(self, method: str, failures: int, why: str) -> None:
        # Exponential, capped, with jitter over the upper half so retries spread out.
        ceiling = min(self.policy.backoff_cap, self.policy.backoff_base * 2.0 ** (failures - 1))
        delay = ceiling / 2 + self._rng.uniform(0, ceiling / 2)
        log.warning("%s failed (%s); retry %d in %.2fs", method, why, failures, delay)
        await self._sleep(delay)

    def _exhausted(self, method: str, error: str, status: int | None, n: int) -> Exception:
        self.counters[method]["failed"] += 1
        log.error("%s: giving up after %d attempts (%s)", method, n, error)
        return SlackRetriesExhausted(method, error, status=status, attempts=n)

    async def api_call(
        self, method: str, *, http_verb: str = "POST", params: JSON | None = None, **body: Any
    ) -> JSON:
        """Any Web API method; ``body`` goes as JSON, ``params`` as form/query fields."""
        channel = body.get("channel") or (params or {}).get("channel")
        return await self._call(
            method,
            channel=channel if isinstance(channel, str) else None,
            http_verb=http_verb,
            json=body or None,
            params=params,
        )

    async def post_message(
        self,
        channel: str,
        text: str,
        blocks: list[JSON] | None = None,
        thread_ts: str | None = None,
        *,
        delivered: Callable[[], Awaitable[str | None]] | None = None,
        still_wanted: Callable[[], Awaitable[bool]] | None = None,
        **extra: Any,
    ) -> str:
        """Post a message (or a thread reply); returns its ``ts``. ``delivered`` looks for
        the message in Slack before a retry, so a lost answer does not post it twice;
        ``still_wanted`` is asked right before each attempt, once the rate limit lets it
        go (a wait that can last seconds), and :class:`NotWanted` is raised if it says no."""
        body = _compact(channel=channel, text=text, blocks=blocks, thread_ts=thread_ts, **extra)

        async def found() -> JSON | None:
            ts = await delivered() if delivered is not None else None
            return {"ok": True, "ts": ts} if ts is not None else None

        data = await self._call(
            "chat.postMessage",
            channel=channel,
            json=body,
            delivered=found if delivered else None,
            still_wanted=still_wanted,
        )
        return str(data["ts"])

    async def update_message(
        self, channel: str, ts: str, text: str, blocks: list[JSON] | None = None
    ) -> JSON:
        """Replace a message's text and blocks in place."""
        body = _compact(channel=channel, ts=ts, text=text, blocks=blocks)
        return await self._call("chat.update", channel=channel, json=body)

    async def post_ephemeral(
        self,
        channel: str,
        user: str,
        text: str,
        blocks: list[JSON] | None = None,
        thread_ts: str | None = None,
    ) -> str:
        """Show ``user`` a message only they can see; returns its ``message_ts``."""
        body = _compact(channel=channel, user=user, text=text, blocks=blocks, thread_ts=thread_ts)
        data = await self._call("chat.postEphemeral", channel=channel, json=body)
        return str(data.get("message_ts", ""))

    async def open_view(self, trigger_id: str, view: JSON) -> JSON:
        """Open a modal; returns the view as Slack stored it."""
        data = await self._call("views.open", json={"trigger_id": trigger_id, "view": view})
        return cast(JSON, data.get("view", {}))

    async def publish_home(self, user_id: str, view: JSON) -> JSON:
        """Publish ``user_id``'s App Home tab."""
        data = await self._call("views.publish", json={"user_id": user_id, "view": view})
        return cast(JSON, data.get("view", {}))

    async def update_view(self, view_id: str, view: JSON, view_hash: str | None = None) -> JSON:
        """Replace an open modal."""
        body = _compact(view_id=view_id, view=view, hash=view_hash)
        data = await self._call("views.update", json=body)
        return cast(JSON, data.get("view", {}))

    async def open_dm(self, user_id: str) -> str:
        """Open (or find) the DM with ``user_id``; returns its channel id."""
        data = await self._call("conversations.open", params={"users": user_id})
        return str(data["channel"]["id"])

    async def usergroup_members(self, usergroup_id: str) -> list[str]:
        """User ids in a user group (the sign-off roles). A failed lookup is the gate's
        :class:`DirectoryUnavailable`, so the action that needed it records nothing and
        the person is told why."""
        try:
            data = await self._call(
                "usergroups.users.list", http_verb="GET", params={"usergroup": usergroup_id}
            )
        except SlackRetriesExhausted as exc:
            raise DirectoryUnavailable("Slack is unavailable") from exc
        except SlackCallError as exc:
            raise DirectoryUnavailable(f"Slack answered {exc.error}") from exc
        return [str(user) for user in data.get("users", [])]

    async def user_info(self, user_id: str) -> JSON:
        """A user's profile object."""
        data = await self._call("users.info", http_verb="GET", params={"user": user_id})
        return cast(JSON, data.get("user", {}))

    async def auth_test(self) -> JSON:
        """Who the token belongs to (bot user id, team)."""
        return await self._call("auth.test")


def _compact(**fields: Any) -> JSON:
    return {key: value for key, value in fields.items() if value is not None}


def _describe(exc: SlackApiError) -> tuple[int | None, str, Any]:
    """Status, Slack error name and headers of a failed call, whatever shape it came in."""
    response = exc.response  # an AsyncSlackResponse, or aiohttp's response for a bad body
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    status = status if isinstance(status, int) else None
    data = getattr(response, "data", None)
    error = (data.get("error") if isinstance(data, dict) else None) or f"http_{status}"
    return status, str(error), getattr(response, "headers", None)
