"""The group commit's round trips (issue 26 point 4): a batch of results costs a fixed
handful of statements on either database, whatever its size, and the batches of one
drain share one connection (checked out, and pinged on PostgreSQL, once). Counted, not
timed: a functional guard against a statement or a checkout creeping back per batch.
And a write that says nothing else is coming (a run's last result, results recorded one
after another) is taken at once, not kept gathering."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from sqlalchemy import event

from bot.engine.request import RunRequest
from bot.engine.runner import Engine
from bot.store import batch
from bot.store.audit_log import AuditLog
from bot.store.batch import GroupCommit
from bot.store.marks import result_write
from bot.store.runs import RunStore
from tests.test_engine import make_config
from tests.test_group_commit import new_run, records, result

BATCH_STATEMENTS = 5
"""A batch of results: the latest attempts, the results, the trail's lock, its head
(with whether events wait in the queue) and the events."""


class Counted:
    """The statements each batch sends and the connections the writer checks out."""

    def __init__(self, store: RunStore) -> None:
        self.batches: list[list[str]] = []
        self.checkouts = 0
        self._batch: list[str] | None = None
        event.listen(store.engine, "before_cursor_execute", self._statement)
        event.listen(store.engine.pool, "checkout", self._checkout)

    def _statement(self, *args: Any) -> None:
        if self._batch is not None:
            self._batch.append(" ".join(str(args[2]).split())[:60])

    def _checkout(self, *_args: Any) -> None:
        self.checkouts += 1

    def wrap(self, group: GroupCommit, second_queued: threading.Event) -> None:
        """Count each batch's statements; hold the first batch until the second batch's
        writes are queued, so that both are committed by one drain."""
        original = group._apply

        def apply(batch: list[Any]) -> None:
            if not self.batches:
                second_queued.wait(10)
            self._batch = []
            try:
                original(batch)
            finally:
                self.batches.append(self._batch)
                self._batch = None

        group._apply = apply  # type: ignore[method-assign]


@pytest.fixture
def store(either_store: RunStore) -> RunStore:
    return either_store


def test_a_batch_costs_a_fixed_handful_of_statements_and_a_drain_one_checkout(
    store: RunStore,
) -> None:
    checks = [f"c{n}" for n in range(10)]
    run_id = new_run(store, checks)
    asyncio.run(AuditLog(store).chain_queued())  # the run's queued event: chained once, apart
    group = GroupCommit(store.engine, gather=0.05)
    counted = Counted(store)
    second_queued = threading.Event()
    counted.wrap(group, second_queued)
    checkouts_before = counted.checkouts

    async def scenario() -> None:
        def save(check_id: str) -> Any:
            return group.write(result_write(run_id, result(check_id), None), check_id)

        first = [asyncio.create_task(save(c)) for c in checks[:4]]
        await asyncio.sleep(0.1)  # the first batch is taken (and held)
        second = [asyncio.create_task(save(c)) for c in checks[4:]]
        await asyncio.sleep(0)  # queued
        second_queued.set()
        await asyncio.gather(*first, *second)

    asyncio.run(scenario())
    assert [len(b) for b in counted.batches] == [BATCH_STATEMENTS] * 2, counted.batches
    assert counted.checkouts - checkouts_before == 1, "each batch took a connection of its own"
    assert set(records(store).values()) == {"passed"}


def test_a_write_that_says_nothing_else_is_coming_is_taken_at_once(tmp_path: Any) -> None:
    store = RunStore(f"sqlite:///{tmp_path}/preprod.db")
    run_id = new_run(store, ["a"])
    group = GroupCommit(store.engine, gather=30.0)
    write = group.write(result_write(run_id, result("a"), None), "a", hurry=True)
    asyncio.run(asyncio.wait_for(write, 10))  # not the 30 s it would gather otherwise
    assert records(store) == {(run_id, "a", 1): "passed"}
    store.engine.dispose()


@pytest.mark.usefixtures("scripted_kinds")
async def test_a_runs_last_result_and_the_ones_recorded_in_turn_are_not_kept_gathering(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch, "GATHER", 30.0)
    checks = "".join(f"- {{id: c{n}, type: scripted}}\n" for n in range(6))
    store = RunStore(f"sqlite:///{tmp_path}/preprod.db")
    engine = Engine(make_config(tmp_path, checks), store, tmp_path / "work")
    request = RunRequest(service="checkout-api", version="2.14.0", environment="staging")
    run = await engine.start(request)
    assert run.id is not None
    await asyncio.wait_for(engine.execute(run, request), 10)  # not 30 s a batch
    only = RunRequest("checkout-api", "2.14.1", "staging", only=("c0",))
    await asyncio.wait_for(engine.run(only), 10)  # five "not selected", one after another
    assert set(records(store).values()) == {"passed", "skipped"}
    store.engine.dispose()
