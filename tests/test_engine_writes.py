"""What the engine's cheaper writes keep (issue 26 point 4): a result is stored before it
is announced, a run cut off between checks resumes with what was recorded, checks that
finish together share a transaction without sharing one another's failures, a run's
HTTP checks share the target's connections, a missing sniffio is looked up once, a
request's URL is joined once, and a process's heap is settled at its first run."""

from __future__ import annotations

import asyncio
import gc
import importlib.abc
import sqlite3
import sys
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from bot.config.loader import load_config
from bot.engine.events import CheckFinished, Event
from bot.engine.heap import YOUNG, settle_once
from bot.engine.request import RunRequest
from bot.engine.runner import Engine
from bot.store.audit_log import AuditLog
from bot.store.batch import commit_writes
from bot.store.marks import LeaseLost, mark_write
from bot.store.models import CheckRecord, Run
from bot.store.runs import RunStore
from bot.web.server import settle_heap
from checks.base import CheckResult, Status
from checks.http import joined
from tests.kinds import ScriptedCheck
from tests.support.local_http import serving
from tests.test_engine import make_config

pytestmark = pytest.mark.usefixtures("scripted_kinds")
REQUEST = RunRequest(service="checkout-api", version="2.14.0", environment="staging")


def statuses(database: Path) -> dict[str, str]:
    """The latest attempt's status of each check, read on a connection of its own."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT check_id, status FROM checkrecord ORDER BY attempt"
        ).fetchall()
    return dict(rows)


async def test_every_result_is_stored_before_it_is_announced(tmp_path: Path) -> None:
    seen: dict[str, str] = {}
    database = tmp_path / "preprod.db"

    def listener(event: Event) -> None:
        if isinstance(event, CheckFinished):
            seen[event.result.check_id] = statuses(database)[event.result.check_id]

    checks = "".join(f"- {{id: c{n}, type: scripted}}\n" for n in range(12))
    engine = Engine(
        make_config(tmp_path, checks),
        RunStore(f"sqlite:///{database}"),
        tmp_path / "work",
        listeners=[listener],
    )
    await engine.run(REQUEST)
    assert seen == {f"c{n}": "passed" for n in range(12)}
    trail = AuditLog(engine.store)  # the batched appends make one intact chain
    verified = await trail.verify()
    assert verified.ok and verified.count == 14  # run started, 12 checks, run finished
    finished = [e.details for e in await trail.events() if e.action == "check.finished"]
    assert sorted(d["check"] for d in finished) == sorted(f"c{n}" for n in range(12))
    assert all(d["status"] == "passed" and d["attempt"] == 1 for d in finished)


async def test_a_run_cut_off_between_checks_resumes_with_what_was_recorded(
    tmp_path: Path,
) -> None:
    database = tmp_path / "preprod.db"
    finished: list[str] = []

    def listener(event: Event) -> None:
        if isinstance(event, CheckFinished):
            finished.append(event.result.check_id)

    fast = "".join(f"- {{id: f{n}, type: scripted}}\n" for n in range(3))
    engine = Engine(
        make_config(tmp_path, fast + "- {id: cut, type: scripted, outcome: hang, timeout: 60s}\n"),
        RunStore(f"sqlite:///{database}"),
        tmp_path / "work",
        listeners=[listener],
    )
    run = await engine.start(REQUEST)
    task = asyncio.create_task(engine.execute(run, REQUEST))
    while len(finished) < 3:
        await asyncio.sleep(0.01)
    engine.handing_over = True  # the process stops: the run is left for another
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert statuses(database) == {"f0": "passed", "f1": "passed", "f2": "passed", "cut": "running"}
    ran_before = dict(ScriptedCheck.spans)

    again = Engine(
        make_config(tmp_path, fast + "- {id: cut, type: scripted}\n"),
        RunStore(f"sqlite:///{database}"),
        tmp_path / "work",
    )
    stored = await again.store.get_run(run.id or 0)
    assert stored is not None
    report = await again.resume(stored)
    assert {r.check_id: r.status for r in report.results} == dict.fromkeys(
        ["f0", "f1", "f2", "cut"], Status.PASSED
    )
    assert all(ScriptedCheck.spans[f"f{n}"] == ran_before[f"f{n}"] for n in range(3)), (
        "a recorded check ran again"
    )


def new_run(store: RunStore, checks: Sequence[str], owner: str | None = None) -> Run:
    run = Run(
        service="svc",
        version="1",
        environment="staging",
        plan="p",
        base_url="http://127.0.0.1:9",
        requester="cli",
        source="cli",
        lease_owner=owner,
    )
    return asyncio.run(store.create_run(run, [(c, "http", True) for c in checks]))


def result(check_id: str, status: Status = Status.PASSED) -> CheckResult:
    now = datetime.now(UTC)
    return CheckResult(status=status, summary="done").model_copy(
        update={"check_id": check_id, "check_type": "http", "started_at": now, "finished_at": now}
    )


def held_commits(store: RunStore) -> tuple[threading.Event, list[int]]:
    """Hold the store's writer on its first transaction until the event is set; list
    how many writes each transaction it commits carries."""
    release, sizes = threading.Event(), []
    original = store._group._apply  # the writes of a batch, in one transaction

    def apply(batch: list[Any]) -> None:
        release.wait(10)
        original(batch)
        sizes.append(len(batch))

    store._group._apply = apply  # type: ignore[method-assign]
    return release, sizes


async def write_together(store: RunStore, release: threading.Event, *writes: Any) -> list[Any]:
    """The first write alone (held), then the rest queued behind it, then released."""
    tasks = [asyncio.create_task(writes[0])]
    await asyncio.sleep(0.2)  # the writer holds it
    tasks.extend(asyncio.create_task(write) for write in writes[1:])
    await asyncio.sleep(0.2)  # all queued
    release.set()
    return await asyncio.gather(*tasks, return_exceptions=True)


def test_writes_that_arrive_together_share_one_transaction(tmp_path: Path) -> None:
    store = RunStore(f"sqlite:///{tmp_path}/preprod.db")
    run = new_run(store, [f"c{n}" for n in range(6)])
    release, sizes = held_commits(store)
    outcomes = asyncio.run(
        write_together(
            store, release, *(store.save_result(run.id or 0, result(f"c{n}")) for n in range(6))
        )
    )
    assert outcomes == [None] * 6
    assert sizes == [1, 5], "the five that queued behind the first were not committed together"
    assert set(statuses(tmp_path / "preprod.db").values()) == {"passed"}


def test_a_lost_lease_fails_its_own_write_not_the_others_in_the_batch(tmp_path: Path) -> None:
    store = RunStore(f"sqlite:///{tmp_path}/preprod.db")
    mine = new_run(store, ["a"], owner="host-1")
    lost = new_run(store, ["b"], owner="host-2")
    other = new_run(store, ["c"])
    release, _ = held_commits(store)
    outcomes = asyncio.run(
        write_together(
            store,
            release,
            store.save_result(mine.id or 0, result("a"), owner="host-1"),
            store.save_result(lost.id or 0, result("b"), owner="host-1"),
            store.save_result(other.id or 0, result("c", Status.FAILED)),
            store.save_result(mine.id or 0, result("missing")),
        )
    )
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], LeaseLost)
    assert isinstance(outcomes[3], LookupError)
    assert statuses(tmp_path / "preprod.db") == {"a": "passed", "b": "pending", "c": "failed"}


def test_a_running_mark_queued_without_waiting_never_lands_over_a_result(
    tmp_path: Path,
) -> None:
    store = RunStore(f"sqlite:///{tmp_path}/preprod.db")
    run = new_run(store, ["quick", "slow"])
    run_id = run.id or 0

    async def scenario() -> None:
        now = datetime.now(UTC)
        store.mark_started_soon(run_id, "quick", now)
        store.mark_started_soon(run_id, "slow", now)
        await store.save_result(run_id, result("quick"))
        await asyncio.sleep(0.3)  # the marks' time has long come

    asyncio.run(scenario())
    assert statuses(tmp_path / "preprod.db") == {"quick": "passed", "slow": "running"}
    with Session(store.engine) as session:  # a late mark leaves a result alone too
        commit_writes(session, [mark_write(run_id, "quick", datetime.now(UTC), None)])
    assert statuses(tmp_path / "preprod.db")["quick"] == "passed"


class Counting(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real services answer
    connections = 0
    open_now = 0

    def setup(self) -> None:
        type(self).connections += 1
        type(self).open_now += 1
        super().setup()

    def finish(self) -> None:
        super().finish()
        type(self).open_now -= 1

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def counting_server() -> Iterator[str]:
    Counting.connections = Counting.open_now = 0
    with serving(Counting) as url:
        yield url


async def test_a_runs_http_checks_share_the_targets_connections(
    tmp_path: Path, counting_server: str
) -> None:
    path = tmp_path / "preprod.yml"
    checks = "".join(
        f"      - {{id: h{n}, type: http, requests: [{{path: /}}, {{path: /again}}]}}\n"
        for n in range(5)
    )
    path.write_text(
        f"environments:\n  staging: {{base_url: '{counting_server}', plan: p}}\n"
        f"plans:\n  p:\n    checks:\n{checks}"
    )
    engine = Engine(load_config(path), RunStore(f"sqlite:///{tmp_path}/preprod.db"), tmp_path)
    engine.concurrency = 1
    report = await engine.run(REQUEST)
    assert [r.status for r in report.results] == [Status.PASSED] * 5
    assert Counting.connections == 1, "each check opened its own connection"
    for _ in range(100):  # the run closed the pool: the server sees the connection end
        if Counting.open_now == 0:
            break
        await asyncio.sleep(0.02)
    assert Counting.open_now == 0


class _Watching(importlib.abc.MetaPathFinder):
    asked: list[str] = []

    def find_spec(self, name: str, path: Any = None, target: ModuleType | None = None) -> None:
        self.asked.append(name)


def test_a_missing_sniffio_is_not_searched_for_at_every_request() -> None:
    import httpcore._synchronization as sync

    import checks.context  # noqa: F401 (what records it)

    if sys.modules.get("sniffio") is not None:
        pytest.skip("sniffio is installed here")
    watching = _Watching()
    sys.meta_path.insert(0, watching)
    try:
        assert [sync.current_async_library() for _ in range(3)] == ["asyncio"] * 3
    finally:
        sys.meta_path.remove(watching)
    assert "sniffio" not in watching.asked


def test_a_new_runs_checks_hold_what_a_check_record_holds_by_default(tmp_path: Path) -> None:
    store = RunStore(f"sqlite:///{tmp_path}/preprod.db")
    run = new_run(store, ["a"])
    with Session(store.engine) as session:
        stored = session.exec(select(CheckRecord)).one()
    fresh = CheckRecord(run_id=run.id or 0, check_id="a", check_type="http", position=0)
    assert stored.model_dump(exclude={"id"}) == fresh.model_dump(exclude={"id"})


@pytest.mark.parametrize(
    "base",
    ["http://127.0.0.1:8080", "https://api.example.com/v1", "https://ex.com/v1/?x=1"],
)
def test_a_requests_url_is_joined_as_the_client_joins_it(base: str) -> None:
    client = httpx.AsyncClient(base_url=base)
    for path in ["/", "/healthz", "/a/b?x=1&y=%20", "/caf%C3%A9", "/q?next=/x"]:
        expected = client.build_request("GET", path).url
        assert str(client.build_request("GET", joined(client.base_url, path)).url) == str(expected)


async def test_the_first_run_of_a_process_settles_its_heap_once(tmp_path: Path) -> None:
    gc.unfreeze()
    settle_once.cache_clear()
    default = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    checks = "".join(f"- {{id: c{n}, type: scripted}}\n" for n in range(3))
    try:
        engine = Engine(
            make_config(tmp_path, checks), RunStore(f"sqlite:///{tmp_path}/p.db"), tmp_path
        )
        assert gc.get_freeze_count() == 0
        await engine.run(REQUEST)
        frozen = gc.get_freeze_count()
        assert frozen > 0, "the run's process left its start-up heap to every collection"
        assert gc.get_threshold() == (YOUNG, 10, 10), "young objects collected every 700"
        again = Engine(
            make_config(tmp_path, checks), RunStore(f"sqlite:///{tmp_path}/q.db"), tmp_path
        )
        await again.run(REQUEST)
        assert gc.get_freeze_count() <= frozen, "the heap was frozen again at a later run"
    finally:
        gc.unfreeze()
        gc.set_threshold(*default)


def test_serve_settles_its_heap_at_start_up_and_collects_young_objects_less_often() -> None:
    default = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (YOUNG, 10, 10)
    finally:
        gc.unfreeze()
        gc.set_threshold(*default)
