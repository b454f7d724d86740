"""Slack listeners only: parse, authorise, ack, call into bot/."""

from slack_bolt.async_app import AsyncApp

from bot.slack.dispatch import Dispatcher
from handlers import commands


def register_all(app: AsyncApp, dispatcher: Dispatcher) -> None:
    commands.register(app, dispatcher)
