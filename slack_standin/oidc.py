"""Sign in with Slack, played locally: Slack's OpenID Connect endpoints.

The same shapes as slack.com (discovery document, ``openid/connect/authorize``, the Web
API methods ``openid.connect.token`` and ``openid.connect.userInfo``, a JWKS with an RSA
key, RS256 ID tokens with Slack's ``https://slack.com/...`` claims), with the issuer set
to the stand-in's own address. The authorize step consents at once for the user named by
``as=`` or ``OpenIDProvider.user``, and otherwise shows a page to pick one.

Tests can make it misbehave the ways a real provider (or an attacker) might: sign the ID
token with a key that is not in the JWKS (``rogue_key``), or name another workspace.
"""

from __future__ import annotations

import base64
import binascii
import html
import secrets
import time
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from slack_standin.workspace import Workspace

DEFAULT_CLIENT_ID = "standin-client-id"
DEFAULT_CLIENT_SECRET = "standin-client-secret"
KEY_ID = "standin-key-1"
CODE_TTL = 60.0
MAX_FORM = 16 * 1024


@dataclass
class _Grant:
    user: str
    client_id: str
    redirect_uri: str
    nonce: str | None
    team: str
    issued: float


@dataclass
class OpenIDProvider:
    """Slack's OpenID Connect provider for the stand-in's workspace."""

    workspace: Workspace
    base_url: str = ""
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    user: str | None = None
    """Who the authorize step signs in without asking (tests); None shows a chooser."""
    team_override: str | None = None
    """Put another workspace's id in the ID token (a member of some other Slack)."""
    rogue_key: bool = False
    """Sign ID tokens with a key the JWKS does not hold (same key id)."""
    _codes: dict[str, _Grant] = field(default_factory=dict)
    _tokens: dict[str, str] = field(default_factory=dict)
    issued: list[dict[str, Any]] = field(default_factory=list)
    """The claims of every ID token issued, for tests."""

    @property
    def issuer(self) -> str:
        return self.base_url

    @property
    def key(self) -> RSAKey:
        """The signing key the JWKS publishes (made once per process: RSA is slow)."""
        return _keys()[0]

    def discovery(self) -> dict[str, Any]:
        base = self.base_url
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/openid/connect/authorize",
            "token_endpoint": f"{base}/api/openid.connect.token",
            "userinfo_endpoint": f"{base}/api/openid.connect.userInfo",
            "jwks_uri": f"{base}/openid/connect/keys",
            "scopes_supported": ["openid", "profile", "email"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["form_post"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["sub", "auth_time", "iss"],
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": True,
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        }

    def routes(self) -> list[Route]:
        return [
            Route("/.well-known/openid-configuration", self._discovery),
            Route("/openid/connect/authorize", self._authorize),
            Route("/openid/connect/keys", self._keys),
            Route("/api/openid.connect.token", self._token, methods=["POST"]),
            Route("/api/openid.connect.userInfo", self._userinfo, methods=["GET", "POST"]),
        ]

    # -- endpoints ---------------------------------------------------------------------

    async def _discovery(self, request: Request) -> Response:
        return JSONResponse(self.discovery())

    async def _keys(self, request: Request) -> Response:
        public = self.key.as_dict(private=False)
        return JSONResponse({"keys": [{**public, "kid": KEY_ID, "alg": "RS256", "use": "sig"}]})

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        problem = _authorize_problem(q.get("response_type"), q.get("scope", ""))
        if q.get("client_id") != self.client_id:
            problem = "invalid_client_id"
        redirect_uri = q.get("redirect_uri", "")
        if not redirect_uri.startswith(("http://", "https://")):
            problem = "bad_redirect_uri"
        if problem:
            return HTMLResponse(f"<h1>Sign in failed</h1><p>{html.escape(problem)}</p>", 400)
        user = q.get("as") or self.user
        if user is None:
            return HTMLResponse(self._chooser(dict(q)))
        if user not in self.workspace.users:
            return HTMLResponse("<h1>Sign in failed</h1><p>no such user</p>", 400)
        code = secrets.token_urlsafe(24)
        self._codes[code] = _Grant(
            user=user,
            client_id=self.client_id,
            redirect_uri=redirect_uri,
            nonce=q.get("nonce"),
            team=self.team_override or self.workspace.team_id,
            issued=time.monotonic(),
        )
        answer = {"code": code, **({"state": q["state"]} if "state" in q else {})}
        glue = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{glue}{urlencode(answer)}", status_code=302)

    async def _token(self, request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_FORM:
            return _error("invalid_arguments")
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = _basic_auth(request.headers.get("authorization", ""))
        if basic is not None:
            client_id, secret = basic
        if client_id != self.client_id or not secrets.compare_digest(
            secret or "", self.client_secret
        ):
            return _error("invalid_client_id")
        grant = self._codes.pop(form.get("code", ""), None)  # a code is good once
        if grant is None or time.monotonic() - grant.issued > CODE_TTL:
            return _error("invalid_code")
        if form.get("redirect_uri") != grant.redirect_uri:
            return _error("bad_redirect_uri")
        access = f"xoxp-standin-{secrets.token_hex(12)}"
        self._tokens[access] = grant.user
        return JSONResponse(
            {
                "ok": True,
                "access_token": access,
                "token_type": "Bearer",
                "id_token": self._id_token(grant),
            }
        )

    async def _userinfo(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        user = self._tokens.get(auth[7:].strip() if auth.lower().startswith("bearer ") else "")
        if user is None:
            return _error("invalid_auth")
        return JSONResponse({"ok": True, **self._claims(user, self.workspace.team_id)})

    # -- tokens ------------------------------------------------------------------------

    def _claims(self, user: str, team: str) -> dict[str, Any]:
        person = self.workspace.users[user]
        return {
            "sub": user,
            "https://slack.com/user_id": user,
            "https://slack.com/team_id": team,
            "https://slack.com/team_domain": self.workspace.team_domain,
            "email": f"{person.name}@{self.workspace.team_domain}.example",
            "email_verified": True,
            "name": person.real_name,
            "given_name": person.real_name.split(" ")[0],
            "locale": "en-US",
        }

    def _id_token(self, grant: _Grant) -> str:
        now = int(time.time())
        claims = {
            **self._claims(grant.user, grant.team),
            "iss": self.issuer,
            "aud": grant.client_id,
            "exp": now + 300,
            "iat": now,
            "auth_time": now,
            **({"nonce": grant.nonce} if grant.nonce is not None else {}),
        }
        self.issued.append(claims)
        key = _keys()[1] if self.rogue_key else self.key
        return jwt.encode({"alg": "RS256", "kid": KEY_ID, "typ": "JWT"}, claims, key)

    def _chooser(self, query: dict[str, str]) -> str:
        """The stand-in's consent page: pick who signs in."""
        links = "".join(
            f'<li><a href="{html.escape(_chosen(query, u.id))}">'
            f"{html.escape(u.name)} ({html.escape(u.id)})</a></li>"
            for u in self.workspace.users.values()
        )
        return (
            "<!doctype html><title>Sign in with Slack (stand-in)</title>"
            "<h1>Sign in to preprod</h1><p>Choose who you are in this workspace:</p>"
            f"<ul>{links}</ul>"
        )


@cache
def _keys() -> tuple[RSAKey, RSAKey]:
    """The published key and a rogue one with the same key id."""
    return (
        RSAKey.generate_key(2048, parameters={"kid": KEY_ID}, private=True),
        RSAKey.generate_key(2048, parameters={"kid": KEY_ID}, private=True),
    )


def _chosen(query: dict[str, str], user: str) -> str:
    return f"/openid/connect/authorize?{urlencode({**query, 'as': user})}"


def _authorize_problem(response_type: str | None, scope: str) -> str | None:
    if response_type != "code":
        return "unsupported_response_type"
    if "openid" not in scope.split():
        return "invalid_scope"
    return None


def _basic_auth(header: str) -> tuple[str, str] | None:
    if not header.lower().startswith("basic "):
        return None
    try:
        raw = base64.b64decode(header[6:].strip()).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, _, secret = raw.partition(":")
    return unquote(client_id), unquote(secret)


def _error(code: str) -> Response:
    """Slack's Web API answers errors with HTTP 200 and ``ok: false``."""
    return JSONResponse({"ok": False, "error": code})
