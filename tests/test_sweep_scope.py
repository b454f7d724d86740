"""The periodic sweep looks only at what changed: runs that finished or got a sign-off,
waiver or tick lately, and runs past their deadline; the full sweep (start-up, now and
then) at every run still waiting on people. With thousands of runs awaiting sign-off a
sweep every few seconds must not load each of them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session

from bot.gate.actions import Gate
from bot.gate.events import GateEvent, PanelChanged
from bot.gate.policy import Outcome
from bot.gate.sweeps import Sweeps
from bot.store.gate import GateStore
from bot.store.models import (
    AttestationTick,
    DecisionRecord,
    OutboxMessage,
    Run,
    RunStatus,
    SignOff,
    SlackThread,
    utcnow,
)
from bot.store.runs import RunStore
from checks.base import Status
from tests.test_flaky import stored_run
from tests.test_gate_reads import gate_for


def counting_loads(gate: Gate) -> list[int]:
    """The ids of the runs ``gate`` loads from now on, in order."""
    loads: list[int] = []
    load = gate.reader.load

    async def counted(run_id: int) -> Any:
        loads.append(run_id)
        return await load(run_id)

    gate.reader.load = counted  # type: ignore[method-assign]
    return loads


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
    whose panel was asked for but never answered (no ts) is too, unless its claim is
    live: a process is showing it, its messages held behind the channel's pace."""
    store = RunStore(f"sqlite:///{tmp_path}/bot.db")
    now = utcnow()
    old = now - timedelta(minutes=5)
    ids: dict[str, int] = {}
    with Session(store.engine) as session:
        for name, finished in (("unshown", old), ("shown", old), ("claimed", old),
                               ("no-thread", old), ("decided", old), ("just-now", now),
                               ("other-key", old), ("being-shown", old)):  # fmt: skip
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
        session.add(OutboxMessage(key=f"run:{ids['being-shown']}:results", channel="C1",
                                  run_id=ids["being-shown"], claimed_by="alive",
                                  claimed_at=now - timedelta(seconds=5)))  # fmt: skip
        session.add(DecisionRecord(run_id=ids["decided"], outcome="go", at=now))
        session.commit()

    gates = GateStore(store)
    found = await gates.unshown_runs(now - timedelta(seconds=30))
    assert sorted(r.service for r in found) == ["being-shown", "claimed", "other-key", "unshown"]
    found = await gates.unshown_runs(now - timedelta(seconds=30), now - timedelta(seconds=15))
    assert sorted(r.service for r in found) == ["claimed", "other-key", "unshown"]
    found = await gates.unshown_runs(now - timedelta(seconds=30), now - timedelta(seconds=1))
    assert "being-shown" in {r.service for r in found}  # its claim went stale: its process died


async def test_a_periodic_sweep_looks_again_only_at_what_changed(
    either_store: RunStore, tmp_path: Path
) -> None:
    """The beats look back minutes, every few seconds: a run waiting on people was loaded
    again at each of them, in every process. A run is looked at again once a row its
    decision reads has changed (here a sign-off whose clicker died before deciding), or
    once it is past its deadline. The rows a crash left undecided are stored directly."""
    store = either_store
    now = [datetime.now(UTC)]
    gate = gate_for(store, tmp_path, clock=lambda: now[0])
    runs = [await stored_run(store, Status.PASSED, Status.PASSED) for _ in range(3)]
    loads = counting_loads(gate)
    decide_due = Sweeps(gate).decide_due
    since = now[0] - timedelta(minutes=2)
    assert await decide_due(since) == [] and sorted(loads) == runs  # all awaiting sre
    loads.clear()
    assert await decide_due(since) == [] and loads == []  # nothing changed
    approval = SignOff(run_id=runs[1], generation=1, role="sre", user="U0SRE1", vote="approve")
    tick = AttestationTick(run_id=runs[1], item_id="oncall", user="U0SRE1")
    assert await GateStore(store).insert_once(tick)
    assert await decide_due(since) == [] and loads == [runs[1]]  # still awaits sre
    loads.clear()
    assert await GateStore(store).insert_once(approval)
    assert await decide_due(since) == [runs[1]]  # GO, recorded
    assert loads[0] == runs[1] and set(loads) == {runs[1]}
    loads.clear()
    now[0] += timedelta(days=2)  # past the sign-off deadline of a day
    assert sorted(await decide_due(since)) == [runs[0], runs[2]]  # EXPIRED
    assert (await gate.load(runs[0])).gate.decision.outcome is Outcome.EXPIRED
    assert await decide_due(since) == []  # decided: no longer looked at


async def test_a_run_this_process_refreshed_is_not_loaded_again_by_its_sweep(
    either_store: RunStore, tmp_path: Path
) -> None:
    """The process that executes a run refreshes it as it ends (its panel, or NO-GO at
    once); its next sweep loaded every such run again, each a read in a worker thread
    beside the acks (bench/ack_latency.py: a beat's sweep loaded the ~170 runs of the
    last 10 s). A row changed since, by any process, still gets it looked at."""
    store = either_store
    now = [datetime.now(UTC)]
    gate = gate_for(store, tmp_path, clock=lambda: now[0])
    runs = [await stored_run(store, Status.PASSED, Status.PASSED) for _ in range(3)]
    for run_id in runs[:2]:
        await gate.refresh(run_id)  # as the executing process does at the run's end
    loads = counting_loads(gate)
    decide_due = Sweeps(gate).decide_due
    since = now[0] - timedelta(minutes=2)
    assert await decide_due(since) == [] and loads == [runs[2]]
    loads.clear()
    tick = AttestationTick(run_id=runs[0], item_id="oncall", user="U0SRE1")
    assert await GateStore(store).insert_once(tick)  # another process's click
    assert await decide_due(since) == [] and loads == [runs[0]]
    loads.clear()
    now[0] += timedelta(days=2)  # past the deadline: every one of them decided
    assert sorted(await decide_due(since)) == runs


async def test_a_run_held_by_its_teller_does_not_hold_up_the_sweep(
    either_store: RunStore, tmp_path: Path
) -> None:
    """A process telling a run holds its lock while Slack keeps the panel waiting; a
    sweep that waited for that lock kept every later run undecided as long. It leaves
    the held run to a later sweep and decides the others."""
    store = either_store
    now = [datetime.now(UTC)]
    gate = gate_for(store, tmp_path, clock=lambda: now[0])
    held, other = [await stored_run(store, Status.PASSED, Status.PASSED) for _ in range(2)]
    slack_answers = asyncio.Event()

    async def slow_slack(event: GateEvent) -> None:
        if isinstance(event, PanelChanged) and event.view.run_id == held:
            await slack_answers.wait()

    gate.add_listener(slow_slack)
    telling = asyncio.create_task(gate.refresh(held))  # awaiting sre: its panel is shown
    await asyncio.sleep(0.1)
    assert gate.locks[held].locked()
    now[0] += timedelta(days=2)  # both past the sign-off deadline of a day
    decide_due = Sweeps(gate).decide_due
    since = now[0] - timedelta(minutes=2)
    assert await asyncio.wait_for(decide_due(since), 5) == [other]
    assert (await gate.load(other)).gate.decision.outcome is Outcome.EXPIRED
    slack_answers.set()
    await telling
    assert await decide_due(since) == [held]  # looked at again, and decided
