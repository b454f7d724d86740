"""Building the bot logs nothing an operator would chase."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.config.loader import load_config
from bot.settings import Settings
from bot.web.bot import build_bot
from tests.hostile_bot import CONFIG


@pytest.mark.usefixtures("scripted_kinds")
async def test_no_token_will_be_unused_warning_beside_our_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-environment")
    path = tmp_path / "preprod.yml"
    path.write_text(CONFIG)
    settings = Settings(
        bot_token="xoxb-from-the-environment",
        signing_secret="s",
        config_path=str(path),
        database_url=f"sqlite:///{tmp_path}/bot.db",
    )
    with caplog.at_level(logging.INFO):
        bot = build_bot(settings, load_config(path))
    await bot.aclose()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
