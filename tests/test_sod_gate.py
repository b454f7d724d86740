"""Separation of duties at the gate, under concurrency: two gates (two replicas, each
with its own database engine) acting on one run at the same moment, on SQLite and on
PostgreSQL. A directory that holds every membership lookup until both actions have read
the run makes the race certain: both pass the quick read before either stores; only the
re-decision under the run's lock can refuse the second."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, SQLModel, select

from bot.config.loader import load_config
from bot.config.schema import Config
from bot.engine.request import RunRequest
from bot.engine.runner import Engine
from bot.gate.actions import Gate
from bot.gate.policy import Vote
from bot.gate.refusals import Refused
from bot.gate.roles import RoleDirectory
from bot.gate.view import Target
from bot.store.audit_log import AuditLog
from bot.store.models import AttestationTick, SignOff, Waiver
from bot.store.runs import RunStore

RITA, SUE, SAM, SID = "U0RM", "U0SUE", "U0SAM", "U0SID"
JUSTIFICATION = "known flaky header on staging, fixed next sprint"

CONFIG = """\
roles:
  sre: {{label: SRE, members: [U0SUE, U0SAM, U0RM]}}
  security: {{label: Security, members: [U0SUE, U0SID]}}
policy:
  required_signoffs: [sre, security]
  waivers_by: [sre]
  one_role_per_person: true
{extra}environments:
  staging: {{base_url: "http://127.0.0.1:9", plan: standard}}
plans:
  standard:
    checks:
      - {{id: smoke, type: scripted}}
      - {{id: headers, type: scripted, outcome: fail, critical: false}}
    attestations:
      - {{id: oncall, text: On-call staffed, role: sre}}
      - {{id: notes, text: Release notes written, role: sre, blocking: false}}
