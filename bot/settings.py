"""The bot's settings, from the environment. Secrets live only here, never in the config."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

SIGNING_KEY_ENV = "PREPROD_SIGNING_KEY_FILE"
"""The environment variable naming the PEM file of the private key the bot signs with."""

EXECUTE_RUNS = "PREPROD_EXECUTE_RUNS"
"""``0`` makes a ``serve`` replica leave every run to ``preprod worker`` processes."""


SESSION_TTL = 8 * 3600.0
SESSION_IDLE = 3600.0


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
    lease_ttl: float = 30.0
    """Seconds before another process may resume a run whose owner stopped renewing it."""
    poll_interval: float = 1.0
    """Seconds between looks for queued runs to claim and for cancel requests."""
    max_clock_skew: float = 10.0
    """``PREPROD_MAX_CLOCK_SKEW``: seconds this process's clock may differ from the
    database's before it refuses to claim runs (bot/store/clock.py)."""
    execute_runs: bool = True
    """False for a ``serve`` replica that only acks and queues runs for workers."""
    worker_nice: int = 10
    """``PREPROD_WORKER_NICE``: the CPU niceness ``serve --workers`` gives its worker
    children (0 to 19; 0: none), so that on a shared machine the process that acks
    Slack within 3 s gets the CPU before the runs' work (bench/ack_latency.py)."""
    oidc_issuer: str = "https://slack.com"
    """Sign in with Slack's issuer: its discovery document is under ``/.well-known/``."""
    client_id: str | None = None
    """``PREPROD_SLACK_CLIENT_ID``: not ``SLACK_CLIENT_ID``, which makes Bolt's ``AsyncApp``
    switch to multi-workspace OAuth and ignore the bot token."""
    client_secret: str | None = None
    team_id: str | None = None
    """The workspace whose members may sign in to the web pages."""
    web_roles: tuple[str, ...] = ()
    """When set, only members of one of these roles (of the config) see the pages."""
    session_secret: str | None = None
    """``PREPROD_SESSION_SECRET``: signs the session cookie; ``serve`` with sign-in
    configured refuses to start without it (see :meth:`web_refusal`)."""
    session_ttl: float = SESSION_TTL
    """Seconds a sign-in lasts at most, however active."""
    session_idle: float = SESSION_IDLE
    """Seconds without a request after which a session ends."""
    metrics_token: str | None = None
    """The bearer token ``/metrics`` wants; without it ``/metrics`` answers 401."""
    ready_timeout: float = 1.5
    """``PREPROD_READY_TIMEOUT``: seconds ``/readyz`` waits for the database probe."""
    ready_outbox_age: float = 600.0
    """``PREPROD_READY_OUTBOX_AGE``: seconds the oldest unsent Slack message may wait."""
    ready_slack_failures: int = 3
    """``PREPROD_READY_SLACK_FAILURES``: Web API attempts failing in a row before Slack
    counts as failing (and lasting ``ready_slack_seconds``)."""
    ready_slack_seconds: float = 60.0
    """``PREPROD_READY_SLACK_SECONDS``: how long such a streak must last."""
    ack_budget: float = 2.5
    """Seconds the database work before a Slack ack may take in all (Slack waits 3 s);
    past it the person is told that nothing was recorded."""
    db_connect_timeout: float = 2.0
    """Seconds to open a database connection (PostgreSQL ``connect_timeout``)."""
    db_pool_timeout: float = 2.0
    """Seconds to wait for a free pooled database connection."""

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
        session_ttl, session_idle = session_limits(env)
        return cls(
            bot_token=env["SLACK_BOT_TOKEN"],
            signing_secret=env.get("SLACK_SIGNING_SECRET", ""),
            app_token=env.get("SLACK_APP_TOKEN") or None,
            api_url=env.get("SLACK_API_URL") or None,
            config_path=env.get("PREPROD_CONFIG") or "preprod.yml",
            database_url=env.get("DATABASE_URL") or None,
            public_url=(env.get("PREPROD_PUBLIC_URL") or "http://127.0.0.1:3000").rstrip("/"),
            update_interval=_seconds(env, "PREPROD_UPDATE_INTERVAL", 1.5),
            lease_ttl=_seconds(env, "PREPROD_LEASE_TTL", 30.0),
            poll_interval=_seconds(env, "PREPROD_POLL_INTERVAL", 1.0),
            max_clock_skew=_seconds(env, "PREPROD_MAX_CLOCK_SKEW", 10.0),
            execute_runs=env.get(EXECUTE_RUNS, "1").strip().lower() not in ("0", "false", "no"),
            worker_nice=_niceness(env, "PREPROD_WORKER_NICE", 10),
            oidc_issuer=(env.get("PREPROD_OIDC_ISSUER") or "https://slack.com").rstrip("/"),
            client_id=env.get("PREPROD_SLACK_CLIENT_ID") or None,
            client_secret=env.get("PREPROD_SLACK_CLIENT_SECRET") or None,
            team_id=env.get("PREPROD_SLACK_TEAM_ID") or None,
            web_roles=_names(env.get("PREPROD_WEB_ROLES", "")),
            session_secret=env.get("PREPROD_SESSION_SECRET") or None,
            session_ttl=session_ttl,
            session_idle=session_idle,
            metrics_token=env.get("PREPROD_METRICS_TOKEN") or None,
            ready_timeout=_seconds(env, "PREPROD_READY_TIMEOUT", 1.5),
            ready_outbox_age=_seconds(env, "PREPROD_READY_OUTBOX_AGE", 600.0),
            ready_slack_failures=_count(env, "PREPROD_READY_SLACK_FAILURES", 3),
            ready_slack_seconds=_seconds(env, "PREPROD_READY_SLACK_SECONDS", 60.0),
            ack_budget=_seconds(env, "PREPROD_ACK_BUDGET", 2.5),
            db_connect_timeout=_seconds(env, "PREPROD_DB_CONNECT_TIMEOUT", 2.0),
            db_pool_timeout=_seconds(env, "PREPROD_DB_POOL_TIMEOUT", 2.0),
        )

    @property
    def sign_in_missing(self) -> list[str]:
        """The variables Sign in with Slack still needs (none: the pages can be used)."""
        wanted = {
            "PREPROD_SLACK_CLIENT_ID": self.client_id,
            "PREPROD_SLACK_CLIENT_SECRET": self.client_secret,
            "PREPROD_SLACK_TEAM_ID": self.team_id,
        }
        return [name for name, value in wanted.items() if not value]

    def web_refusal(self) -> str | None:
        """Why ``serve`` must not start: the web pages' sign-in is configured but nothing
        of its own signs the session cookie (a key derived from the Slack signing secret
        would tie the two secrets together, and a random one differs on every replica)."""
        if self.sign_in_missing or self.session_secret:
            return None
        return (
            "PREPROD_SESSION_SECRET is not set: Sign in with Slack is configured "
            "(PREPROD_SLACK_CLIENT_ID), so set PREPROD_SESSION_SECRET to a long random "
            "value, the same on every replica (e.g. the output of `openssl rand -hex 32`)"
        )

    def session_key(self) -> str:
        """The key that signs session cookies: ``PREPROD_SESSION_SECRET``, else a random
        one for this process (only while sign-in is not configured: see
        :meth:`web_refusal`)."""
        return self.session_secret or secrets.token_hex(32)

    def report_url(self, run_id: int) -> str:
        return f"{self.public_url}/runs/{run_id}"


def session_limits(environ: Mapping[str, str] | None = None) -> tuple[float, float]:
    """``PREPROD_SESSION_TTL`` and ``PREPROD_SESSION_IDLE`` in seconds, for the commands
    that need only these (``preprod sessions``)."""
    env = os.environ if environ is None else environ
    return (
        _seconds(env, "PREPROD_SESSION_TTL", SESSION_TTL),
        _seconds(env, "PREPROD_SESSION_IDLE", SESSION_IDLE),
    )


def _names(raw: str) -> tuple[str, ...]:
    """A comma list: ``sre, security`` -> ``("sre", "security")``."""
    return tuple(name.strip() for name in raw.split(",") if name.strip())


def _niceness(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    if not raw.strip().isdigit() or int(raw) > 19:
        raise SettingsError(f"{name} must be a whole number from 0 to 19, not {raw!r}")
    return int(raw)


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    if not raw.strip().isdigit() or int(raw) < 1:
        raise SettingsError(f"{name} must be a whole number of at least 1, not {raw!r}")
    return int(raw)


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, not {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be more than 0 seconds, not {raw!r}")
    return value
