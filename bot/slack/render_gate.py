"""The release gate in Slack: the sign-off panel, its modals, the announcement, notices.

The panel is updated in place on every change, so it is a pure function of a
:class:`GateView`. Pending, it carries one Approve/Reject pair per role and a Waive or
Tick button per open item; once the run is decided it carries no button at all, only the
outcome, so nobody clicks a stale button. Long lists are summarised within the budget of
one message and the report is linked.
"""

from __future__ import annotations

from bot.gate.policy import Outcome
from bot.gate.view import AttestationView, FailureView, GateView, RoleView, WaiverView
from bot.slack.actions import APPROVE, ATTEST, REJECT, WAIVE
from bot.slack.limits import MAX_BLOCKS, Block, Message, fit, fit_text, see_report
from bot.slack.render_run import context, pack, section
from bot.slack.text import ELLIPSIS, Mrkdwn, date, escape, join, link, mention, one_line, truncate

OUTCOME_LABEL: dict[Outcome, str] = {
    Outcome.PENDING: "PENDING ⏳",
    Outcome.GO: "GO ✅",
    Outcome.NO_GO: "NO-GO ❌",
    Outcome.EXPIRED: "EXPIRED ⌛",
    Outcome.CANCELLED: "CANCELLED 🚫",
    Outcome.SUPERSEDED: "SUPERSEDED ⏭️",
}
MAX_USER_TEXT = 300
"""A reason, justification or note as shown in a line, before it is cut."""
LISTED = 15
"""Lines of a list (waivers, ticked items, critical failures) before 'and N more'."""
FULL_ROLES = 10
"""Up to this many roles get a line and a button row each; more share one list."""


def user_text(value: str, limit: int = MAX_USER_TEXT) -> Mrkdwn:
    """A reason, justification or note: escaped, on one line, cut."""
    return truncate(escape(one_line(value)), limit) or Mrkdwn("-")


def role_line(role: RoleView) -> Mrkdwn:
    """``✅ *SRE*: approved by @a at <date> (1 of 1)``, or rejected with the reason, or
    awaiting."""
    head = f"*{escape(role.label)}*"
    if role.rejection is not None:
        user, at, reason = role.rejection
        return Mrkdwn(f"❌ {head}: rejected by {mention(user)} at {date(at)}: {user_text(reason)}")
    count = f"({role.tally()})"
    if not role.approvals:
        return Mrkdwn(f"⏳ {head}: awaiting approval {count}")
    who = join(", ", (Mrkdwn(f"{mention(user)} at {date(at)}") for user, at in role.approvals))
    emoji = "⏳" if role.takes_votes else "✅"
    return Mrkdwn(f"{emoji} {head}: approved by {who} {count}")


def failure_line(failure: FailureView) -> Mrkdwn:
    kind = "critical, cannot be waived" if failure.critical else "non-critical, can be waived"
    emoji = "🛑" if failure.critical else "❌"
    summary = user_text(failure.summary, 200)
    line = f"{emoji} *{escape(failure.check_id)}* ({kind}): {summary}"
    if failure.quarantine:
        line += f"\n    ⏸ {user_text(failure.quarantine, 300)}"
    return Mrkdwn(line)


def waiver_line(waiver: WaiverView) -> Mrkdwn:
    who = f"{mention(waiver.user)} at {date(waiver.at)}"
    why = user_text(waiver.justification)
    return Mrkdwn(f"🟡 *{escape(waiver.check_id)}* waived by {who}: {why}")


def attestation_line(item: AttestationView) -> Mrkdwn:
    """``☐ On-call staffed · SRE · blocking`` or ``☑ … ticked by @a at <date>: note``."""
    owner = escape(item.role_label) + (" · blocking" if item.blocking else "")
    text = f"*{user_text(item.text, 200)}* · {owner}"
    if item.ticked_by is None:
        return Mrkdwn(f"☐ {text}")
    when = f" at {date(item.at)}" if item.at is not None else ""
    ticked = f"☑ {text} · ticked by {mention(item.ticked_by)}{when}"
    return Mrkdwn(ticked + (f": {user_text(item.note)}" if item.note.strip() else ""))


def gate_message(gate: GateView) -> Message:
    """The sign-off panel: buttons while pending, only the outcome once decided."""
    what = f"{escape(gate.service)} {escape(gate.version)} on {escape(gate.environment)}"
    head = f"*{what}* · run `#{gate.run_id}` · requested by {mention(gate.requester)}"
    footer = context(
        link(gate.report_url, "Full report") if gate.report_url else Mrkdwn(f"run #{gate.run_id}")
    )
    if gate.decision.outcome.final:
        label = OUTCOME_LABEL[gate.decision.outcome]
        blocks = [section(Mrkdwn(f"*{label}* decided {date(gate.decided_at)}\n{head}"))]
        blocks += _final_body(gate)
        fallback = Mrkdwn(f"{label}: {what}")
    else:
        awaiting = join(
            ", ", (r.label for r in gate.roles if r.role in gate.decision.awaiting_roles)
        )
        status = f"⏳ *Awaiting sign-off*{': ' + awaiting if awaiting else ''}"
        blocks = [section(Mrkdwn(f"{status}\n{head}"))]
        if gate.decision.reasons:
            reasons = join("; ", gate.decision.reasons)
            needed = Mrkdwn(f"Still needed: {reasons}")
            blocks.append(context(truncate(needed, 1000, see_report(None))))
        blocks += _pending_body(gate, MAX_BLOCKS - len(blocks) - 1)
        fallback = Mrkdwn(f"Sign-off for {what}: {awaiting or 'pending'}")
    blocks.append(footer)
    return Message(fit_text(fallback, gate.report_url), fit(blocks, gate.report_url))


