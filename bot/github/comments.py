"""What preprod tells a waiting GitHub job, as Markdown: progress at its milestones (the
run started with its Slack thread; the checks done and who is awaited) and the decision,
with who signed, the reasons and the run page. Pure: views in, text out.

Everything from people or pipelines (reasons, names, versions) is escaped: GitHub
renders Markdown and HTML, and an ``@name`` would notify someone. Each comment fits
GitHub's 1,024 characters (cut with an ellipsis)."""

from __future__ import annotations

import re

from bot.audit.chain import Entry
from bot.audit.checkpoint import make, short_head
from bot.gate.policy import Outcome
from bot.gate.view import GateView
from bot.github.client import MAX_COMMENT_CHARS

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()|~])")
"""Inline Markdown punctuation (user text never starts a line, so ``#``, ``-``, ``+``
are literal; ``<`` and ``>`` become entities)."""

APPROVED, REJECTED = "approved", "rejected"
WORDS = {
    Outcome.GO: "GO",
    Outcome.NO_GO: "NO-GO",
    Outcome.EXPIRED: "expired",
    Outcome.CANCELLED: "cancelled",
    Outcome.SUPERSEDED: "superseded",
}


def md(text: str) -> str:
    """User text as literal Markdown on one line: punctuation escaped, no HTML, no mention."""
    flat = " ".join(text.split())
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN.sub(r"\\\1", flat).replace("@", "@\u200b")


def fit(text: str) -> str:
    """``text`` cut to GitHub's limit."""
    return text if len(text) <= MAX_COMMENT_CHARS else text[: MAX_COMMENT_CHARS - 1] + "…"


def _what(run_id: int, service: str, version: str, environment: str) -> str:
    return f"preprod run #{run_id} ({md(service)} {md(version)} on {md(environment)})"


def started(
    run_id: int, service: str, version: str, environment: str, thread: str | None, page: str
) -> str:
    links = f"[run page]({page})" + (f" · [Slack thread]({thread})" if thread else "")
    return fit(f"{_what(run_id, service, version, environment)} started: {links}")


def rerun(run_id: int, page: str) -> str:
    """To a re-run of the job whose run was reopened after GitHub took its decision."""
    return fit(
        f"preprod run #{run_id} was reopened after its earlier decision; this attempt "
        f"waits for its next one. [run page]({page})"
    )


def checks_done(view: GateView, passed: int, failed: int, page: str) -> str:
    """``checks done: 3 passed, 1 failed; awaiting SRE, Security``."""
    head = f"{_what(view.run_id, view.service, view.version, view.environment)}: checks done: "
    counts = f"{passed} passed, {failed} failed"
    labels = {r.role: r.label for r in view.roles}
    awaiting = [md(labels.get(role, role)) for role in view.decision.awaiting_roles]
    tail = f"; awaiting {', '.join(awaiting)}" if awaiting else ""
    return fit(f"{head}{counts}{tail}. [run page]({page})")


def decision(view: GateView, page: str, head: Entry | None = None) -> tuple[str, str]:
    """The state GitHub is given (GO approves, anything else rejects) and its comment,
    ending, like the Slack announcement, with the audit trail's head at the decision
    (``head``: the decision's event) as a checkpoint line, so the pipeline's record
    holds a head the database admin cannot rewrite."""
    outcome = view.decision.outcome
    state = APPROVED if outcome is Outcome.GO else REJECTED
    lines = [
        f"**{WORDS.get(outcome, outcome.value)}**: "
        f"{_what(view.run_id, view.service, view.version, view.environment)} {state}."
    ]
    signed = [
        f"{md(role.label)}: {', '.join(md(user) for user, _ in role.approvals)}"
        for role in view.roles
        if role.approvals
    ]
    if signed:
        lines.append("Signed off by " + "; ".join(signed) + ".")
    rejected = [
        f"{md(role.label)}: {md(role.rejection[0])}" for role in view.roles if role.rejection
    ]
    if rejected:
        lines.append("Rejected by " + "; ".join(rejected) + ".")
    if outcome is not Outcome.GO and view.decision.reasons:
        lines.extend(f"- {md(reason)}" for reason in view.decision.reasons[:10])
    footer = f"[run page]({page})"
    if head is not None:
        footer += f" · {short_head(head.seq, head.hash)} · `{make(head, head.at).line}`"
    body = "\n".join(lines)
    room = MAX_COMMENT_CHARS - len(footer) - 1
    if len(body) > room:
        body = body[: room - 1] + "…"
    return state, f"{body}\n{footer}"
