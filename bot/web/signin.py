"""Sign in with Slack for the web pages: OpenID Connect's authorization code flow (Authlib)
against a configurable issuer (https://slack.com, or the stand-in in tests and the demo).

Authlib keeps ``state`` and ``nonce`` in the signed session while the person is at Slack,
checks both on the way back, and verifies the ID token against the provider's JWKS
(issuer, audience, expiry). We then admit only members of the configured workspace (the
``https://slack.com/team_id`` claim) and, when ``PREPROD_WEB_ROLES`` is set, of one of
those roles. The session cookie is signed (Starlette's SessionMiddleware, itsdangerous),
``Secure``, ``HttpOnly`` and ``SameSite=Lax``; it holds who signed in and when, and ends
``PREPROD_SESSION_TTL`` after sign-in whatever the activity."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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

    def __init__(self, settings: Settings, directory: Directory) -> None:
        self.settings = settings
        self.directory = directory
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
        """The signed-in person, or None (no session, an expired one, or one whose roles
        no longer admit them)."""
        session = request.session
        user, at = session.get("user"), session.get("at")
        if not isinstance(user, str) or not isinstance(at, int | float):
            return None
        if time.time() - at > self.settings.session_ttl:
            session.clear()
            return None
        if self.settings.web_roles and not await self._in_roles(user):
            session.clear()
            return None
        csrf = session.get("csrf")
        if not isinstance(csrf, str):
            csrf = session["csrf"] = secrets.token_urlsafe(32)
        return WebUser(user, str(session.get("name", user)), csrf)

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
        if not isinstance(user, str) or not user:
            return _page(403, "Sign-in failed: Slack did not say who you are.")
        if claims.get(TEAM_CLAIM) != self.settings.team_id:
            log.warning("sign-in refused: %s is not in workspace %s", user, self.settings.team_id)
            return _page(403, "Only members of the release team's Slack workspace may sign in.")
        if self.settings.web_roles and not await self._in_roles(user):
            return _page(403, "Only members of the release roles may see these pages.")
        target = _local(str(request.session.get("next", "/runs")))
        request.session.clear()  # nothing from before sign-in survives it
        request.session.update(
            user=user,
            name=str(claims.get("name") or user)[:80],
            at=int(time.time()),
            csrf=secrets.token_urlsafe(32),
        )
        return RedirectResponse(target, status_code=303)

    async def logout(self, request: Request) -> Response:
        request.session.clear()
        return _page(200, "Signed out.")

    async def _in_roles(self, user: str) -> bool:
        for role in self.settings.web_roles:
            try:
                if user in await self.directory.members(role):
                    return True
            except DirectoryUnavailable:
                log.warning("sign-in: membership of %s could not be checked", role)
        return False


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
