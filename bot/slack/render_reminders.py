"""Reminders in Slack, rendered from plain data: the channel digest, a person's DM with
Approve/Reject buttons (the very action ids and values of the thread's panel, so a click
goes through the same handler, authorisation and modal), a nudge, a deadline warning and
the requester's outcome notice. Pure functions: data in, Block Kit out."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from bot.gate.view import GateView, Target
from bot.schedule.due import Awaited, Digest, Item, PendingRun
from bot.slack.actions import APPROVE, REJECT
from bot.slack.limits import MAX_BLOCKS, Block, Message, fit, fit_text
from bot.slack.render_decision import cycle_time
from bot.slack.render_gate import OUTCOME_LABEL
from bot.slack.render_run import context, pack, section
from bot.slack.text import ELLIPSIS, Mrkdwn, date, escape, join, link, mention

DIGEST_LISTED = 40
"""Runs listed in a digest; more are counted and linked to the run list."""
DM_LISTED = 15
"""Items with buttons in one DM (two blocks each, inside Slack's 50)."""
PEOPLE_LISTED = 10
"""People mentioned for one role before 'and N more'."""
_USERGROUP = re.compile(r"S[A-Z0-9]{2,}")


def usergroup(group_id: str) -> Mrkdwn:
    """``<!subteam^S123>`` for a usergroup id; anything else escaped."""
    return Mrkdwn(f"<!subteam^{group_id}>") if _USERGROUP.fullmatch(group_id) else escape(group_id)


def span(seconds: float) -> str:
    return cycle_time(seconds)


def left(run: PendingRun, now: datetime) -> Mrkdwn:
    """``19h 2m left`` (the deadline as a date Slack localises), or overdue."""
    seconds = run.left(now).total_seconds()
    when = date(run.deadline)
    if seconds <= 0:
        return Mrkdwn(f"deadline passed ({when})")
    return Mrkdwn(f"{span(seconds)} left (deadline {when})")


def who(role: Awaited) -> Mrkdwn:
    """The people who can sign ``role`` (and its usergroup), capped."""
    people = [mention(p) for p in role.people[:PEOPLE_LISTED]]
    if len(role.people) > PEOPLE_LISTED:
        people.append(Mrkdwn(f"and {len(role.people) - PEOPLE_LISTED} more"))
    if role.usergroup:
        people.append(usergroup(role.usergroup))
    return join(", ", people) if people else Mrkdwn("nobody can sign it now")


def what(run: PendingRun) -> Mrkdwn:
    return Mrkdwn(f"*{escape(run.service)} {escape(run.version)}* on {escape(run.environment)}")


def thread_link(url: str | None, run_id: int) -> Mrkdwn:
    return link(url, "thread") if url else Mrkdwn(f"run #{run_id}")


def digest_runs(digest: Digest) -> tuple[PendingRun, ...]:
    """The runs the digest lists (and needs a thread link for)."""
    return digest.runs[:DIGEST_LISTED]


def digest_message(
    digest: Digest, now: datetime, links: Mapping[int, str], runs_url: str | None
) -> Message:
    """One channel message: every run awaiting sign-off, soonest deadline first."""
    count = len(digest.runs)
    if not count:
        text = Mrkdwn("Sign-off digest: nothing is awaiting sign-off.")
        return Message(
            text, [section(Mrkdwn("✅ *Sign-off digest*: nothing is awaiting sign-off."))]
        )
    noun = "release" if count == 1 else "releases"
    head = Mrkdwn(f"⏳ *Sign-off digest*: {count} {noun} awaiting sign-off")
    lines = [_digest_line(run, now, links.get(run.run_id)) for run in digest_runs(digest)]
    blocks: list[Block] = [section(head)]
    blocks += [section(chunk) for chunk in pack(lines)][: MAX_BLOCKS - 3]
    if count > DIGEST_LISTED:
        more = count - DIGEST_LISTED
        blocks.append(context(Mrkdwn(f"{ELLIPSIS} and {more} more: {link(runs_url, 'all runs')}")))
    elif runs_url:
        blocks.append(context(link(runs_url, "All runs")))
    text = Mrkdwn(f"Sign-off digest: {count} {noun} awaiting sign-off")
    return Message(fit_text(text, runs_url), fit(blocks, runs_url))


def _digest_line(run: PendingRun, now: datetime, url: str | None) -> Mrkdwn:
    missing = join(" · ", (Mrkdwn(f"*{escape(r.label)}*: {who(r)}") for r in run.awaited))
    return Mrkdwn(
        f"• {what(run)} · run `#{run.run_id}` · {thread_link(url, run.run_id)}\n"
        f"    {span(run.age(now).total_seconds())} old · {left(run, now)}\n"
        f"    missing {missing}"
    )


def direct_runs(items: Sequence[Item]) -> list[PendingRun]:
    """The runs a DM shows (and needs a thread link for)."""
    seen: dict[int, PendingRun] = {}
    for item in items[:DM_LISTED]:
        seen.setdefault(item.run.run_id, item.run)
    return list(seen.values())


def direct_message(
    items: Sequence[Item], now: datetime, links: Mapping[int, str], runs_url: str | None
) -> Message:
    """A person's pending items across runs, each with the panel's Approve/Reject."""
    count = len(items)
    noun = "sign-off" if count == 1 else "sign-offs"
    head = Mrkdwn(f"⏳ *{count} {noun} awaiting you*")
    blocks: list[Block] = [section(head)]
    for item in items[:DM_LISTED]:
        run, role = item.run, item.role
        line = Mrkdwn(
            f"{what(run)} · *{escape(role.label)}* · run `#{run.run_id}` · "
            f"{thread_link(links.get(run.run_id), run.run_id)}\n"
            f"{span(run.age(now).total_seconds())} old · {left(run, now)}"
        )
        blocks.append(section(line))
        value = Target(run.run_id, run.generation, role.role).encode()
        blocks.append(
            {
                "type": "actions",
                "block_id": f"signoff:{role.role}:{run.run_id}"[:255],
                "elements": [
                    _button(f"Approve {role.label}", APPROVE, value, "primary"),
                    _button(f"Reject {role.label}", REJECT, value, "danger"),
                ],
            }
        )
    if count > DM_LISTED:
        more = count - DM_LISTED
        blocks.append(context(Mrkdwn(f"{ELLIPSIS} and {more} more: {link(runs_url, 'all runs')}")))
    text = Mrkdwn(f"{count} {noun} awaiting you")
    return Message(text, fit(blocks, runs_url))


def nudge_message(run: PendingRun, number: int, now: datetime) -> Message:
    """A reply in the run's thread naming whoever is still awaited."""
    waited = span((now - run.finished_at).total_seconds())
    lines = [Mrkdwn(f"⏰ *Still awaiting sign-off* ({waited} since the checks finished)")]
    lines += [Mrkdwn(f"*{escape(r.label)}*: {who(r)}") for r in run.awaited]
    lines.append(Mrkdwn(left(run, now)))
    text = Mrkdwn(f"Reminder: {what(run)} still awaits sign-off")
    return Message(text, [section(chunk) for chunk in pack(lines)][:MAX_BLOCKS])


def warning_message(run: PendingRun, now: datetime) -> Message:
    """The one deadline warning, in the thread, whatever the hour."""
    seconds = max(run.left(now).total_seconds(), 0)
    lines = [
        Mrkdwn(
            f"⌛ *The sign-off deadline is in {span(seconds)}* ({date(run.deadline)}): "
            "without the missing approvals the run will be EXPIRED (NO-GO)."
        )
    ]
    lines += [Mrkdwn(f"*{escape(r.label)}*: {who(r)}") for r in run.awaited]
    text = Mrkdwn(f"Deadline soon for {what(run)}")
    return Message(text, [section(chunk) for chunk in pack(lines)][:MAX_BLOCKS])


def outcome_message(view: GateView, thread_url: str | None) -> Message:
    """The requester's DM once their run is decided."""
    label = OUTCOME_LABEL[view.decision.outcome]
    run = f"*{escape(view.service)} {escape(view.version)}* on {escape(view.environment)}"
    links = [thread_link(thread_url, view.run_id)]
    if view.report_url:
        links.append(link(view.report_url, "report"))
    body = Mrkdwn(f"Your release {run} (run `#{view.run_id}`) is *{label}* · {join(' · ', links)}")
    return Message(Mrkdwn(f"{label}: {run}"), [section(body)])


def _button(text: str, action_id: str, value: str, style: str) -> Block:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text[:75], "emoji": True},
        "action_id": action_id,
        "value": value,
        "style": style,
    }
