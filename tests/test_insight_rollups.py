"""The rows the insights are read from (bot/store/facts.py): kept in the transaction of
every write, whichever code writes, equal to a recount from scratch, and giving for any
period (whole days from the rollups, partial days from the runs' facts) exactly the
figures of a scan of every run in it. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import inspect
import random
import threading
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event, insert, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.audit.chain import Action
from bot.reports.insights import as_json, compute
from bot.store import connect
from bot.store.audit import Note
from bot.store.facts import catch_up, rebuild, refresh, source_facts
from bot.store.gate import GateStore
from bot.store.insights import InsightRows, edge_days, insight_rows, split
from bot.store.insights import catch_up as catch_up_insights
from bot.store.models import (
    CheckRecord,
    DecisionRecord,
    InsightCheck,
    InsightDay,
    InsightRun,
    InsightTally,
    InsightWeek,
    ProductionOutcome,
    Run,
    RunStatus,
    Waiver,
)
from bot.store.rollups import TALLY_NAMES, tally_columns
from bot.store.runs import RunStore
from bot.store.tally import (
    LISTS,
    SUMS,
    CheckTally,
    DayTally,
    Tally,
    added,
    contribution,
    exact_sum,
    less,
    packed,
    shifted,
)
from bot.store.tally import unpacked as unpack
from checks.base import CheckResult, Status
from tests.hostile_bot import CONFIG
from tests.slackbot import running_bot
from tests.support.processes import Database

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SERVICES = ["api", "web", "batch"]
CHECKS = ["smoke", "tls", "load"]
STATUSES = ["passed", "passed", "warned", "failed", "error", "interrupted", "skipped", "pending"]


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/rollups.db"
    found: str = request.getfixturevalue("postgres_database")
    return found


def random_runs(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Runs over six days at any microsecond, each with its rows as plain data."""
    runs = []
    for n in range(1, count + 1):
        start = T0 + timedelta(seconds=rng.uniform(0, 6 * 86400))
        start = start.replace(microsecond=rng.randrange(1_000_000))
        finished = start + timedelta(seconds=rng.uniform(5, 3600)) if rng.random() < 0.9 else None
        outcome = rng.choice(["go", "go", "no-go", "expired", "cancelled", None])
        runs.append(
            {
                "id": n,
                "service": rng.choice(SERVICES),
                "start": start,
                "finished": finished,
                "outcome": outcome,
                # now and then a decision recorded before the checks' end, or the start
                "decided": start + timedelta(seconds=rng.uniform(-60, 90000)),
                "production": rng.choice([None, "success", "rolled-back"])
                if outcome == "go"
                else None,
                "waived": rng.sample(CHECKS, rng.randrange(2)),
                "checks": [
                    (check, attempt, rng.choice(STATUSES))
                    for check in CHECKS
                    for attempt in range(1, rng.choice([1, 1, 2]) + 1)
                ],
            }
        )
    return runs


def seed(store: RunStore, runs: list[dict[str, Any]]) -> None:
    """Through an ORM session without audit events, as a bulk import would: counted by
    :func:`rebuild`."""
    with Session(store.engine) as session:
        for r in runs:
            session.add(
                Run(
                    id=r["id"], service=r["service"], version="1", environment="staging",
                    plan="p", base_url="http://127.0.0.1:9", created_at=r["start"],
                    finished_at=r["finished"],
                    status=RunStatus.FINISHED if r["finished"] else RunStatus.RUNNING,
                )
            )  # fmt: skip
        session.flush()
        for r in runs:
            n = r["id"]
            for position, (check, attempt, status) in enumerate(r["checks"]):
                session.add(
                    CheckRecord(
                        run_id=n, check_id=check, check_type="http", position=position,
                        attempt=attempt, status=status,
                    )
                )  # fmt: skip
            if r["outcome"]:
                session.add(DecisionRecord(run_id=n, outcome=r["outcome"], at=r["decided"]))
            if r["production"]:
                session.add(ProductionOutcome(run_id=n, result=r["production"], user="U0RM"))
            for check in r["waived"]:
                session.add(
                    Waiver(run_id=n, check_id=check, attempt=1, user="U0SRE1", justification="x")
                )
        session.commit()
    with store.engine.begin() as connection:
        rebuild(connection)