def _final_body(gate: GateView) -> list[Block]:
    """Who signed, why, waivers and attestations: text only, no buttons."""
    lines = [Mrkdwn("*Sign-offs*"), *(role_line(r) for r in gate.roles)] if gate.roles else []
    rejected = any(r.rejection for r in gate.roles)
    reasons = [r for r in gate.decision.reasons if not (rejected and r.startswith("rejected for "))]
    if reasons and gate.decision.outcome is not Outcome.GO:
        why = [Mrkdwn(f"• {user_text(r)}") for r in reasons]
        lines += [Mrkdwn("*Why*"), *_capped(why, gate.report_url)]
    waivers = [waiver_line(w) for w in gate.waivers]
    lines += _listing(Mrkdwn("*Waivers*"), waivers, gate.report_url)
    quarantined = [failure_line(f) for f in gate.failures if f.quarantine]
    lines += _listing(Mrkdwn("*Quarantined*"), quarantined, gate.report_url)
    items = [attestation_line(a) for a in gate.attestations]
    lines += _listing(Mrkdwn("*Attestations*"), items, gate.report_url)
    return [section(chunk) for chunk in pack(lines)]


def _pending_body(gate: GateView, room: int) -> list[Block]:
    """Roles with their buttons first, then the open items within the ``room`` left."""
    url = gate.report_url
    blocks = _role_blocks(gate, room)
    critical = [failure_line(f) for f in gate.failures if f.critical]
    listed = _listing(Mrkdwn("*Critical failures*"), critical, url)
    listed += _listing(Mrkdwn("*Waivers*"), [waiver_line(w) for w in gate.waivers], url)
    ticked = [attestation_line(a) for a in gate.attestations if a.ticked_by is not None]
    listed += _listing(Mrkdwn("*Attestations ticked*"), ticked, url)
    sections = [section(chunk) for chunk in pack(listed)]
    waivable = gate.waivable
    open_items = [a for a in gate.attestations if a.ticked_by is None]
    shown_w, shown_a = _split(room - len(blocks) - len(sections), len(waivable), len(open_items))
    for failure in waivable[:shown_w]:
        blocks.append(
            _with_button(failure_line(failure), "Waive", WAIVE, gate.target(failure.check_id))
        )
    if len(waivable) > shown_w:
        more = len(waivable) - shown_w
        note = Mrkdwn(f"{ELLIPSIS} and {more} more failures to waive;{see_report(url)}")
        blocks.append(context(note))
    blocks += sections
    for item in open_items[:shown_a]:
        blocks.append(
            _with_button(attestation_line(item), "Tick", ATTEST, gate.target(item.item_id))
        )
    if len(open_items) > shown_a:
        more = len(open_items) - shown_a
        blocks.append(
            context(Mrkdwn(f"{ELLIPSIS} and {more} more items to tick;{see_report(url)}"))
        )
    return blocks


def _role_blocks(gate: GateView, room: int) -> list[Block]:
    """A line then an Approve/Reject row per role; past ``FULL_ROLES``, one list of lines
    and a row per role with the role named on its buttons (a row per role either way:
    action ids must be unique within a block)."""
    full = len(gate.roles) <= FULL_ROLES
    blocks: list[Block] = [] if full else [section(c) for c in pack(map(role_line, gate.roles))]
    rows = gate.roles[: max(room // 2 - len(blocks), 1)]
    for role in rows:
        if full:
            blocks.append(section(role_line(role)))
        if not role.takes_votes:  # it has its approvals: no button could change it
            continue
        suffix = "" if full else f" {role.label}"
        value = gate.target(role.role)
        buttons = [
            _button(f"Approve{suffix}", APPROVE, value, "primary"),
            _button(f"Reject{suffix}", REJECT, value, "danger"),
        ]
        blocks.append({"type": "actions", "block_id": f"signoff:{role.role}", "elements": buttons})
    if len(gate.roles) > len(rows):
        blocks.append(
            context(Mrkdwn(f"{len(gate.roles) - len(rows)} more roles: too many for one message"))
        )
    return blocks


def _split(room: int, waivable: int, open_items: int) -> tuple[int, int]:
    """How many waivable failures and open items get a button row within ``room``."""
    if waivable + open_items <= room:
        return waivable, open_items
    room = max(room - (waivable > 0) - (open_items > 0), 0)  # the 'and N more' notes
    shown_w = min(waivable, max(room // 2, room - open_items))
    return shown_w, min(open_items, room - shown_w)


def _listing(heading: Mrkdwn, lines: list[Mrkdwn], report_url: str | None) -> list[Mrkdwn]:
    return [heading, *_capped(lines, report_url)] if lines else []


def _capped(lines: list[Mrkdwn], report_url: str | None) -> list[Mrkdwn]:
    if len(lines) <= LISTED:
        return lines
    more = Mrkdwn(f"{ELLIPSIS} and {len(lines) - LISTED} more;{see_report(report_url)}")
    return [*lines[:LISTED], more]


def _button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": text[:75], "emoji": True},
        "action_id": action_id,
        "value": value,
    }
    return {**button, "style": style} if style else button


def _with_button(text: Mrkdwn, label: str, action_id: str, value: str) -> Block:
    return section(text, accessory=_button(label, action_id, value))
