"""The running bot, assembled once at start-up: the config, the store, the Slack client,
the gate with its Slack panel, the run manager and Bolt with preprod's listeners.

``preprod serve`` puts it behind the ASGI app (bot/web/app.py); ``preprod socket`` runs
its Bolt app over Socket Mode."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from slack_bolt.async_app import AsyncApp

from bot.config.loader import load_config
from bot.config.schema import Config
from bot.gate.actions import Gate
from bot.gate.roles import RoleDirectory
from bot.settings import Settings
from bot.slack.client import SlackClient
from bot.slack.dispatch import Dispatcher
from bot.slack.gate_panel import GatePanel
from bot.slack.runs import RunManager
from bot.store.runs import RunStore
from handlers import register_all

log = logging.getLogger(__name__)
EXPIRY_INTERVAL = 60.0


@dataclass
class Bot:
    """Everything a running bot holds, built once at start-up."""

    settings: Settings
    config: Config
    store: RunStore
    slack: SlackClient
    manager: RunManager
    bolt: AsyncApp
    gate: Gate
    _expiry: asyncio.Task[None] | None = None

    def start(self, every: float = EXPIRY_INTERVAL) -> None:
        """Background duties: runs past their sign-off deadline are announced expired."""
        self._expiry = asyncio.create_task(self._expire_forever(every))

    async def _expire_forever(self, every: float) -> None:
        try:
            await self.manager.recover()
        except Exception:
            log.exception("marking interrupted runs failed")
        while True:
            try:
                await self.gate.expire_due()
            except Exception:
                log.exception("checking sign-off deadlines failed; trying again later")
            await asyncio.sleep(every)

    async def aclose(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        await self.manager.aclose()
        await self.slack.aclose()


def build_bot(settings: Settings, config: Config | None = None) -> Bot:
    config = config or load_config(settings.config_path)
    store = RunStore(settings.database_url)
    slack = SlackClient(settings.bot_token, base_url=settings.api_url)
    directory = RoleDirectory(config, slack.usergroup_members)
    gate = Gate(config, store, directory, report_url=settings.report_url)
    gate.add_listener(GatePanel(store, slack))
    manager = RunManager(config, store, slack, settings, gate)
    bolt = AsyncApp(
        client=slack.web_client,
        signing_secret=settings.signing_secret or None,
        # Bolt's own "unhandled request" warnings are noise for events we do not use.
        raise_error_for_unhandled_request=False,
    )
    register_all(bolt, Dispatcher(manager), gate, slack)
    return Bot(settings, config, store, slack, manager, bolt, gate)