def scanned(store: RunStore, since: datetime, until: datetime, service: str | None) -> InsightRows:
    """What the period's rows must add up to: every run in it, read from the source rows."""
    with store.engine.connect() as connection:
        facts = source_facts(connection, range(0, 10**6)).values()
    mine = [
        f for f in facts if since <= f.started < until and (service is None or f.service == service)
    ]
    days: dict[tuple[Any, str], list[Tally]] = defaultdict(list)
    checks: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for fact in mine:
        days[(fact.day, fact.service)].append(contribution(fact))
        for check, (failed, total) in fact.tallies.items():
            checks[(fact.service, check)][0] += failed
            checks[(fact.service, check)][1] += total
    return InsightRows(
        [DayTally(day, svc, added(t)) for (day, svc), t in days.items()],
        [CheckTally(svc, check, f, t) for (svc, check), (f, t) in checks.items()],
    )


def rollup(row: Any) -> dict[str, Any]:
    """A day's or a week's row by its columns' names, its durations unpacked; its stored
    sums are its lists' exact sums, whichever writer wrote it."""
    for name in SUMS:
        listed = row[name.removesuffix("_sum")]
        assert unpack(row[name]) == exact_sum(unpack(listed)), (name, dict(row))
    return {name: unpack(value) if name in LISTS else value for name, value in row.items()}


def snapshot(store: RunStore) -> dict[str, list[Any]]:
    """The four tables, comparable (a day's and a week's durations unpacked)."""
    with store.engine.connect() as connection:
        runs = [
            tuple(r) for r in connection.execute(select(InsightRun).order_by(InsightRun.run_id))
        ]
        days = [
            rollup(r._mapping)
            for r in connection.execute(
                select(InsightDay).order_by(InsightDay.day, InsightDay.service)
            )
        ]
        weeks = [
            rollup(r._mapping)
            for r in connection.execute(
                select(InsightWeek).order_by(InsightWeek.week, InsightWeek.service)
            )
        ]
        checks = [
            tuple(r)
            for r in connection.execute(
                select(InsightCheck).order_by(
                    InsightCheck.day, InsightCheck.service, InsightCheck.check_id
                )
            )
        ]
    return {"runs": runs, "days": days, "weeks": weeks, "checks": checks}


def caught_up(store: RunStore) -> dict[str, list[Any]]:
    """The insight rows once they have followed the audit trail to its end."""
    with store.engine.begin() as connection:
        catch_up(connection)
    return snapshot(store)


def recounted(store: RunStore) -> dict[str, list[Any]]:
    with store.engine.begin() as connection:
        rebuild(connection)
    return snapshot(store)


async def test_any_period_gives_the_figures_of_a_scan_of_its_runs(url: str) -> None:
    store = RunStore(url)
    rng = random.Random(16)
    seed(store, random_runs(rng, 160))
    periods = [
        (T0, T0 + timedelta(days=7)),  # whole days only
        (T0 + timedelta(hours=5, minutes=17), T0 + timedelta(days=4, hours=2)),
        (T0 + timedelta(days=2, hours=1), T0 + timedelta(days=2, hours=9)),  # within a day
        (T0 + timedelta(days=1, hours=23), T0 + timedelta(days=2, hours=1)),  # over midnight
        (T0 + timedelta(days=3), T0 + timedelta(days=5, minutes=1)),
    ]
    for _ in range(6):
        a, b = sorted(rng.uniform(-86400, 7 * 86400) for _ in range(2))
        periods.append((T0 + timedelta(seconds=a), T0 + timedelta(seconds=b, microseconds=1)))
    # weeks: periods over 31 days (a trend by week) around the runs' week (03-02, a Monday)
    long = [
        (T0 - timedelta(days=40, hours=-5, minutes=-17), T0 + timedelta(days=9, hours=2)),
        (T0 + timedelta(days=1), T0 + timedelta(days=36)),  # from that Monday, whole days
        (T0 - timedelta(days=30), T0 + timedelta(days=4, hours=3)),  # no whole week: days
    ]
    for since, until, weeks in [
        *((a, b, False) for a, b in periods),
        *((a, b, True) for a, b in long),
    ]:
        for service in (None, "web"):
            rows = await insight_rows(store, since, until, service, weeks=weeks)
            got = compute(rows, since, until)
            want = compute(scanned(store, since, until, service), since, until)
            assert as_json(got) == as_json(want), (since, until, service)
            assert got.overall.runs == sum(p.runs for p in got.trend)
            if weeks and until - since > timedelta(days=35):  # the week's rows, not its days'
                week = [d for d in rows.days if date(2026, 3, 2) <= d.day < date(2026, 3, 9)]
                assert [d.day for d in week] == [date(2026, 3, 2)] * len(week), week
    store.engine.dispose()