"""


class Gathering(RoleDirectory):
    """Every membership lookup waits until ``parties`` lookups are waiting: the actions
    that asked have all read the run by then."""

    def __init__(self, config: Config, parties: int) -> None:
        super().__init__(config, _no_groups)
        self.barrier = asyncio.Barrier(parties)

    async def members(self, role: str) -> set[str]:
        try:
            async with asyncio.timeout(2):
                await self.barrier.wait()
        except TimeoutError:
            pass  # a refusal before the lookup: the others go on alone
        return await super().members(role)

    async def waivers(self) -> set[str]:
        found: set[str] = set()
        for role in self.config.policy.waivers_by:
            found |= await RoleDirectory.members(self, role)
        try:
            async with asyncio.timeout(2):
                await self.barrier.wait()
        except TimeoutError:
            pass
        return found


async def _no_groups(_group: str) -> set[str]:
    return set()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/gate.db"
    return str(request.getfixturevalue("postgres_database"))


def configured(tmp_path: Path, extra: str = "") -> Config:
    path = tmp_path / "preprod.yml"
    path.write_text(CONFIG.format(extra=extra))
    return load_config(path, environ={})


@pytest.fixture
def stores(database: str) -> Iterator[tuple[RunStore, RunStore]]:
    a, b = RunStore(database), RunStore(database)
    yield a, b
    a.engine.dispose()
    b.engine.dispose()


async def finished_run(config: Config, store: RunStore, tmp_path: Path) -> int:
    engine = Engine(config, store, tmp_path / "work")
    report = await engine.run(RunRequest("checkout-api", "2.14.0", "staging", requester=RITA))
    assert report.run_id is not None
    return report.run_id


def two_gates(config: Config, stores: tuple[RunStore, RunStore], parties: int) -> list[Gate]:
    directory = Gathering(config, parties)
    return [Gate(config, store, directory) for store in stores]


async def outcomes(*calls: Awaitable[bool]) -> list[bool | BaseException]:
    return list(await asyncio.gather(*calls, return_exceptions=True))


def rows(store: RunStore, table: type[SQLModel]) -> list[Any]:
    with Session(store.engine) as session:
        return list(session.exec(select(table)))


@pytest.mark.usefixtures("scripted_kinds")
async def test_one_person_approving_two_roles_at_once_is_stored_once(
    tmp_path: Path, stores: tuple[RunStore, RunStore]
) -> None:
    """Sue is in SRE and Security; her two approvals race through two gates: one is
    stored, the other refused in the usual words, and the run is not GO."""
    config = configured(tmp_path)
    run = await finished_run(config, stores[0], tmp_path)
    a, b = two_gates(config, stores, parties=2)
    results = await outcomes(
        a.record_sign(SUE, Target(run, 1, "sre"), Vote.APPROVE),
        b.record_sign(SUE, Target(run, 1, "security"), Vote.APPROVE),
    )
    stored = [(s.role, s.user) for s in rows(stores[0], SignOff)]
    assert len(stored) == 1, f"one person signed two roles: {stored}"
    refused = [r for r in results if isinstance(r, Refused)]
    assert results.count(True) == 1 and len(refused) == 1, results
    assert "one person signs for one role" in str(refused[0])
    events = [e.action for e in await AuditLog(stores[0]).events(run)]
    assert events.count("gate.signoff") == 1, events
    assert (await a.refresh(run)).outcome.value == "pending"


@pytest.mark.usefixtures("scripted_kinds")
async def test_the_requester_approving_waiving_and_ticking_at_once_stores_nothing(
    tmp_path: Path, stores: tuple[RunStore, RunStore]
) -> None:
    """Rita started the run and is in SRE: approve, waive and tick, all at once, over
    two gates: every one refused, nothing stored, no audit event."""
    config = configured(tmp_path)
    run = await finished_run(config, stores[0], tmp_path)
    a, b = two_gates(config, stores, parties=3)
    results = await outcomes(
        a.record_sign(RITA, Target(run, 1, "sre"), Vote.APPROVE),
        b.record_waiver(RITA, Target(run, 1, "headers"), JUSTIFICATION),
        a.record_tick(RITA, Target(run, 1, "oncall"), "PD-1"),
    )
    assert all(isinstance(r, Refused) for r in results), results
    assert "someone else has to sign it off" in str(results[0])
    assert "someone else has to waive" in str(results[1])
    assert "someone else has to tick" in str(results[2])
    for table in (SignOff, Waiver, AttestationTick):
        assert rows(stores[0], table) == [], table
    events = [e.action for e in await AuditLog(stores[0]).events(run)]
    assert not {"gate.signoff", "gate.waiver", "gate.attestation"} & set(events), events


@pytest.mark.usefixtures("scripted_kinds")
async def test_others_act_and_the_requester_may_tick_what_does_not_block(
    tmp_path: Path, stores: tuple[RunStore, RunStore]
) -> None:
    """The four-eyes rules refuse only the requester: Sam waives and ticks, Sid and Sam
    approve (GO); Rita may tick the non-blocking item of her own run."""
    config = configured(tmp_path)
    run = await finished_run(config, stores[0], tmp_path)
    gate = Gate(config, stores[0], RoleDirectory(config, _no_groups))
    assert await gate.record_tick(RITA, Target(run, 1, "notes"), "linked")
    assert await gate.record_waiver(SAM, Target(run, 1, "headers"), JUSTIFICATION)
    with pytest.raises(Refused, match="already waived"):
        await gate.record_waiver(SUE, Target(run, 1, "headers"), JUSTIFICATION)
    assert await gate.record_tick(SAM, Target(run, 1, "oncall"), "PD-1")
    with pytest.raises(Refused, match="already ticked"):
        await gate.record_tick(SUE, Target(run, 1, "oncall"), "PD-2")
    await gate.sign(SID, Target(run, 1, "security"), Vote.APPROVE)
    assert (await gate.sign(SAM, Target(run, 1, "sre"), Vote.APPROVE)).outcome.value == "go"
    with pytest.raises(Refused, match="already decided: GO"):
        await gate.record_sign(SUE, Target(run, 1, "sre"), Vote.APPROVE)


@pytest.mark.usefixtures("scripted_kinds")
async def test_the_policy_may_let_the_requester_waive_and_attest(
    tmp_path: Path, stores: tuple[RunStore, RunStore]
) -> None:
    extra = "  requester_may_waive: true\n  requester_may_attest: true\n"
    config = configured(tmp_path, extra)
    run = await finished_run(config, stores[0], tmp_path)
    gate = Gate(config, stores[0], RoleDirectory(config, _no_groups))
    assert await gate.record_waiver(RITA, Target(run, 1, "headers"), JUSTIFICATION)
    assert await gate.record_tick(RITA, Target(run, 1, "oncall"), "PD-1")
    with pytest.raises(Refused, match="someone else has to sign it off"):
        await gate.record_sign(RITA, Target(run, 1, "sre"), Vote.APPROVE)


@pytest.mark.usefixtures("scripted_kinds")
async def test_racing_rejection_and_approval_of_one_person_store_one(
    tmp_path: Path, stores: tuple[RunStore, RunStore]
) -> None:
    """A rejection for one role and an approval for the other by the same person, at
    once: one vote is stored; the decision follows it."""
    config = configured(tmp_path)
    run = await finished_run(config, stores[0], tmp_path)
    a, b = two_gates(config, stores, parties=2)
    await outcomes(
        a.record_sign(SUE, Target(run, 1, "sre"), Vote.REJECT, "the error rate doubled"),
        b.record_sign(SUE, Target(run, 1, "security"), Vote.APPROVE),
    )
    assert len(rows(stores[0], SignOff)) == 1
