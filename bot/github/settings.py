"""The GitHub App's settings, from the environment. Secrets live here, never in the config.

``PREPROD_GITHUB_APP_ID`` takes the App id (digits) or its client id (``Iv…``, which
GitHub now recommends as the JWT issuer).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

APP_ID_ENV = "PREPROD_GITHUB_APP_ID"
PRIVATE_KEY_ENV = "PREPROD_GITHUB_PRIVATE_KEY_FILE"
WEBHOOK_SECRET_ENV = "PREPROD_GITHUB_WEBHOOK_SECRET"
API_URL_ENV = "PREPROD_GITHUB_API_URL"
RECONCILE_ENV = "PREPROD_GITHUB_RECONCILE_SECONDS"
RECONCILE_EVERY = 30.0
DEFAULT_API_URL = "https://api.github.com"


class GitHubSettingsError(ValueError):
    """A variable is missing or wrong; the message names it and what was expected."""


@dataclass(frozen=True)
class GitHubSettings:
    app_id: int | None
    client_id: str | None
    private_key_pem: str
    webhook_secret: str
    api_url: str = DEFAULT_API_URL
    reconcile_every: float = RECONCILE_EVERY
    """Seconds between reconciler passes, and before an unanswered answer is sent again."""

    @property
    def issuer(self) -> str:
        return str(self.app_id) if self.app_id is not None else str(self.client_id)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GitHubSettings | None:
        """The settings, or None when no GitHub App is configured (no variable set)."""
        env = os.environ if environ is None else environ
        names = (APP_ID_ENV, PRIVATE_KEY_ENV, WEBHOOK_SECRET_ENV)
        if not any(env.get(name) for name in names):
            return None
        for name in names:
            if not env.get(name, "").strip():
                raise GitHubSettingsError(
                    f"{name}: not set (a GitHub App needs all of {', '.join(names)})"
                )
        ident = env[APP_ID_ENV].strip()
        if not (ident.isdigit() or (ident.isascii() and ident.isalnum() and len(ident) <= 64)):
            raise GitHubSettingsError(
                f"{APP_ID_ENV}: expected the App id (digits) or its client id"
            )
        api_url = env.get(API_URL_ENV, "").strip() or DEFAULT_API_URL
        if not api_url.startswith(("https://", "http://")):
            raise GitHubSettingsError(f"{API_URL_ENV}: expected an http(s) URL, got {api_url!r}")
        every = env.get(RECONCILE_ENV, "").strip() or str(RECONCILE_EVERY)
        try:
            reconcile_every = float(every)
        except ValueError:
            reconcile_every = 0.0
        if not 0.1 <= reconcile_every <= 3600:
            raise GitHubSettingsError(
                f"{RECONCILE_ENV}: expected 0.1 to 3600 seconds, got {every!r}"
            )
        return cls(
            app_id=int(ident) if ident.isdigit() else None,
            client_id=None if ident.isdigit() else ident,
            private_key_pem=_read_key(env[PRIVATE_KEY_ENV].strip()),
            webhook_secret=env[WEBHOOK_SECRET_ENV],
            api_url=api_url.rstrip("/"),
            reconcile_every=reconcile_every,
        )


def _read_key(path: str) -> str:
    try:
        text = Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else type(err).__name__
        raise GitHubSettingsError(f"{PRIVATE_KEY_ENV}: cannot read {path}: {reason}") from None
    if "-----BEGIN" not in text or "PRIVATE KEY-----" not in text:
        raise GitHubSettingsError(f"{PRIVATE_KEY_ENV}: {path} is not a PEM private key")
    return text