async def test_a_rolling_period_is_exact_with_runs_stamped_after_now(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last day of a period that ends a minute after now is read as its rollup less
    the runs after now: none, unless another replica's clock stamped some ahead of ours.
    Those are taken away, and the figures are still a scan's. On PostgreSQL the rollups
    come in the binary format (bot/store/connect.py), and give the same values."""
    store = RunStore(url)
    seed(store, random_runs(random.Random(36), 160))
    formats: list[int] = []

    def seen(_c: Any, cursor: Any, statement: str, *_: Any) -> None:
        if "FROM insightday" in statement:
            formats.append(int(getattr(cursor, "format", 0)))

    event.listen(store.engine, "after_cursor_execute", seen)
    for hours in (2, 9, 13, 23):
        now = T0 + timedelta(days=4, hours=hours)
        monkeypatch.setattr(store.clock, "now", lambda now=now: now)
        for since in (now - timedelta(days=3, hours=5), now - timedelta(days=2, hours=20)):
            until = now + timedelta(minutes=1)
            rows = await insight_rows(store, since, until)
            want = compute(scanned(store, since, until, None), since, until)
            assert as_json(compute(rows, since, until)) == as_json(want), (since, until)
    assert formats and set(formats) == ({1} if store.engine.dialect.name == "postgresql" else {0})
    # the hook was the read's connection's: none of bot/store/connect.py's functions runs
    # on every statement of the engine (other tests may hook the Engine class itself)
    hooks = [f for f in vars(connect).values() if inspect.isfunction(f)]
    assert not any(event.contains(store.engine, "before_cursor_execute", f) for f in hooks)
    with store.engine.connect() as connection:
        connection.execute(select(InsightDay)).all()
    assert formats[-1] == 0
    store.engine.dispose()


async def test_the_stores_writes_keep_the_rollups_equal_to_a_recount(url: str) -> None:
    store = RunStore(url)
    gates = GateStore(store)
    checks = [("smoke", "http", True), ("load", "http", False)]

    async def started(service: str) -> int:
        run = Run(service=service, version="1", environment="staging", plan="p", base_url="u")
        stored = await store.create_run(run, checks)
        assert stored.id is not None
        return stored.id

    async def result(run: int, check: str, status: Status) -> None:
        await store.save_result(run, CheckResult(status=status, summary="", check_id=check))

    async def decide(run: int, outcome: str) -> None:
        note = Note(Action.DECISION, "preprod", run, {"outcome": outcome})
        assert await gates.insert_audited(DecisionRecord(run_id=run, outcome=outcome), note)

    shipped = await started("api")
    assert snapshot(store)["runs"] == [], "a write alone leaves the insight rows be"
    await result(shipped, "smoke", Status.PASSED)
    await result(shipped, "load", Status.FAILED)
    await store.finish_run(shipped, RunStatus.FINISHED)
    waiver = Waiver(run_id=shipped, check_id="load", attempt=1, user="U0SRE1", justification="j")
    assert await gates.insert_audited(waiver, Note(Action.WAIVER, "U0SRE1", shipped, {}))
    await decide(shipped, "go")
    await gates.record_outcome(ProductionOutcome(run_id=shipped, result="success", user="U0RM"))
    assert caught_up(store) == recounted(store)
    # a correction moves the counts, it does not add to them
    corrected = ProductionOutcome(run_id=shipped, result="rolled-back", user="U0RM")
    await gates.record_outcome(corrected)

    rerun = await started("api")
    await result(rerun, "smoke", Status.ERROR)
    await result(rerun, "load", Status.PASSED)
    await store.finish_run(rerun, RunStatus.FINISHED)
    await store.new_attempts(rerun, ["smoke"])
    await result(rerun, "smoke", Status.PASSED)
    await store.finish_run(rerun, RunStatus.FINISHED)
    await decide(rerun, "no-go")

    cancelled = await started("web")
    await store.finish_run(cancelled, RunStatus.CANCELLED, actor="U0RM")
    await decide(cancelled, "cancelled")
    await started("web")  # still running

    kept = caught_up(store)
    assert kept == recounted(store)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    insights = compute(
        await insight_rows(store, today, today + timedelta(days=1)), today, today + timedelta(1)
    )
    overall = insights.overall
    assert (overall.runs, overall.go, overall.no_go, overall.cancelled) == (4, 1, 1, 1)
    assert (overall.succeeded, overall.rolled_back, overall.escaped) == (0, 1, 1)
    assert overall.waivers == 1 and overall.decided == 2
    failing = {(c.check_id, c.failed, c.total) for c in overall.failing_checks}
    assert failing == {("load", 1, 2), ("smoke", 1, 3)}  # the re-run added an attempt
    # recounting what did not change reads, and writes nothing (facts read back compare
    # equal to facts read from the source rows, on either database)
    writes: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *rest: object) -> None:
        if statement.split()[0] in ("INSERT", "UPDATE", "DELETE") and "insight" in statement:
            writes.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    with store.engine.begin() as connection:
        refresh(connection, [shipped, rerun, cancelled, cancelled + 1])
    assert writes == [] and snapshot(store) == kept
    store.engine.dispose()


def test_writers_racing_on_one_day_lose_nothing(url: str) -> None:
    """Four writers with their own engines (separate processes, in effect) store, finish
    and decide runs of one service at once while two others catch the insight rows up
    (replicas on their lease beats): one rollup row, no update lost or counted twice."""
    RunStore(url).engine.dispose()
    stores = [RunStore(url) for _ in range(4)]
    errors: list[BaseException] = []

    def writer(store: RunStore) -> None:
        gates = GateStore(store)

        async def work() -> None:
            for i in range(6):
                run = Run(service="api", version=str(i), environment="e", plan="p", base_url="u")
                stored = await store.create_run(run, [("smoke", "http", True)])
                assert stored.id is not None
                status = Status.PASSED if i % 3 else Status.FAILED
                await store.save_result(
                    stored.id, CheckResult(status=status, summary="", check_id="smoke")
                )
                await store.finish_run(stored.id, RunStatus.FINISHED)
                record = DecisionRecord(run_id=stored.id, outcome="go" if i % 2 else "no-go")
                note = Note(Action.DECISION, "preprod", stored.id, {})
                await gates.insert_audited(record, note)

        try:
            asyncio.run(work())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            store.engine.dispose()

    writing = threading.Event()
    writing.set()
    catches: list[int] = []

    def catcher(engine: Engine) -> None:
        try:
            while writing.is_set():
                with engine.begin() as connection:
                    catches.append(catch_up(connection))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=writer, args=(store,)) for store in stores]
    engines = [RunStore(url).engine for _ in range(2)]  # migrated here, not in the threads
    catchers = [threading.Thread(target=catcher, args=(engine,)) for engine in engines]
    for thread in [*threads, *catchers]:
        thread.start()
    for thread in threads:
        thread.join()
    writing.clear()
    for thread in catchers:
        thread.join()
    assert errors == []
    assert sum(catches) > 0, "the catchers counted runs while the writers wrote"
    store = RunStore(url)
    kept = caught_up(store)
    assert len(kept["runs"]) == 24 and [day["runs"] for day in kept["days"]] == [24]  # runs
    assert kept == recounted(store)
    store.engine.dispose()


def test_the_migration_counts_the_runs_already_stored(tmp_path: Path) -> None:
    """A database from before the rollups (revision 0009, rows written in bulk) is counted
    by ``preprod db upgrade``, and gives the figures of a scan."""
    from alembic import command
    from sqlalchemy import create_engine

    from bot.cli.main import main
    from bot.store.migrate import alembic_config

    url = f"sqlite:///{tmp_path}/old.db"
    engine = create_engine(url)
    runs = random_runs(random.Random(9), 60)
    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, "0009")
        connection.execute(
            insert(Run),
            [
                {
                    "id": r["id"], "service": r["service"], "version": "1",
                    "environment": "staging", "plan": "p", "base_url": "u", "requester": "cli",
                    "source": "cli", "status": RunStatus.FINISHED, "config_path": "",
                    "config_digest": "", "generation": 1, "created_at": r["start"],
                    "finished_at": r["finished"],
                }
                for r in runs
            ],
        )  # fmt: skip
        connection.execute(
            insert(CheckRecord),
            [
                {
                    "run_id": r["id"], "check_id": check, "check_type": "http",
                    "position": 0, "attempt": attempt, "critical": True, "status": status,
                    "summary": "", "metrics": {}, "evidence": "", "blocking": False,
                }
                for r in runs
                for check, attempt, status in r["checks"]
            ],
        )  # fmt: skip
        decided = [r for r in runs if r["outcome"]]
        connection.execute(
            insert(DecisionRecord),
            [{"run_id": r["id"], "outcome": r["outcome"], "reasons": [], "at": r["decided"]}
             for r in decided],
        )  # fmt: skip
    engine.dispose()
    with Database(url) as db:
        assert "insightday" not in {name for (name,) in db.query(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )}  # fmt: skip
    assert main(["db", "upgrade", "--database", url]) == 0
    store = RunStore(url)
    counted = snapshot(store)
    assert len(counted["runs"]) == 60 and counted == recounted(store)
    since, until = T0 + timedelta(hours=7), T0 + timedelta(days=5, hours=3)
    got = compute(asyncio.run(insight_rows(store, since, until)), since, until)
    want = compute(scanned(store, since, until, None), since, until)
    assert as_json(got) == as_json(want) and got.overall.runs > 30
    store.engine.dispose()


# -- the arithmetic, pure ------------------------------------------------------------------

durations = st.lists(st.floats(min_value=0, max_value=1e7, allow_nan=False), max_size=6)
tallies = st.builds(
    Tally,
    runs=st.integers(0, 50),
    go=st.integers(0, 50),
    waivers=st.integers(0, 9),
    cycles=durations.map(lambda v: tuple(sorted(v))),
    automated=durations.map(lambda v: tuple(sorted(v))),
    waiting=durations.map(lambda v: tuple(sorted(v))),
    automated_sum=st.none(),  # what the rollup rows read by the writers hold
    waiting_sum=st.none(),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(tallies, min_size=1, max_size=6), st.data())
def test_replacing_one_part_equals_adding_up_again(parts: list[Tally], data: st.DataObject) -> None:
    which = data.draw(st.integers(0, len(parts) - 1))
    new = data.draw(tallies)
    replaced = [*parts[:which], new, *parts[which + 1 :]]
    assert shifted(added(parts), parts[which], new) == added(replaced)
    assert shifted(added(parts), parts[which], None) == added(parts[:which] + parts[which + 1 :])
    assert shifted(added(parts[1:]), None, parts[0]) == added(parts)


@given(st.lists(tallies, min_size=1, max_size=6), st.data())
def test_taking_parts_away_equals_adding_up_the_rest(
    parts: list[Tally], data: st.DataObject
) -> None:
    """A partial day read as its rollup less the runs outside the period (insights.py)."""
    gone = data.draw(st.sets(st.integers(0, len(parts) - 1)))
    rest = [part for n, part in enumerate(parts) if n not in gone]
    assert less(added(parts), [parts[n] for n in gone]) == added(rest)
    assert less(added(parts), parts).runs == 0


def test_a_partial_day_over_half_is_read_as_its_rollup_less_the_rest() -> None:
    first, end, edges = split(T0 + timedelta(hours=5), T0 + timedelta(days=3, hours=2))
    counted, whole, rest = edge_days(first, end, edges)
    assert whole == [T0.date()] and rest == [(T0, T0 + timedelta(hours=5))]
    assert counted == [(T0 + timedelta(days=3), T0 + timedelta(days=3, hours=2))]
    assert edge_days(*split(T0 + timedelta(hours=1), T0 + timedelta(hours=20))) == (
        [(T0 + timedelta(hours=1), T0 + timedelta(hours=20))],
        [],
        [],
    )


def test_today_is_read_as_its_rollup_as_no_run_starts_after_now() -> None:
    """A rolling period ends a minute after now: the rest of today holds no run yet, so
    today is its rollup less (nearly) nothing, however early in the day it is."""
    now = T0 + timedelta(days=3, hours=2)
    first, end, edges = split(T0 + timedelta(hours=13), now + timedelta(minutes=1))
    assert edge_days(first, end, edges) == (  # by the half day alone: both counted
        [(T0 + timedelta(hours=13), T0 + timedelta(days=1)), edges[1]],
        [],
        [],
    )
    counted, whole, rest = edge_days(first, end, edges, now)
    assert counted == [(T0 + timedelta(hours=13), T0 + timedelta(days=1))]
    assert whole == [(T0 + timedelta(days=3)).date()]
    assert rest == [(now + timedelta(minutes=1), T0 + timedelta(days=4))]
    early = T0 + timedelta(days=3, minutes=1)  # however early in the day
    first, end, edges = split(T0 + timedelta(hours=13), early + timedelta(minutes=1))
    assert edge_days(first, end, edges, early)[1] == [early.date()]


@given(durations)
def test_durations_are_stored_exactly(values: list[float]) -> None:
    ordered = tuple(sorted(values))
    assert unpack(packed(ordered)) == ordered and unpack(None) == ()


async def test_a_read_counts_what_was_written_since_the_last_beat(url: str) -> None:
    """No process has caught up since the runs were stored: the insights read does, so
    the figures include them."""
    store = RunStore(url)
    for service in ("api", "api", "web"):
        run = Run(service=service, version="1", environment="staging", plan="p", base_url="u")
        await store.create_run(run, [("smoke", "http", True)])
    assert snapshot(store)["runs"] == []
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = await insight_rows(store, today, today + timedelta(days=1))
    assert sum(day.tally.runs for day in rows.days) == 3
    assert await catch_up_insights(store) == 0, "nothing left to count"
    store.engine.dispose()


@pytest.mark.usefixtures("scripted_kinds")
async def test_the_bots_lease_beat_catches_the_insight_rows_up(tmp_path: Path) -> None:
    config = tmp_path / "preprod.yml"
    config.write_text(CONFIG)
    async with running_bot(config, tmp_path, lease_ttl=0.6) as harness:
        harness.bot.start(schedule=False)  # the harness's server runs no lifespan
        store = harness.bot.store
        run = Run(service="api", version="1", environment="staging", plan="p", base_url="u")
        stored = await store.create_run(run, [("smoke", "http", True)])
        await harness.until(lambda: [r[0] for r in snapshot(store)["runs"]] == [stored.id])


def test_rollups_are_read_by_column_name_not_table_position() -> None:
    """InsightDay and InsightWeek share their rollup columns (InsightTally), which puts
    them first in the models while the migrated tables have ``day``/``service`` first:
    every reader selects them by name, in the order of Tally's fields."""
    assert Tally._fields == (*TALLY_NAMES, *SUMS)
    assert list(InsightTally.model_fields) == list(Tally._fields)
    for model in (InsightDay, InsightWeek):
        assert [c.name for c in tally_columns(model)] == list(TALLY_NAMES)
        assert [c.name for c in tally_columns(model, sums=True)] == list(Tally._fields)
        assert [c.name for c in model.__table__.columns][-1] == "service"
