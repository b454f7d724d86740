"""What a run's page shows beyond the gate's view (whose roles know their own tally and
whether they still take a vote): the people it names, and the one-time notice after an
action. Pure, except :func:`keep_notice` / :func:`take_notice`, which use the signed
session cookie."""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from bot.gate.view import GateView
from bot.web.trail import TrailEvent

NOTICE = "notice"
"""The session key of the notice the next run page shows once."""
MAX_NOTICE = 500


@dataclass(frozen=True)
class Notice:
    text: str
    ok: bool


def people(gate: GateView, trail: Iterable[TrailEvent]) -> set[str]:
    """Every person the page names: the requester, voters, waivers, ticks, the trail."""
    found = {gate.requester}
    for role in gate.roles:
        found.update(user for user, _ in role.approvals)
        if role.rejection is not None:
            found.add(role.rejection[0])
    found.update(w.user for w in gate.waivers)
    found.update(a.ticked_by for a in gate.attestations if a.ticked_by)
    found.update(event.actor for event in trail)
    return found


def keep_notice(session: MutableMapping[str, Any], text: str, ok: bool) -> None:
    """Remember what the action did, for the page the browser is sent to next."""
    session[NOTICE] = {"text": text[:MAX_NOTICE], "ok": ok}


def take_notice(session: MutableMapping[str, Any]) -> Notice | None:
    """The notice kept by the last action, once: a reload does not show it again."""
    kept = session.pop(NOTICE, None)
    if not isinstance(kept, dict) or not isinstance(kept.get("text"), str):
        return None
    return Notice(kept["text"], kept.get("ok") is True)
