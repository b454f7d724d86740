"""The group commit's batches (issue 26 point 4): writes that arrive within the gathering
time share a transaction without anyone holding the writer; a batch's check writes are
made together and still land on each check's latest attempt, its distributions on that
attempt, its audit events in order on one unbroken chain; a write whose caller stopped
waiting is committed all the same."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from bot.store.audit_log import AuditLog
from bot.store.batch import GroupCommit, commit_writes
from bot.store.marks import mark_write, result_write
from bot.store.models import AuditEvent, CheckDistribution, CheckRecord, Run
from bot.store.runs import RunStore
from checks.base import CheckResult, Status


def new_run(store: RunStore, checks: list[str]) -> int:
    run = Run(
        service="checkout-api",
        version="2.14.0",
        environment="staging",
        plan="p",
        base_url="http://127.0.0.1:9",
        requester="cli",
        source="cli",
    )
    stored = asyncio.run(store.create_run(run, [(c, "http", c != "minor") for c in checks]))
    assert stored.id is not None
    return stored.id


def result(check_id: str, status: Status = Status.PASSED, **extra: Any) -> CheckResult:
    now = datetime.now(UTC)
    return CheckResult(status=status, summary=f"{check_id} done", **extra).model_copy(
        update={"check_id": check_id, "started_at": now, "finished_at": now}
    )


def records(store: RunStore) -> dict[tuple[int, str, int], str]:
    with Session(store.engine) as session:
        rows = session.exec(select(CheckRecord)).all()
        return {(r.run_id, r.check_id, r.attempt): str(r.status) for r in rows}


def test_writes_within_the_gathering_time_share_one_transaction(tmp_path: Path) -> None:
    store = RunStore(f"sqlite:///{tmp_path}/preprod.db")
    run_id = new_run(store, ["a", "b", "c"])
    group = GroupCommit(store.engine, gather=0.3)
    sizes: list[int] = []
    original = group._apply

    def apply(batch: list[Any]) -> None:
        sizes.append(len(batch))
        original(batch)

    group._apply = apply  # type: ignore[method-assign]

    async def scenario() -> None:
        async def one(check_id: str, after: float) -> None:
            await asyncio.sleep(after)
            await group.write(result_write(run_id, result(check_id), None), check_id)

        await asyncio.gather(one("a", 0), one("b", 0.05), one("c", 0.1))

    asyncio.run(scenario())
    assert sizes == [3], "writes 50 ms apart were committed apart despite 300 ms to gather"
    assert set(records(store).values()) == {"passed"}


def test_a_batch_of_marks_and_results_lands_on_each_checks_latest_attempt(
    tmp_path: Path,
) -> None:
    store = RunStore(f"sqlite:///{tmp_path}/preprod.db")
    first = new_run(store, ["a", "b", "minor"])
    second = new_run(store, ["a"])
    asyncio.run(store.new_attempts(first, ["a"]))  # a's attempt 2 is the latest
    at = datetime.now(UTC)
    kept = {"hist": [[1.0, 1]], "count": 1}
    writes = [
        mark_write(first, "b", at, None),
        result_write(first, result("a", distribution=kept), None),
        result_write(second, result("a", Status.FAILED), None),
        result_write(first, result("minor", Status.WARNED), None),
    ]
    with Session(store.engine) as session:
        commit_writes(session, writes)
    assert records(store) == {
        (first, "a", 1): "pending",
        (first, "a", 2): "passed",
        (first, "b", 1): "running",
        (first, "minor", 1): "warned",
        (second, "a", 1): "failed",
    }
    with Session(store.engine) as session:
        distribution = session.exec(select(CheckDistribution)).one()
        assert (distribution.run_id, distribution.check_id, distribution.attempt) == (first, "a", 2)
        events = session.exec(
            select(AuditEvent)
            .where(AuditEvent.action == "check.finished")
            .order_by(col(AuditEvent.seq))
        ).all()
    details = [
        (e.run_id, e.details["check"], e.details["attempt"], e.details["critical"]) for e in events
    ]
    assert details == [(first, "a", 2, True), (second, "a", 1, True), (first, "minor", 1, False)]
    verification = asyncio.run(AuditLog(store).verify())
    assert verification.ok, verification


def test_a_result_in_the_same_batch_wins_over_its_mark_whichever_came_first(
    tmp_path: Path,
) -> None:
    store = RunStore(f"sqlite:///{tmp_path}/preprod.db")
    run_id = new_run(store, ["a", "b"])
    at = datetime.now(UTC)
    with Session(store.engine) as session:
        commit_writes(
            session,
            [
                mark_write(run_id, "a", at, None),
                result_write(run_id, result("a"), None),
                result_write(run_id, result("b"), None),
                mark_write(run_id, "b", at, None),
            ],
        )
    assert records(store) == {(run_id, "a", 1): "passed", (run_id, "b", 1): "passed"}


def test_batches_keep_the_trail_one_chain_across_other_appends(tmp_path: Path) -> None:
    store = RunStore(f"sqlite:///{tmp_path}/preprod.db")
    run_id = new_run(store, [f"c{n}" for n in range(8)])

    async def scenario() -> None:
        for n in range(0, 8, 2):  # two results a batch, a run started between batches
            await asyncio.gather(
                store.save_result(run_id, result(f"c{n}")),
                store.save_result(run_id, result(f"c{n + 1}")),
            )
            await store.create_run(
                Run(
                    service="s",
                    version="1",
                    environment="e",
                    plan="p",
                    base_url="http://127.0.0.1:9",
                    requester="cli",
                    source="cli",
                ),
                [],
            )

    asyncio.run(scenario())
    entries = asyncio.run(AuditLog(store).events())
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert sum(e.action == "check.finished" for e in entries) == 8
    assert asyncio.run(AuditLog(store).verify()).ok


def test_a_write_whose_caller_stopped_waiting_is_still_committed(tmp_path: Path) -> None:
    store = RunStore(f"sqlite:///{tmp_path}/preprod.db")
    run_id = new_run(store, ["a"])
    group = GroupCommit(store.engine, gather=0)
    release = threading.Event()
    original = group._apply

    def apply(batch: list[Any]) -> None:
        release.wait(10)
        original(batch)

    group._apply = apply  # type: ignore[method-assign]

    async def scenario() -> None:
        task = asyncio.create_task(group.write(result_write(run_id, result("a"), None), "a"))
        await asyncio.sleep(0.1)
        task.cancel()
        release.set()
        await asyncio.sleep(0.3)  # the writer finishes; its wake-up finds nobody waiting

    asyncio.run(scenario())
    assert records(store) == {(run_id, "a", 1): "passed"}
