"""Block Kit for everything preprod says in Slack: one import for the publisher and the
handlers. Every function is pure (state in, :class:`Message` out) and its output is
already within Slack's limits; the wording lives in ``bot/slack/templates``."""

from __future__ import annotations

from bot.slack.limits import Block, Message, fit, fit_message, fit_text
from bot.slack.render_commands import (
    RunListItem,
    help_message,
    list_message,
    notice,
    report_link,
    status_message,
    unknown_environment,
    usage_error,
)
from bot.slack.render_run import (
    failure_reply,
    parent_message,
    progress_bar,
    progress_message,
    results_message,
)
from bot.slack.text import escape

__all__ = [
    "Block",
    "Message",
    "RunListItem",
    "escape",
    "failure_reply",
    "fit",
    "fit_message",
    "fit_text",
    "help_message",
    "list_message",
    "notice",
    "parent_message",
    "progress_bar",
    "progress_message",
    "report_link",
    "results_message",
    "status_message",
    "unknown_environment",
    "usage_error",
]
