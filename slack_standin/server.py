"""``SlackStandIn``: the local Slack, served over real HTTP on 127.0.0.1.

The bot talks to it exactly as to slack.com (``base_url=standin.api_url``); tests read
what happened (``calls``, ``channel(...).messages``, ``ephemerals(...)``) and drive the
bot through it (``send_command``, ``click``, ``submit_view``, from driver.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from slack_standin import webapi, webui
from slack_standin.driver import Delivery, Driver
from slack_standin.limits import ApiError
from slack_standin.oidc import OpenIDProvider
from slack_standin.ratelimit import RateLimiter
from slack_standin.responses import RecordedResponse, ResponseTarget, apply_response
from slack_standin.serving import Served, fault_answer, read_args
from slack_standin.workspace import Channel, Json, Message, User, Workspace

DEFAULT_TOKEN = "xoxb-standin-token"
READ_ONLY = frozenset({"auth.test", "users.info", "usergroups.users.list", "chat.getPermalink"})
"""Methods that change nothing a person could see (the web view is not told of them)."""
DEFAULT_SECRET = "standin-signing-secret"


@dataclass
class RecordedCall:
    """One Web API call: arguments (``blocks``/``view`` parsed), answer and HTTP status."""

    method: str
    args: Json
    status: int
    response: Json
    at: float

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))


@dataclass
class _Fault:
    status: int
    retry_after: int | None
    after_acting: bool = False
    """Carry the call out, then answer the error (an answer lost on the way back)."""


@dataclass(frozen=True)
class _Outage:
    """A window of the stand-in's clock in which every Web API call fails alike."""

    start: float
    end: float
    status: int
    retry_after: int | None


