"""The web app finds the Slack listeners by entry point, never by importing `handlers`
(which imports `bot`), and refuses to start without them."""

from __future__ import annotations

import pytest

import handlers
from bot.web import listeners


def test_the_installed_package_offers_the_handlers() -> None:
    assert listeners.installed() == [handlers.register_all]


def test_an_install_without_listeners_is_refused_naming_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(listeners, "entry_points", lambda group: [])
    with pytest.raises(listeners.NoListeners, match=r"pip install -e \."):
        listeners.installed()
