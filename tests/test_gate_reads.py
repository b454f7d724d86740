"""The gate loads a run (after every click, at every sweep, for every pipeline polling
the API) in one database call: one connection, one statement per kind of row (the report
and the attempts from one), and on PostgreSQL no transaction around them. It loaded a
run in seven calls, seven sessions and on PostgreSQL seven transactions (issue 26: 8.5 ms
of CPU a load on SQLite, 14.6 on PostgreSQL). What it reads is what the rows say."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from bot.config.loader import load_config
from bot.gate.actions import Gate
from bot.gate.policy import Outcome
from bot.gate.refusals import Refused
from bot.gate.roles import RoleDirectory
from bot.store.gate import GateStore
from bot.store.models import (
    AttestationTick,
    DecisionRecord,
    RunStatus,
    SignOff,
    Waiver,
    utcnow,
)
from bot.store.runs import RunStore
from checks.base import CheckResult, Status
from tests.test_flaky import stored_run

CONFIG = """\
channel: C0RELEASES
roles:
  sre: {label: SRE, members: [U0SRE1, U0SRE2]}
policy:
  required_signoffs: [sre]
environments:
  staging: {base_url: "http://127.0.0.1:9", plan: standard}
plans:
  standard:
    attestations:
      - {id: oncall, text: On-call rotation staffed, role: sre}
    checks:
      - {id: smoke, type: http, requests: [{path: /healthz}]}
      - {id: headers, type: security_headers, critical: false}
"""


@dataclass
class Counted:
    checkouts: int = 0
    statements: list[str] = field(default_factory=list)


@contextmanager
def counting(store: RunStore) -> Iterator[Counted]:
    counted = Counted()

    def checkout(*_: Any) -> None:
        counted.checkouts += 1

    def statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        counted.statements.append(" ".join(sql.split())[:60])

    event.listen(store.engine.pool, "checkout", checkout)
    event.listen(store.engine, "before_cursor_execute", statement)
    try:
        yield counted
    finally:
        event.remove(store.engine.pool, "checkout", checkout)
        event.remove(store.engine, "before_cursor_execute", statement)


def gate_for(store: RunStore, tmp_path: Path, clock: Callable[[], datetime] | None = None) -> Gate:
    path = tmp_path / "preprod.yml"
    path.write_text(CONFIG)
    config = load_config(path)

    async def no_groups(group: str) -> list[str]:
        return []

    directory = RoleDirectory(config, no_groups)
    return Gate(config, store, directory, clock=clock or utcnow)


async def finished_run(store: RunStore) -> int:
    """smoke passed; headers failed twice (its re-run, the second attempt, is the latest:
    the run is in its second generation)."""
    run_id = await stored_run(store, Status.PASSED, Status.FAILED, finish=False)
    await store.new_attempts(run_id, ["headers"])
    failed = CheckResult(status=Status.FAILED, summary="headers again", check_id="headers")
    await store.save_result(run_id, failed)
    await store.finish_run(run_id, RunStatus.FINISHED)
    return run_id


async def test_a_gate_load_is_one_call_and_reads_the_rows_as_they_are(
    either_store: RunStore, tmp_path: Path
) -> None:
    store, gate = either_store, gate_for(either_store, tmp_path)
    run_id = await finished_run(store)
    gates = GateStore(store)
    rows = [
        SignOff(run_id=run_id, generation=1, role="sre", user="U0SRE2", vote="approve"),
        SignOff(run_id=run_id, generation=2, role="sre", user="U0SRE1", vote="approve"),
        Waiver(run_id=run_id, check_id="headers", attempt=1, user="U0SRE1", justification="old"),
        AttestationTick(run_id=run_id, item_id="oncall", user="U0SRE2"),
    ]
    for row in rows:
        assert await gates.insert_once(row)

    with counting(store) as counted:
        loaded = await gate.load(run_id)
    assert counted.checkouts == 1, counted
    assert len(counted.statements) <= 6, counted.statements
    assert not any(s.startswith(("BEGIN", "SET", "COMMIT", "ROLLBACK")) for s in counted.statements)
    # the sign-off of the first generation does not count; the waiver covers attempt 1
    # only, and headers' latest attempt is 2: it still waits for a waiver
    assert [(r.role, [user for user, _ in r.approvals]) for r in loaded.gate.roles] == [
        ("sre", ["U0SRE1"])
    ]
    assert loaded.gate.waivers == ()
    assert [a.ticked_by for a in loaded.gate.attestations] == ["U0SRE2"]
    assert [f.check_id for f in loaded.gate.failures] == ["headers"]
    assert loaded.recorded is None
    assert loaded.gate.decision.outcome is Outcome.PENDING

    second = Waiver(run_id=run_id, check_id="headers", attempt=2, user="U0SRE1", justification="ok")
    assert await gates.insert_once(second)
    assert await gates.insert_once(DecisionRecord(run_id=run_id, outcome="go", reasons=["ok"]))
    loaded = await gate.load(run_id)
    assert [(w.check_id, w.justification) for w in loaded.gate.waivers] == [("headers", "ok")]
    assert loaded.recorded is not None and loaded.gate.decision.outcome is Outcome.GO
    assert await gates.attempts(run_id) == {"smoke": 1, "headers": 2}


async def test_loading_a_run_that_does_not_exist_is_refused(
    either_store: RunStore, tmp_path: Path
) -> None:
    gate = gate_for(either_store, tmp_path)
    with pytest.raises(Refused, match=r"There is no run #404\."):
        await gate.load(404)