class SlackStandIn(Served, Driver):
    """A local Slack workspace: the Web API, ``response_url``s, and signed requests out."""

    client_timeout = 10.0

    def __init__(
        self,
        *,
        signing_secret: str = DEFAULT_SECRET,
        bot_url: str = "",
        token: str = DEFAULT_TOKEN,
        users: Mapping[str, str] | None = None,
        usergroups: Mapping[str, list[str]] | None = None,
        channels: Mapping[str, str] | None = None,
        enforce_rate_limits: bool = False,
        post_message_burst: int = 5,
        clock: Callable[[], float] = time.monotonic,
        trigger_ttl: float = 3.0,
    ) -> None:
        self.signing_secret = signing_secret
        self.bot_url = bot_url
        self.token = token
        self.enforce_rate_limits = enforce_rate_limits
        self.clock = clock
        self.workspace = Workspace(clock=clock, trigger_ttl=trigger_ttl)
        for user_id, name in (users if users is not None else {"U1": "alice"}).items():
            self.add_user(user_id, name)
        self.workspace.usergroups.update({k: list(v) for k, v in (usergroups or {}).items()})
        for channel_id, name in (channels or {"C0RELEASES": "releases"}).items():
            self.workspace.add_channel(channel_id, name)
        self.limiter = RateLimiter(clock=clock, post_message_burst=post_message_burst)
        self.calls: list[RecordedCall] = []
        self.responses: list[RecordedResponse] = []
        self.deliveries: list[Delivery] = []
        self._faults: dict[str, list[_Fault]] = {}
        self._outages: list[_Outage] = []
        self._targets: dict[str, ResponseTarget] = {}
        self.changes = webui.Changes()
        self.oidc = OpenIDProvider(self.workspace)
        """Sign in with Slack (OpenID Connect); its issuer is this stand-in's URL."""
        self.app = Starlette(
            routes=[
                *self.oidc.routes(),  # before /api/{method}: two of them are Web API methods
                Route("/api/{method}", self._api, methods=["GET", "POST"]),
                Route("/response/{rid}", self._response, methods=["POST"]),
                *webui.routes(self, self.changes),
            ]
        )
        self._serve(self.app)

    def _started(self) -> None:
        self.oidc.base_url = self.url

    @property
    def api_url(self) -> str:
        """The Web API base URL for ``AsyncWebClient(base_url=...)`` / ``SLACK_API_URL``."""
        return f"{self.url}/api/"

    # -- configuration and inspection --------------------------------------------------

    def add_user(
        self, user_id: str, name: str, real_name: str = "", tz: str = "Europe/Berlin"
    ) -> User:
        user = User(user_id, name, real_name or name.title(), tz)
        self.workspace.users[user_id] = user
        return user

    def add_channel(self, channel_id: str, name: str) -> Channel:
        return self.workspace.add_channel(channel_id, name)

    def channel(self, channel_id: str) -> Channel:
        """A channel by id (KeyError if unknown); ``.messages`` are its top-level messages."""
        return self.workspace.channels[channel_id]

    def thread(self, channel_id: str, ts: str) -> list[Message]:
        """The replies under the message ``ts``, oldest first (parent not included)."""
        return self.channel(channel_id).thread(ts)

    def ephemerals(self, user_id: str) -> list[Message]:
        """Ephemeral messages shown to a user (``chat.postEphemeral``, acks, responses)."""
        return list(self.workspace.ephemerals.get(user_id, []))

    def calls_to(self, method: str) -> list[RecordedCall]:
        return [c for c in self.calls if c.method == method]

    def issue_trigger(self, user_id: str) -> str:
        """A fresh ``trigger_id`` (valid for ``trigger_ttl`` s) for ``views.open``."""
        return self.workspace.issue_trigger(user_id)

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """Make the next ``times`` calls to ``method`` answer 429 ``Retry-After``."""
        self._faults.setdefault(method, []).extend([_Fault(429, retry_after)] * times)

    def fail(
        self, method: str, times: int = 1, status: int = 503, *, after_acting: bool = False
    ) -> None:
        """Make the next ``times`` calls to ``method`` answer a server error; with
        ``after_acting``, the call is carried out first (its answer is what gets lost)."""
        fault = _Fault(status, None, after_acting)
        self._faults.setdefault(method, []).extend([fault] * times)

    def outage(self, seconds: float, status: int = 503, *, retry_after: int | None = None) -> None:
        """Every Web API call answers ``status`` for ``seconds`` (a 429 with ``Retry-After:
        retry_after``), from now or from the end of the outages already scheduled: so
        ``outage(60)`` then ``outage(30, 429, retry_after=5)`` is a minute of 503s followed
        by 30 s of 429s. ``response_url`` posts are not affected (another Slack host)."""
        if seconds <= 0 or not 400 <= status <= 599:
            raise ValueError(f"an outage needs seconds > 0 and an HTTP error status, got "
                             f"{seconds!r} s of {status!r}")  # fmt: skip
        start = max([self.clock(), *(o.end for o in self._outages)])
        self._outages.append(_Outage(start, start + seconds, status, retry_after))

    def end_outage(self) -> None:
        """Slack answers again at once (every scheduled outage dropped)."""
        self._outages.clear()

    @property
    def in_outage(self) -> bool:
        """Whether a Web API call made now would meet an outage."""
        return self._outage_now() is not None

    def _outage_now(self) -> _Outage | None:
        now = self.clock()
        self._outages = [o for o in self._outages if o.end > now]
        return next((o for o in self._outages if o.start <= now), None)

    # -- HTTP handlers -----------------------------------------------------------------

    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        raw, token = await read_args(request)
        headers: dict[str, str] = {}
        try:
            args = webapi.parse_args(raw)
        except ApiError as err:
            status, body, args = 200, err.slack.body(), raw
        else:
            status, headers, body = self._answer(method, args, token)
        self.calls.append(RecordedCall(method, args, status, body, time.time()))
        if body.get("ok") and method not in READ_ONLY:
            self.changes.bump()
        return JSONResponse(body, status_code=status, headers=headers)

    def _answer(
        self, method: str, args: Json, token: str | None
    ) -> tuple[int, dict[str, str], Json]:
        outage = self._outage_now()
        if outage is not None:
            return fault_answer(outage.status, outage.retry_after)
        faults = self._faults.get(method)
        if faults:
            fault = faults.pop(0)
            if fault.after_acting and method in webapi.METHODS:
                webapi.call(self.workspace, method, args)
            return fault_answer(fault.status, fault.retry_after)
        if method not in webapi.METHODS:
            return 200, {}, {"ok": False, "error": "unknown_method"}
        if not token:
            return 200, {}, {"ok": False, "error": "not_authed"}
        if token != self.token:
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        if self.enforce_rate_limits:
            wait = self.limiter.check(method, str(args.get("channel") or ""))
            if wait is not None:
                return fault_answer(429, wait)
        return 200, {}, webapi.call(self.workspace, method, args)

    async def _response(self, request: Request) -> Response:
        rid = request.path_params["rid"]
        try:
            body: Any = json.loads(await request.body() or b"{}")
        except ValueError:
            body = None
        target = self._targets.get(rid)
        if target is None:
            status, answer = 404, {"ok": False, "error": "no_such_response_url"}
        else:
            status, answer = apply_response(self.workspace, target, body, self.clock())
        recorded = body if isinstance(body, dict) else {"_raw": body}
        self.responses.append(RecordedResponse(rid, recorded, status, time.time(), target))
        self.changes.bump()
        return JSONResponse(answer, status_code=status)
