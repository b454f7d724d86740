"""The audit trail as the run page and the report show it: each event's details on one
line, without the fields an action left empty."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.audit.chain import Action
from bot.reports.html import audit_details
from bot.store.audit import Note
from bot.store.audit_log import AuditLog
from bot.store.runs import RunStore
from bot.web.trail import StoredAuditTrail


def test_empty_fields_are_left_out_of_the_details() -> None:
    details = {"role": "sre", "vote": "approve", "reason": "", "generation": 1}
    assert audit_details(details) == "generation: 1; role: sre; vote: approve"
    decided = {"outcome": "go", "reasons": [], "note": None, "extra": {}}
    assert audit_details(decided) == "outcome: go"
    kept = {"blocking": False, "attempt": 0, "checks": ["smoke", "tls"]}
    assert audit_details(kept) == "attempt: 0; checks: smoke, tls; not blocking"
    flagged = {"critical": True, "blocking": False, "repeat_safe": True, "check": "tls"}
    assert audit_details(flagged) == "check: tls; not blocking, critical, repeat safe"


def test_the_run_page_trail_leaves_out_empty_fields(tmp_path: Path) -> None:
    store = RunStore(f"sqlite:///{tmp_path}/trail.db")
    log = AuditLog(store)
    signoff = {"role": "sre", "vote": "approve", "reason": "", "generation": 1}
    decision = {"outcome": "go", "reasons": []}

    async def work() -> list[str]:
        await log.record(Note(Action.SIGNOFF, "U0SRE1", 1, signoff))
        await log.record(Note(Action.DECISION, "preprod", 1, decision))
        return [event.detail for event in await StoredAuditTrail(store).events(1)]

    assert asyncio.run(work()) == ["generation: 1; role: sre; vote: approve", "outcome: go"]
    store.engine.dispose()
