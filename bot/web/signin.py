"""Sign in with Slack for the web pages: OpenID Connect's authorization code flow (Authlib)
against a configurable issuer (https://slack.com, or the stand-in in tests and the demo).

Authlib keeps ``state`` and ``nonce`` in the signed session while the person is at Slack,
checks both on the way back, and verifies the ID token against the provider's JWKS
(issuer, audience, expiry). We then admit only members of the configured workspace (the
``https://slack.com/team_id`` claim) and, when ``PREPROD_WEB_ROLES`` is set, of one of
those roles. The session cookie is signed (Starlette's SessionMiddleware, itsdangerous),
``Secure``, ``HttpOnly`` and ``SameSite=Lax``; once signed in it holds only a random token
and the form token. The session itself is a row of the shared database
(bot/store/sessions.py), looked up on every request: signing out, ``preprod sessions
revoke``, removal from the roles, ``PREPROD_SESSION_IDLE`` without a request or
``PREPROD_SESSION_TTL`` after sign-in end it on every replica, and a copied cookie with
it."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.integrations.starlette_client import OAuth, OAuthError
from joserfc.errors import JoseError
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.gate.roles import Directory, DirectoryUnavailable
from bot.settings import Settings
from bot.store.models import utcnow
from bot.store.runs import RunStore
from bot.store.sessions import REMOVED_FROM_ROLES, SIGNED_OUT, Limits, WebSessions

log = logging.getLogger(__name__)

USER_CLAIM = "https://slack.com/user_id"
TEAM_CLAIM = "https://slack.com/team_id"
SESSION_COOKIE = "preprod_session"
CALLBACK = "/auth/callback"

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class WebUser:
    """Who is signed in: a Slack user of the configured workspace."""

    user_id: str
    name: str
    csrf: str
    """The session's form token: every form carries it, every POST must match it."""


