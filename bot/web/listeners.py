"""The Slack listeners the web app registers: found through the ``preprod.slack_listeners``
entry point (the top-level ``handlers`` package declares ``handlers:register_all`` in
pyproject.toml), so that nothing of ``bot`` imports the handlers, which import ``bot``.
An install without any is refused at start-up: a bot that acks nothing is worse than
one that does not start."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Protocol

from slack_bolt.async_app import AsyncApp

from bot.gate.actions import Gate
from bot.slack.client import SlackClient
from bot.slack.dispatch import Dispatcher

GROUP = "preprod.slack_listeners"


class Register(Protocol):
    """What a listeners package offers: add its listeners to the Bolt app."""

    def __call__(
        self, app: AsyncApp, dispatcher: Dispatcher, gate: Gate, slack: SlackClient
    ) -> None: ...


class NoListeners(RuntimeError):
    """preprod is not installed as a package (its entry points are missing)."""


def installed() -> list[Register]:
    """Every registered listeners package, in name order."""
    found: list[Register] = [ep.load() for ep in sorted(entry_points(group=GROUP), key=str)]
    if not found:
        raise NoListeners(
            f"no Slack listeners are installed (entry point group {GROUP!r}): install "
            "preprod as a package (`pip install -e .`, as `make install` does)"
        )
    return found
