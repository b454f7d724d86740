"""Block Kit for everything preprod says in Slack: one import for the publisher and the
handlers. Every function is pure (state in, :class:`Message` out) and its output is
already within Slack's limits; the wording lives in ``bot/slack/templates``."""

from __future__ import annotations

from bot.gate.view import AttestationView, FailureView, GateView, RoleView, WaiverView
from bot.slack.limits import Block, Message, fit, fit_message, fit_text
from bot.slack.render_commands import (
    RunListItem,
    help_message,
    list_message,
    notice,
    report_link,
    status_message,
    usage_error,
)
from bot.slack.render_decision import (
    announcement,
    attest_modal,
    cycle_time,
    notice_already_decided,
    notice_refused,
    reason_required_error,
    reject_modal,
    signoffs_cleared,
    waive_modal,
)
from bot.slack.render_gate import gate_message
from bot.slack.render_home import home_view
from bot.slack.render_run import (
    failure_reply,
    parent_message,
    progress_bar,
    progress_message,
    results_message,
)
from bot.slack.text import escape

__all__ = [
    "AttestationView",
    "Block",
    "FailureView",
    "GateView",
    "Message",
    "RoleView",
    "RunListItem",
    "WaiverView",
    "announcement",
    "attest_modal",
    "cycle_time",
    "escape",
    "failure_reply",
    "fit",
    "fit_message",
    "fit_text",
    "gate_message",
    "help_message",
    "home_view",
    "list_message",
    "notice",
    "notice_already_decided",
    "notice_refused",
    "parent_message",
    "progress_bar",
    "progress_message",
    "reason_required_error",
    "reject_modal",
    "report_link",
    "results_message",
    "signoffs_cleared",
    "status_message",
    "usage_error",
    "waive_modal",
]
