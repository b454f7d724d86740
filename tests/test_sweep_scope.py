"""The periodic sweep looks only at what changed: runs that finished or got a sign-off,
waiver or tick lately, and runs past their deadline; the full sweep (start-up, now and
then) at every run still waiting on people. With thousands of runs awaiting sign-off a
sweep every few seconds must not load each of them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlmodel import Session

from bot.store.gate import GateStore
from bot.store.models import (
    DecisionRecord,
    OutboxMessage,
    Run,
    RunStatus,
    SignOff,
    SlackThread,
    utcnow,
)
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


async def test_runs_left_unshown_are_found_in_one_query_whatever_waits_on_people(
    tmp_path: Path,
) -> None:
    """Only a finished, undecided run with a thread and no posted panel is unshown; one
    whose panel was asked for but never answered (no ts) is too."""
    store = RunStore(f"sqlite:///{tmp_path}/bot.db")
    now = utcnow()
    old = now - timedelta(minutes=5)
    ids: dict[str, int] = {}
    with Session(store.engine) as session:
        for name, finished in (("unshown", old), ("shown", old), ("claimed", old),
                               ("no-thread", old), ("decided", old), ("just-now", now),
                               ("other-key", old)):  # fmt: skip
            made = Run(service=name, version="1", environment="staging", plan="p",
                       base_url="http://x", status=RunStatus.FINISHED, created_at=old,
                       finished_at=finished)  # fmt: skip
            session.add(made)
            session.flush()
            assert made.id is not None
            ids[name] = made.id
            if name != "no-thread":
                session.add(SlackThread(run_id=made.id, channel="C1", parent_ts="1.0"))
        session.add(OutboxMessage(key=f"run:{ids['shown']}:panel", run_id=ids["shown"],
                                  channel="C1", ts="2.0"))  # fmt: skip
        session.add(OutboxMessage(key=f"run:{ids['claimed']}:panel", run_id=ids["claimed"],
                                  channel="C1", claimed_by="gone"))  # fmt: skip
        session.add(OutboxMessage(key=f"run:{ids['other-key']}:results", channel="C1",
                                  run_id=ids["other-key"], ts="3.0"))  # fmt: skip
        session.add(DecisionRecord(run_id=ids["decided"], outcome="go", at=now))
        session.commit()

    found = await GateStore(store).unshown_runs(now - timedelta(seconds=30))
    assert sorted(r.service for r in found) == ["claimed", "other-key", "unshown"]
