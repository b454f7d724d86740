"""What the requester of a run is told when its thread does not open at once: Slack or
the bot's database is failing (the run goes on; its thread is owed), or the channel
refuses the thread for good (the run is stopped; inviting the bot mends the usual two
causes). Pure."""

from __future__ import annotations

from bot.engine.request import RequestError
from bot.slack.outbox import gone_for_good
from bot.slack.text import Mrkdwn, channel_link, escape
from bot.store.faults import is_database_fault

UNINVITED = ("not_in_channel", "channel_not_found")
"""Slack's answers that inviting the bot (or naming the right channel) mends."""
SLACK_FAILING = Mrkdwn(
    "Slack is failing; the run goes on and its thread will appear when Slack answers."
)
DATABASE_FAILING = Mrkdwn(
    "The bot's database is unavailable; the run goes on and its thread will appear when "
    "the database answers."
)


class ReplyError(RequestError):
    """What the requester is told after the ack, in the bot's own markup (a channel
    link): a request that cannot go ahead, or one that goes on without its thread yet."""

    def __init__(self, reply: Mrkdwn) -> None:
        super().__init__(reply)
        self.reply = reply


def opening_reply(where: str, problem: BaseException | None) -> tuple[Mrkdwn, bool] | None:
    """What the requester is told when a run's thread did not open at the first try, and
    whether the run was stopped; None when it opened. Pure."""
    if problem is None:
        return None
    if is_database_fault(problem):  # the thread is owed to Slack all the same
        return DATABASE_FAILING, False
    if not gone_for_good(problem):  # 5xx, 429, a timeout: the thread is owed
        return SLACK_FAILING, False
    error = str(getattr(problem, "error", type(problem).__name__))
    if error in UNINVITED:
        advice = "invite the bot to the channel and start again"
    else:
        advice = "the run was stopped; see the bot's log"
    return Mrkdwn(f"cannot post in {channel_link(where)} ({escape(error)}); {advice}"), True
