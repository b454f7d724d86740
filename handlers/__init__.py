"""Slack listeners only: parse, authorise, ack, call into bot/."""

from slack_bolt.async_app import AsyncApp

from bot.gate.actions import Gate
from bot.slack.client import SlackClient
from bot.slack.dispatch import Dispatcher
from handlers import commands, interactions


def register_all(app: AsyncApp, dispatcher: Dispatcher, gate: Gate, slack: SlackClient) -> None:
    commands.register(app, dispatcher)
    interactions.register(app, gate, dispatcher.manager, slack)