class SignIn:
    """The ``/auth/*`` routes, and the gate every page but Slack's and health go through."""

    def __init__(self, settings: Settings, directory: Directory, sessions: WebSessions) -> None:
        self.settings = settings
        self.directory = directory
        self.sessions = sessions
        self.oauth = OAuth()
        self.oauth.register(
            "slack",
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            server_metadata_url=f"{settings.oidc_issuer}/.well-known/openid-configuration",
            client_kwargs={
                "scope": "openid profile email",
                "token_endpoint_auth_method": "client_secret_post",
                "timeout": 10.0,
            },
        )

    @property
    def redirect_uri(self) -> str:
        return f"{self.settings.public_url}{CALLBACK}"

    def routes(self) -> list[Route]:
        return [
            Route("/auth/login", self.login),
            Route(CALLBACK, self.callback),
            Route("/auth/logout", self.logout, methods=["POST"]),
        ]

    # -- the gate on every page -----------------------------------------------------------

    async def user(self, request: Request) -> WebUser | None:
        """The signed-in person, or None: no session, one that ended (signed out, revoked,
        idle, past its time) or one whose person the roles no longer admit (which ends
        it). While the roles cannot be checked the page is refused but the session kept."""
        session = request.session
        token = session.get("sid")
        if not isinstance(token, str):  # none, a sign-in under way, or a former cookie
            return None
        active = await self.sessions.check(token)
        if active is None:
            session.clear()
            return None
        if self.settings.web_roles:
            member = await self._in_roles(active.user)
            if member is None:
                return None
            if not member:
                await self.sessions.end(token, REMOVED_FROM_ROLES)
                log.info(
                    "web session of %s ended: no longer in %s",
                    active.user,
                    "/".join(self.settings.web_roles),
                )
                session.clear()
                return None
        csrf = session.get("csrf")
        if not isinstance(csrf, str):
            csrf = session["csrf"] = secrets.token_urlsafe(32)
        return WebUser(active.user, active.name, csrf)

    def required(self, page: Callable[[Request, WebUser], Awaitable[Response]]) -> Endpoint:
        """``page`` for a signed-in person; anyone else is sent to sign in (a GET) or
        refused (anything else: a form must not be replayed through a sign-in)."""

        async def endpoint(request: Request) -> Response:
            user = await self.user(request)
            if user is None:
                if request.method != "GET":
                    return HTMLResponse("<h1>Sign in first</h1>", status_code=401)
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/auth/login?{urlencode({'next': target})}", 302)
            return await page(request, user)

        return endpoint

    # -- the flow ---------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        if missing := self.settings.sign_in_missing:
            return _page(503, f"Sign in with Slack is not configured: set {', '.join(missing)}.")
        request.session["next"] = _local(request.query_params.get("next", "/runs"))
        client = self.oauth.create_client("slack")
        try:
            answer: Response = await client.authorize_redirect(
                request, self.redirect_uri, team=self.settings.team_id
            )
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            log.warning("sign-in: the provider's discovery document failed: %s", exc)
            return _page(502, "Slack's sign-in could not be reached; try again in a moment.")
        return answer

    async def callback(self, request: Request) -> Response:
        client = self.oauth.create_client("slack")
        try:
            token: dict[str, Any] = await client.authorize_access_token(request)
        except (OAuthError, JoseError, httpx.HTTPError, ValueError, KeyError) as exc:
            log.warning("sign-in refused: %s: %s", type(exc).__name__, exc)
            return _page(403, "Sign-in failed. Start again from the page you wanted.")
        claims = token.get("userinfo") or {}
        user = claims.get(USER_CLAIM) or claims.get("sub")
        if not isinstance(user, str) or not user or len(user) > 64:
            return _page(403, "Sign-in failed: Slack did not say who you are.")
        if claims.get(TEAM_CLAIM) != self.settings.team_id:
            log.warning("sign-in refused: %s is not in workspace %s", user, self.settings.team_id)
            return _page(403, "Only members of the release team's Slack workspace may sign in.")
        if self.settings.web_roles and not await self._in_roles(user):
            return _page(403, "Only members of the release roles may see these pages.")
        target = _local(str(request.session.get("next", "/runs")))
        sid = await self.sessions.open(user, str(claims.get("name") or user)[:80])
        request.session.clear()  # nothing from before sign-in survives it
        request.session.update(sid=sid, csrf=secrets.token_urlsafe(32))
        return RedirectResponse(target, status_code=303)

    async def logout(self, request: Request) -> Response:
        token = request.session.get("sid")
        if isinstance(token, str):
            await self.sessions.end(token, SIGNED_OUT)
        request.session.clear()
        return _page(200, "Signed out.")

    async def _in_roles(self, user: str) -> bool | None:
        """Whether ``user`` is in one of the web roles; None when no role said yes and
        some could not be checked (Slack unreachable): not known, so nothing is ended."""
        unknown = False
        for role in self.settings.web_roles:
            try:
                if user in await self.directory.members(role):
                    return True
            except DirectoryUnavailable:
                log.warning("sign-in: membership of %s could not be checked", role)
                unknown = True
        return None if unknown else False


def stored_sessions(
    store: RunStore, settings: Settings, clock: Callable[[], datetime] = utcnow
) -> WebSessions:
    """The sessions table with the limits of the settings."""
    limits = Limits(
        ttl=timedelta(seconds=settings.session_ttl), idle=timedelta(seconds=settings.session_idle)
    )
    return WebSessions(store, limits, clock)


def _local(target: str) -> str:
    """Only a path on this site: never an open redirect to elsewhere."""
    if not target.startswith("/") or target.startswith(("//", "/\\")) or len(target) > 500:
        return "/runs"
    return target


def _page(status: int, message: str) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><title>preprod</title><h1>preprod</h1><p>{escape(message)}</p>"
        '<p><a href="/runs">Sign in again</a></p>',
        status_code=status,
    )
