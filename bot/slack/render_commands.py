"""Ephemeral replies to ``/preprod`` commands: help, usage errors, status, list.

Short by design: a reply is read once by the person who typed the command, so it says
what they asked and links the report for the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from bot.record.report import RunReport
from bot.slack.limits import Message, fit, fit_text
from bot.slack.render_run import context, pack, progress_message, section
from bot.slack.state import RunState
from bot.slack.text import ELLIPSIS, Mrkdwn, date, escape, link, render, render_plain

STATUS_ROWS = 12
"""Checks a status reply lists before summarising (problems first)."""
LISTED_RUNS = 20
RUN_STATUS_EMOJI = {"running": "🔄", "finished": "🏁", "cancelled": "🚫", "failed": "⚠️"}


@dataclass(frozen=True)
class RunListItem:
    """One line of ``/preprod list``: what the handler reads from the store."""

    run_id: int
    service: str
    version: str
    environment: str
    status: str
    started_at: datetime
    requester: str | None = None
    decision: str = ""
    """GO, NO-GO, EXPIRED, CANCELLED or whom it awaits (bot/gate/summary.py)."""


def help_message() -> Message:
    """``/preprod help``: what the bot does and every command."""
    blocks = [section(render_plain("help.md.j2")), section(_usage())]
    return Message(Mrkdwn("preprod help"), fit(blocks))


def usage_error(message: str) -> Message:
    """A command the bot could not parse: what was wrong, then the usage."""
    problem = render("usage_error.md.j2", message=message)
    blocks = [section(problem), section(_usage())]
    return Message(fit_text(escape(message)), fit(blocks))


def notice(text: str | Mrkdwn) -> Message:
    """Any other one-line reply ('run 42 not found', 'cancelled'): plain ``text`` is
    escaped, :class:`Mrkdwn` (the bot's own links and mentions) is sent as it is."""
    body = escape(text)
    return Message(fit_text(body), fit([section(body)]))


def status_message(subject: RunState | RunReport, report_url: str | None = None) -> Message:
    """``/preprod status``: the progress view of a live or stored run, kept short."""
    if isinstance(subject, RunReport):
        state = RunState.from_report(subject, report_url)
    elif report_url is not None:
        state = replace(subject, report_url=report_url)
    else:
        state = subject
    return progress_message(state, max_rows=STATUS_ROWS)


def list_message(runs: Sequence[RunListItem]) -> Message:
    """``/preprod list``: the latest runs first, at most ``LISTED_RUNS`` of them."""
    if not runs:
        empty = Mrkdwn("No runs yet. Start one with `/preprod start`.")
        return Message(Mrkdwn("No runs yet"), [section(empty)])
    latest = sorted(runs, key=lambda run: run.started_at, reverse=True)
    lines = [_run_line(run) for run in latest[:LISTED_RUNS]]
    blocks = [section(chunk) for chunk in pack([Mrkdwn("*Recent runs*"), *lines])]
    if len(runs) > LISTED_RUNS:
        blocks.append(context(Mrkdwn(f"{ELLIPSIS} and {len(runs) - LISTED_RUNS} older runs")))
    return Message(Mrkdwn(f"{len(runs)} runs"), fit(blocks))


def _usage() -> Mrkdwn:
    """The command reference; written in plain ``<arg>`` form, so escaped as a whole."""
    return render_plain("usage.md.j2")


def _run_line(run: RunListItem) -> Mrkdwn:
    emoji = RUN_STATUS_EMOJI.get(run.status, "•")
    line = f"{emoji} `#{run.run_id}` *{escape(run.service)} {escape(run.version)}*"
    state = f"*{escape(run.decision)}*" if run.decision else escape(run.status)
    line += f" on {escape(run.environment)} · {state} · {date(run.started_at)}"
    return Mrkdwn(line)


def report_link(run_id: int, service: str, version: str, url: str) -> Message:
    """``/preprod report``: where the full report of a run is."""
    what = f"({escape(service)} {escape(version)})"
    text = Mrkdwn(f"Report of run `#{run_id}` {what}: {link(url, 'open')}")
    return Message(fit_text(escape(f"Report of run #{run_id}: {url}")), fit([section(text)]))
