"""The group commit's round trips (issue 26 point 4): a batch of results costs a fixed
handful of statements on either database, whatever its size, and the batches of one
drain share one connection (checked out, and pinged on PostgreSQL, once). Counted, not
timed: a functional guard against a statement or a checkout creeping back per batch."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from bot.store.audit import AuditLog
from bot.store.batch import GroupCommit
from bot.store.marks import result_write
from bot.store.runs import RunStore
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


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[RunStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/preprod.db"
    else:
        url = request.getfixturevalue("postgres_database")
    store = RunStore(url)
    yield store
    store.engine.dispose()


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
