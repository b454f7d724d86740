"""What the gate says around a sign-off: the modals that ask for a reason, the go/no-go
announcement, and the ephemeral notices for a stale or refused click.

Kept apart from the panel (:mod:`bot.slack.render_gate`) so each module stays short;
both are re-exported by :mod:`bot.slack.blocks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.audit.chain import Entry
from bot.audit.checkpoint import make, short_head
from bot.gate.policy import Outcome
from bot.gate.view import GateView
from bot.input_limits import MAX_TEXT, MIN_REASON
from bot.slack.actions import (
    ATTEST_MODAL,
    REASON_BLOCK,
    REASON_INPUT,
    REJECT_MODAL,
    WAIVE_MODAL,
    Target,
)
from bot.slack.limits import Block, Message, fit, fit_text
from bot.slack.render_gate import (
    LISTED,
    OUTCOME_LABEL,
    attestation_line,
    user_text,
    waiver_line,
)
from bot.slack.render_run import context, pack, section
from bot.slack.render_source import source_line
from bot.slack.text import ELLIPSIS, Mrkdwn, escape, join, link, mention, render

HEADER = {
    Outcome.GO: "✅ GO",
    Outcome.NO_GO: "❌ NO-GO",
    Outcome.EXPIRED: "⌛ EXPIRED",
    Outcome.CANCELLED: "🚫 CANCELLED",
    Outcome.SUPERSEDED: "⏭️ SUPERSEDED",
    Outcome.PENDING: "⏳ PENDING",
}
_PLAIN = str.maketrans("<>", "\u2039\u203a")  # single angle quotes


def cycle_time(seconds: float) -> str:
    """A human duration for people, not a metric: ``2h 14m``, ``3m 20s``, ``1d 4h``."""
    total = max(round(seconds), 0)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s" if minutes < 10 and secs else f"{minutes}m"
    return f"{secs}s"


def reject_modal(target: Target, role_label: str) -> dict[str, Any]:
    """Reject needs a reason: everyone in the thread reads why the release stopped."""
    intro = f"You are rejecting *{escape(role_label)}* for run `#{target.run_id}`."
    intro += " The whole thread will see your reason, and the run becomes NO-GO."
    field = _input("Reason for rejecting", "What must change before this can go?")
    blocks = [section(Mrkdwn(intro)), field]
    return _modal(REJECT_MODAL, "Reject sign-off", "Reject", target, blocks)


def waive_modal(target: Target, check_id: str, summary: str) -> dict[str, Any]:
    """A waiver is a written decision to ship despite a failure: it needs a justification."""
    intro = f"Waiving the failure of *{escape(check_id)}* for run `#{target.run_id}`:"
    intro += f"\n> {user_text(summary, 500)}\nYour justification is shown in the thread."
    field = _input("Justification", "Why is it safe to release with this failure?")
    blocks = [section(Mrkdwn(intro)), field]
    return _modal(WAIVE_MODAL, "Waive a failed check", "Waive", target, blocks)


def attest_modal(target: Target, text: str) -> dict[str, Any]:
    """Ticking an item may carry a note or a link (a ticket, a rota); it is optional."""
    intro = f"☑ *{user_text(text, 500)}*\nTicking this attests it for run `#{target.run_id}`."
    field = _input("Note or link", "e.g. https://tickets.example/DPIA-12", optional=True)
    blocks = [section(Mrkdwn(intro)), field]
    return _modal(ATTEST_MODAL, "Tick attestation", "Tick", target, blocks)


def reason_required_error() -> dict[str, str]:
    """For ``ack(response_action="errors", errors=...)`` when the text is blank or short."""
    return {REASON_BLOCK: f"Please write at least {MIN_REASON} characters: others will read it."}


def announcement(gate: GateView, cycle_time_s: float, head: Entry | None = None) -> Message:
    """The decision, posted once in the channel and the thread: verdict first, then who
    signed, rejections, waivers, attestations, cycle time and the report; last the audit
    trail's head at the decision (``head``: the decision's event), published outside the
    database for ``preprod audit verify --checkpoints``."""
    outcome = gate.decision.outcome
    what = f"{gate.service} {gate.version} on {gate.environment}"
    plain = what.translate(_PLAIN)  # a header is plain text, yet never show a <!channel>
    header = {
        "type": "header",
        "text": {"type": "plain_text", "text": f"{HEADER[outcome]}: {plain}"},
    }
    rejections = [(r.label, *r.rejection) for r in gate.roles if r.rejection is not None]
    reasons = [] if outcome is Outcome.GO or rejections else list(gate.decision.reasons)
    ticked = [a for a in gate.attestations if a.ticked_by is not None]
    body = render(
        "announcement.md.j2",
        gate=gate,
        cycle=cycle_time(cycle_time_s),
        rejections=[(label, user, at, user_text(reason)) for label, user, at, reason in rejections],
        reasons=[user_text(r) for r in reasons[:LISTED]],
        waivers=_capped([waiver_line(w) for w in gate.waivers]),
        ticked=_capped([attestation_line(a) for a in ticked]),
        unticked=len(gate.attestations) - len(ticked),
        source=source_line(gate.origin, gate.commit),
    )
    blocks: list[Block] = [
        header,
        *(section(chunk) for chunk in pack(map(Mrkdwn, body.splitlines()))),
    ]
    if gate.report_url:
        blocks.append(context(link(gate.report_url, "Full report")))
    if head is not None:
        blocks.append(context(audit_footer(head)))
    fallback = Mrkdwn(f"{OUTCOME_LABEL[outcome]} {escape(what)}")
    return Message(fit_text(fallback, gate.report_url), fit(blocks, gate.report_url))


def audit_footer(head: Entry) -> Mrkdwn:
    """``audit #1234 · 9f2c…e1a0`` and, to be read back, the checkpoint line of the head."""
    line = make(head, head.at).line
    return Mrkdwn(f"{escape(short_head(head.seq, head.hash))} · `{escape(line)}`")


