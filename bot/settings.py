"""The bot's settings, from the environment. Secrets live only here, never in the config."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


class SettingsError(ValueError):
    """A required variable is missing; the message names it."""


@dataclass(frozen=True)
class Settings:
    bot_token: str
    signing_secret: str
    app_token: str | None = None
    api_url: str | None = None
    config_path: str = "preprod.yml"
    database_url: str | None = None
    public_url: str = "http://127.0.0.1:3000"
    update_interval: float = 1.5

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, socket: bool = False
    ) -> Settings:
        env = os.environ if environ is None else environ
        required = ["SLACK_BOT_TOKEN"] + (
            ["SLACK_APP_TOKEN"] if socket else ["SLACK_SIGNING_SECRET"]
        )
        if missing := [name for name in required if not env.get(name)]:
            raise SettingsError(f"missing environment variable {', '.join(missing)}")
        return cls(
            bot_token=env["SLACK_BOT_TOKEN"],
            signing_secret=env.get("SLACK_SIGNING_SECRET", ""),
            app_token=env.get("SLACK_APP_TOKEN") or None,
            api_url=env.get("SLACK_API_URL") or None,
            config_path=env.get("PREPROD_CONFIG") or "preprod.yml",
            database_url=env.get("DATABASE_URL") or None,
            public_url=(env.get("PREPROD_PUBLIC_URL") or "http://127.0.0.1:3000").rstrip("/"),
            update_interval=float(env.get("PREPROD_UPDATE_INTERVAL") or 1.5),
        )

    def report_url(self, run_id: int) -> str:
        return f"{self.public_url}/runs/{run_id}"
