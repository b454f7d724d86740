"""The periodic sweep looks only at what changed: runs that finished or got a sign-off,
waiver or tick lately, and runs past their deadline; the full sweep (start-up, now and
then) at every run still waiting on people. With thousands of runs awaiting sign-off a
sweep every few seconds must not load each of them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlmodel import Session

from bot.store.gate import GateStore
from bot.store.models import Run, RunStatus, SignOff, utcnow
from bot.store.runs import RunStore


async def test_a_bounded_sweep_sees_only_recent_activity_and_passed_deadlines(
    tmp_path: Path,
) -> None:
    store = RunStore(f"sqlite:///{tmp_path}/bot.db")
    now = utcnow()
    old = now - timedelta(hours=3)

    def run(service: str, created: object, finished: object) -> int:
        made = Run(service=service, version="1", environment="staging", plan="p",
                   base_url="http://x", status=RunStatus.FINISHED, created_at=created,
                   finished_at=finished)  # fmt: skip
        with Session(store.engine) as session:
            session.add(made)
            session.commit()
            assert made.id is not None
            return made.id

    quiet = run("quiet", old, old)
    finished_now = run("finished-now", old, now)
    signed_now = run("signed-now", old, old)
    ancient = run("past-deadline", now - timedelta(days=3), old)
    with Session(store.engine) as session:
        session.add(SignOff(run_id=signed_now, generation=1, role="sre", user="U1",
                            vote="approve", at=now))  # fmt: skip
        session.add(SignOff(run_id=quiet, generation=1, role="sre", user="U1",
                            vote="approve", at=old))  # fmt: skip
        session.commit()

    gates = GateStore(store)
    everything = {r.id for r in await gates.undecided_runs()}
    assert everything == {quiet, finished_now, signed_now, ancient}
    recent = now - timedelta(minutes=2)
    bounded = {r.id for r in await gates.undecided_runs(recent, now - timedelta(days=1))}
    assert bounded == {finished_now, signed_now, ancient}
    expired = {r.id for r in await gates.undecided_runs(created_before=now - timedelta(days=1))}
    assert expired == {ancient}
