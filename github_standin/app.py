"""The GitHub App the stand-in knows: its RSA key pair, ids, webhook secret and
installations, the App JWT rules GitHub applies, and the installation tokens it mints.

The JWT rules are a pure function of the token, the App and the time, so a test can
probe each edge (expired, too far ahead, issued in the future, forged) without a clock.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

MAX_JWT_LIFETIME = 600
"""GitHub refuses an App JWT whose ``exp`` is more than 10 minutes ahead of its clock."""
CLOCK_DRIFT = 60
"""Seconds of clock drift tolerated: ``iat`` may be this far in the future, ``exp`` this
far past the 10-minute limit (GitHub documents backdating ``iat`` by 60 s for drift)."""
TOKEN_TTL = 3600
"""An installation token lives one hour, as on GitHub."""


@dataclass(frozen=True)
class Installation:
    """An installation of the App on an account (user or organization)."""

    id: int
    account: str
    account_id: int


@dataclass(frozen=True)
class IssuedToken:
    token: str
    installation_id: int
    expires_at: datetime


def _key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,  # the PKCS#1 PEM GitHub hands out
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass
class App:
    """A registered GitHub App: what a test needs to act as it (``private_key_pem``,
    ``app_id``, ``client_id``, ``webhook_secret``) and what the stand-in checks with."""

    app_id: int = 123456
    slug: str = "preprod-gate"
    client_id: str = field(default_factory=lambda: "Iv23li" + _random(string.ascii_letters, 14))
    webhook_secret: str = field(default_factory=lambda: secrets.token_hex(20))
    private_key_pem: str = ""
    public_key_pem: str = ""
    installations: dict[int, Installation] = field(default_factory=dict)
    tokens: dict[str, IssuedToken] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.private_key_pem:
            self.private_key_pem, self.public_key_pem = _key_pair()

    def install(self, installation_id: int, account: str, account_id: int = 1000) -> Installation:
        installation = Installation(installation_id, account, account_id)
        self.installations[installation_id] = installation
        return installation

    def issue_token(self, installation_id: int, now: datetime, ttl: int = TOKEN_TTL) -> IssuedToken:
        issued = IssuedToken(
            "ghs_" + _random(string.ascii_letters + string.digits, 36),
            installation_id,
            (now + timedelta(seconds=ttl)).replace(microsecond=0),
        )
        self.tokens[issued.token] = issued
        return issued

    def token_for(self, token: str, now: datetime) -> IssuedToken | None:
        """The installation token ``token`` if this App issued it and it has not expired."""
        issued = self.tokens.get(token)
        return issued if issued is not None and issued.expires_at > now else None


def jwt_problem(token: str, app: App, now: datetime) -> str | None:
    """Why GitHub would refuse ``token`` as this App's JWT (its message), or None.

    RS256 signed by the App's key; ``iss`` the App id or its client id; ``iat`` not in the
    future beyond the drift; ``exp`` in the future and at most 10 minutes (plus drift) ahead.
    """
    try:
        claims = jwt.decode(
            token,
            app.public_key_pem,
            algorithms=["RS256"],
            options={"verify_exp": False, "verify_iat": False, "verify_aud": False},
        )
    except jwt.PyJWTError:
        return "A JSON web token could not be decoded"
    stamp = now.timestamp()
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or iat > stamp + CLOCK_DRIFT:
        return (
            "'Issued at' claim ('iat') must be an Integer representing the time that the "
            "assertion was issued"
        )
    if not isinstance(exp, int) or exp <= stamp:
        return (
            "'Expiration time' claim ('exp') must be a numeric value representing the future "
            "time at which the assertion expires"
        )
    if exp > stamp + MAX_JWT_LIFETIME + CLOCK_DRIFT:
        return "'Expiration time' claim ('exp') is too far in the future"
    if str(claims.get("iss")) not in {str(app.app_id), app.client_id}:
        return "Integration not found"
    return None


def utcnow() -> datetime:
    return datetime.now(UTC)