def notice_already_decided(outcome: Outcome) -> Message:
    """A click on a stale button: decided runs, or a panel from before a re-run."""
    if outcome.final:
        text = Mrkdwn(
            f"This run is already decided: *{OUTCOME_LABEL[outcome]}*. Nothing was recorded."
        )
    else:
        text = Mrkdwn(
            "This button is from before a re-run. Nothing was recorded: use the latest panel."
        )
    return Message(fit_text(text), fit([section(text)]))


def notice_refused(reason: str) -> Message:
    """An unauthorised click: say why instead of ignoring it."""
    text = Mrkdwn(f"🚫 {escape(reason)} Nothing was recorded.")
    return Message(fit_text(text), fit([section(text)]))


def signoffs_cleared(check_ids: Sequence[str] | None, user: str) -> Message:
    """The thread note after a re-run: approvals given on the old evidence are void."""
    what = join(", ", (Mrkdwn(f"`{escape(c)}`") for c in check_ids or ())) or "all checks"
    text = f"🔁 Re-run of {what} by {mention(user)}: sign-offs given on the old evidence"
    text += " were cleared. Please sign again once the new results are in."
    return Message(fit_text(Mrkdwn(text)), fit([section(Mrkdwn(text))]))


def _capped(lines: list[Mrkdwn]) -> list[Mrkdwn]:
    more = len(lines) - LISTED
    note = Mrkdwn(f"{ELLIPSIS} and {more} more, in the report")
    return lines[:LISTED] + ([note] if more > 0 else [])


def _input(label: str, placeholder: str, *, optional: bool = False) -> Block:
    element = {
        "type": "plain_text_input",
        "action_id": REASON_INPUT,
        "multiline": True,
        "max_length": MAX_TEXT,
        "placeholder": {"type": "plain_text", "text": placeholder},
    }
    if not optional:
        element["min_length"] = MIN_REASON
    return {
        "type": "input",
        "block_id": REASON_BLOCK,
        "label": {"type": "plain_text", "text": label},
        "element": element,
        "optional": optional,
    }


def _modal(
    callback_id: str, title: str, submit: str, target: Target, blocks: list[Block]
) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": target.encode(),
        "title": {"type": "plain_text", "text": title[:24]},
        "submit": {"type": "plain_text", "text": submit},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": fit(blocks),
    }
