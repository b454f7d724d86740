"""The real bot (Bolt in Starlette, over HTTP) wired to the local Slack stand-in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.config.loader import load_config
from bot.settings import Settings
from bot.store.models import utcnow
from bot.web.app import create_app
from bot.web.bot import Bot, build_bot
from bot.web.signin import stored_sessions
from handlers import after_ack
from slack_standin import Message, SlackStandIn
from slack_standin.serving import StandInServer
from tests.support.processes import free_ports, until
from tests.support.workspace import CHANNEL, USERS

__all__ = ["CHANNEL", "METRICS_TOKEN", "USERS", "Harness", "running_bot"]

METRICS_TOKEN = "test-metrics-token"


@dataclass
class Harness:
    standin: SlackStandIn
    bot: Bot
    url: str = ""
    """Where the bot's HTTP app answers (``/slack/events``, ``/healthz``, ``/metrics``)."""

    async def command(self, text: str, user: str = "U0RM", channel: str = CHANNEL) -> str:
        """Send ``/preprod text``; the ack must be a 200; returns the ack's text."""
        response = await self.standin.send_command(text, user_id=user, channel_id=channel)
        assert response.status_code == 200, response.text
        return str(response.json().get("text", "")) if response.content else ""

    async def settle(self, timeout: float = 60.0) -> None:
        """Until no run is executing and every Slack update has gone out."""

        def settled() -> bool:
            return not (
                after_ack.pending() or self.bot.manager.tasks or self.bot.manager.coalescer.busy()
            )

        await until(settled, timeout, "the bot did not settle in time")
        await asyncio.sleep(0.05)

    async def until(self, condition: Callable[[], bool], timeout: float = 30.0) -> None:
        """Wait for ``condition`` (see ``tests.support.processes.until``)."""
        await until(condition, timeout)

    def parents(self) -> list[Message]:
        """Top-level messages that opened a run's thread (not announcements)."""
        return [
            m
            for m in self.standin.channel(CHANNEL).messages
            if m.thread_ts in (None, m.ts) and "Pre-production validation" in m.text
        ]

    def thread(self) -> list[Message]:
        """The replies under the only run's parent message."""
        [parent] = self.parents()
        return self.standin.thread(CHANNEL, parent.ts)

    def results(self) -> Message:
        """The latest results message of the run."""
        return [m for m in self.thread() if m.text.startswith("Results for")][-1]


@asynccontextmanager
async def running_bot(
    config_path: Path,
    tmp_path: Path,
    *,
    update_interval: float = 0.2,
    web: bool = False,
    web_roles: tuple[str, ...] = (),
    lease_ttl: float = 30.0,
    session_clock: Callable[[], datetime] = utcnow,
    database_url: str | None = None,
) -> AsyncIterator[Harness]:
    """The bot and a stand-in; ``web=True`` makes the bot's public URL its real address, so
    that Sign in with Slack (pointed at the stand-in) returns to it. ``session_clock`` is
    the web sessions' clock (their idle and total limits). The database is a SQLite file in
    ``tmp_path`` unless ``database_url`` names another."""
    standin = SlackStandIn(users=USERS, channels={CHANNEL: "releases", "C0RANDOM": "random"})
    await standin.start()
    [port] = free_ports(1)
    settings = Settings(
        bot_token=standin.token,
        signing_secret=standin.signing_secret,
        api_url=standin.api_url,
        config_path=str(config_path),
        database_url=database_url or f"sqlite:///{tmp_path}/bot.db",
        public_url=f"http://127.0.0.1:{port}" if web else "http://127.0.0.1:3000",
        update_interval=update_interval,
        oidc_issuer=standin.url,
        client_id=standin.oidc.client_id,
        client_secret=standin.oidc.client_secret,
        team_id=standin.workspace.team_id,
        web_roles=web_roles,
        session_secret="test-session-secret",
        metrics_token=METRICS_TOKEN,
        lease_ttl=lease_ttl,
    )
    bot = build_bot(settings, load_config(config_path))
    server = StandInServer(
        create_app(bot, sessions=stored_sessions(bot.store, settings, session_clock))
    )
    await server.start(port)
    url = f"http://127.0.0.1:{server.port}"
    standin.bot_url = f"{url}/slack/events"
    try:
        yield Harness(standin, bot, url)
    finally:
        await bot.aclose()
        await server.stop()
        await standin.stop()
