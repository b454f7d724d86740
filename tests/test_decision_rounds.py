"""One key per decision of a run (bot/gate/rounds.py): the first decision keeps the keys
used before reopens existed; a decision after a reopen is keyed by its own audit seq; a
decision read late, after the reopen that set it aside, is still the first. The reads on
a real SQLite trail."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from bot.audit.chain import Action
from bot.gate.rounds import Round, decision_round, read_round
from bot.store.audit import Note
from bot.store.audit_log import AuditLog
from bot.store.models import Run
from bot.store.runs import RunStore


def test_the_first_decision_has_no_round_and_a_later_one_its_seq() -> None:
    assert decision_round(None, None) is None
    assert decision_round(7, None) is None  # never reopened
    assert decision_round(12, 9) == 12  # decided again after the reopen at 9
    assert decision_round(7, 9) is None  # the decision reopen 9 set aside, read late
    assert decision_round(None, 9) is None  # reopened, not decided again yet


def test_a_round_keys_the_first_decision_as_before() -> None:
    assert Round(None, None).key("run:3:decision") == "run:3:decision"
    assert Round(None, 12).key("run:3:decision") == "run:3:decision:12"


async def test_read_round_on_a_trail(tmp_path: Path) -> None:
    store = RunStore(f"sqlite:///{tmp_path}/bot.db")
    with Session(store.engine) as session:
        session.add(Run(service="s", version="1", environment="e", plan="p", base_url="http://x"))
        session.commit()
    audit = AuditLog(store)
    assert await read_round(audit, 1) == Round(None, None)
    first = await audit.record(Note(Action.DECISION, "preprod", 1, {"outcome": "no-go"}))
    assert await read_round(audit, 1) == Round(first, None)
    await audit.record(Note(Action.REOPEN, "U1", 1, {"outcome": "no-go"}))
    assert (await read_round(audit, 1)).round is None  # the reopened decision: still first
    second = await audit.record(Note(Action.DECISION, "preprod", 1, {"outcome": "go"}))
    assert await read_round(audit, 1) == Round(second, second.seq)
    store.engine.dispose()
