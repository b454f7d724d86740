"""The App Home tab: what awaits the user's sign-off, and the runs in progress.

Published with ``views.publish`` whenever either list changes for the user; a pure
function of what the caller gathered, within the Home tab's 100 blocks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.gate.view import GateView
from bot.slack.actions import OPEN_RUN
from bot.slack.limits import MAX_BLOCKS, Block, fit
from bot.slack.render_run import context, progress_bar, section, title
from bot.slack.state import RunState
from bot.slack.text import ELLIPSIS, Mrkdwn, date, escape, join, mention

MAX_HOME_BLOCKS = 100
LISTED_PENDING = 40
LISTED_ACTIVE = 40
"""Runs listed per list before 'and N more' (each costs a block; two headers, two dividers
and the notes take the rest of the 100)."""


def home_view(
    user_id: str,
    pending: Sequence[GateView],
    active: Sequence[RunState],
    report_urls: Mapping[int, str] | None = None,
    signable: Mapping[int, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """The Home tab for ``user_id``. ``pending``: runs awaiting a sign-off the user may
    give; ``signable``: per run id, the labels of the roles they may sign (default: the
    roles still short of approvals that the user has not approved). ``report_urls``
    fill in, per run id, links the views lack."""
    urls = dict(report_urls or {})
    blocks: list[Block] = [_header("Awaiting your sign-off")]
    if not pending:
        blocks.append(section(Mrkdwn("Nothing awaits your sign-off. 🎉")))
    for gate in pending[:LISTED_PENDING]:
        roles = (signable or {}).get(gate.run_id)
        url = urls.get(gate.run_id) or gate.report_url
        blocks.append(_pending_row(user_id, gate, roles, url))
    if len(pending) > LISTED_PENDING:
        blocks.append(context(Mrkdwn(f"{ELLIPSIS} and {len(pending) - LISTED_PENDING} more runs")))
    blocks += [{"type": "divider"}, _header("Active runs")]
    if not active:
        blocks.append(section(Mrkdwn("No runs are in progress.")))
    for state in active[:LISTED_ACTIVE]:
        blocks.append(_active_row(state, urls.get(state.run_id) or state.report_url))
    if len(active) > LISTED_ACTIVE:
        blocks.append(
            context(Mrkdwn(f"{ELLIPSIS} and {len(active) - LISTED_ACTIVE} more active runs"))
        )
    return {"type": "home", "blocks": _fit_each(blocks[:MAX_HOME_BLOCKS])}


def _pending_row(
    user_id: str, gate: GateView, roles: Sequence[str] | None, url: str | None
) -> Block:
    if roles is None:
        roles = [
            r.label
            for r in gate.roles
            if len(r.approvals) < r.min_approvals and user_id not in {u for u, _ in r.approvals}
        ]
    what = f"*{escape(gate.service)} {escape(gate.version)}* on *{escape(gate.environment)}*"
    sign = join(", ", roles) or "-"
    text = f"{what} · run `#{gate.run_id}`\nSign for: *{sign}*"
    text += f" · requested by {mention(gate.requester)} {date(gate.started_at)}"
    text = Mrkdwn(text)
    if not url:
        return section(text)
    return section(text, accessory=_open_button(gate.run_id, url))


def _active_row(state: RunState, url: str | None) -> Block:
    bar = progress_bar(state.done, state.total)
    text = f"{title(state)} · run `#{state.run_id}`\n`{bar}` started {date(state.started_at)}"
    if state.failures:
        text += f" · ❌ {len(state.failures)} failed"
    text = Mrkdwn(text)
    if not url:
        return section(text)
    return section(text, accessory=_open_button(state.run_id, url))


def _open_button(run_id: int, url: str) -> Block:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": "Open run"},
        "action_id": OPEN_RUN,
        "value": str(run_id),
        "url": url,
    }


def _header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": text}}


def _fit_each(blocks: list[Block]) -> list[Block]:
    """Every block within its limits; :func:`fit` caps a message at 50 blocks, the Home
    tab allows 100, so it is applied 50 at a time."""
    return [b for i in range(0, len(blocks), MAX_BLOCKS) for b in fit(blocks[i : i + MAX_BLOCKS])]
