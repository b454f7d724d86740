"""Reads that need a check's status or times select those columns, not whole check
records: a record carries its evidence and metrics, parsed for nothing when a run
resumes (``check_states``, for every run a worker takes up), a staged plan estimates
its later stages (``median_durations``) or a pipeline polls the API
(``Requests.checks``) or a click reads the run in its locked transaction
(``read_fresh``). What they return is unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event

from bot.store.attempts import LatestAttempt
from bot.store.gate import Fresh, GateStore
from bot.store.models import Run, RunStatus, utcnow
from bot.store.requests import Requests
from bot.store.runs import RunStore
from checks.base import CheckResult, Status
from tests.test_flaky import stored_run
from tests.test_gate_reads import finished_run


@contextmanager
def statements(store: RunStore) -> Iterator[list[str]]:
    seen: list[str] = []

    def statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        seen.append(" ".join(sql.split()))

    event.listen(store.engine, "before_cursor_execute", statement)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", statement)


async def test_check_states_reads_each_latest_status_and_no_evidence(
    either_store: RunStore,
) -> None:
    store = either_store
    run_id = await finished_run(store)  # headers failed twice: its second attempt counts
    unfinished = await stored_run(store, Status.PASSED, Status.PASSED, finish=False)
    await store.new_attempts(unfinished, ["headers"])
    with statements(store) as seen:
        assert await store.check_states(run_id) == {"smoke": "passed", "headers": "failed"}
        assert await store.check_states(unfinished) == {"smoke": "passed", "headers": "pending"}
    assert seen and not [sql for sql in seen if "evidence" in sql or "metrics" in sql], seen


async def test_median_durations_read_the_times_alone(either_store: RunStore) -> None:
    store = either_store
    for seconds in (2, 4, 30):  # smoke took this long in three finished runs
        run = Run(service="api", version="1", environment="staging", plan="p", base_url="x")
        created = await store.create_run(run, [("smoke", "http", True)])
        assert created.id is not None
        started = utcnow() - timedelta(seconds=seconds)
        await store.mark_started(created.id, "smoke", started)
        ended = utcnow()
        passed = CheckResult(status=Status.PASSED, summary="", check_id="smoke", finished_at=ended)
        await store.save_result(created.id, passed)
        await store.finish_run(created.id, RunStatus.FINISHED)
    with statements(store) as seen:
        medians = await store.median_durations("api", "staging", ["smoke"], (created.id or 0) + 1)
    assert medians.keys() == {"smoke"} and 3.5 < medians["smoke"] < 6, medians
    assert seen and not [sql for sql in seen if "evidence" in sql or "metrics" in sql], seen


async def test_the_apis_checks_are_the_latest_attempts_read_without_evidence(
    either_store: RunStore,
) -> None:
    """What every pipeline polling ``GET /api/v1/runs/{id}`` reads."""
    run_id = await finished_run(either_store)
    with statements(either_store) as seen:
        lines = await Requests(either_store).checks(run_id)
    assert [(c.check_id, c.status, c.critical, c.summary) for c in lines] == [
        ("smoke", "passed", True, "smoke passed"),
        ("headers", "failed", False, "headers again"),
    ]
    assert seen and not [sql for sql in seen if "evidence" in sql or "metrics" in sql], seen


async def test_a_gate_action_reads_each_checks_latest_attempt_without_evidence(
    either_store: RunStore,
) -> None:
    """What every click reads inside its locked transaction (``read_fresh``)."""
    run_id = await finished_run(either_store)
    seen_fresh: list[Fresh] = []

    def plan(fresh: Fresh) -> None:
        seen_fresh.append(fresh)
        return None  # nothing to store

    with statements(either_store) as seen:
        assert await GateStore(either_store).act(run_id, plan) is False
    [fresh] = seen_fresh
    assert fresh.checks == {
        "smoke": LatestAttempt("smoke", "passed", True, 1, "smoke passed"),
        "headers": LatestAttempt("headers", "failed", False, 2, "headers again"),
    }
    assert seen and not [sql for sql in seen if "evidence" in sql or "metrics" in sql], seen
