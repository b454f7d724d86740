"""The audit trail: a hash chain that `preprod audit verify` walks. Rows are edited,
deleted, inserted and reordered with SQL in real SQLite and PostgreSQL databases, and
verify must name each event."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, insert

from bot.audit.chain import GENESIS, Action, Entry, Tamper, digest, seal, verify
from bot.cli.main import main
from bot.reports.evidence import trail_jsonl, trail_line
from bot.store.audit import Note
from bot.store.audit_log import AuditLog
from bot.store.models import AuditEvent, Run, RunStatus
from bot.store.runs import RunStore
from checks.base import CheckResult, Status
from examples.processes import ROOT
from tests.support.processes import Database, preprod_command

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def chain(n: int) -> list[Entry]:
    entries: list[Entry] = []
    for i in range(1, n + 1):
        entries.append(
            seal(
                seq=i,
                at=T0 + timedelta(minutes=i),
                run_id=1,
                actor=f"U{i}",
                action="gate.signoff",
                details={"role": "sre", "n": i},
                prev_hash=entries[-1].hash if entries else GENESIS,
            )
        )
    return entries


def resealed(entry: Entry, **changes: object) -> Entry:
    """What a forger who knows the algorithm writes: changed and re-hashed."""
    changed = replace(entry, **changes)  # type: ignore[arg-type]
    return replace(changed, hash=digest(changed))


# -- the chain, pure -----------------------------------------------------------------------


def test_an_intact_chain_verifies_and_gives_its_head() -> None:
    entries = chain(5)
    result = verify(entries)
    assert result.ok and result.count == 5 and result.head == entries[-1]
    assert verify([]).ok and verify(entries, head=entries[2].hash).ok


def test_each_kind_of_tampering_is_named_at_its_event() -> None:
    entries = chain(6)
    edited = [*entries[:2], replace(entries[2], actor="U0MALLORY"), *entries[3:]]
    assert _named(edited) == (Tamper.CHANGED, 3)
    rehashed = [*entries[:2], resealed(entries[2], actor="U0MALLORY"), *entries[3:]]
    assert _named(rehashed) == (Tamper.CHANGED, 3)
    assert _named([*entries[:2], *entries[3:]]) == (Tamper.DELETED, 3)
    shifted = [replace(e, seq=e.seq - 1) for e in entries[3:]]
    assert _named([*entries[:2], *shifted]) == (Tamper.DELETED, 3)  # deleted and renumbered
    forged = seal(
        seq=3, at=T0, run_id=1, actor="U0MALLORY", action="gate.signoff",
        details={"role": "security"}, prev_hash=entries[1].hash,
    )  # fmt: skip
    moved_up = [replace(e, seq=e.seq + 1) for e in entries[2:]]
    assert _named([*entries[:2], forged, *moved_up]) == (Tamper.INSERTED, 3)
    swapped = [*entries[:2], replace(entries[3], seq=3), replace(entries[2], seq=4), *entries[4:]]
    assert _named(swapped) == (Tamper.REORDERED, 3)
    truncated = verify(entries[:4], head=entries[5].hash)
    assert truncated.problem is not None and truncated.problem.kind is Tamper.TRUNCATED


def _named(entries: list[Entry]) -> tuple[Tamper, int]:
    result = verify(entries)
    assert result.problem is not None, "tampering went unnoticed"
    assert f"#{result.problem.seq}" in result.problem.message
    return result.problem.kind, result.problem.seq


def test_the_hash_is_sha256_over_canonical_json() -> None:
    [first] = chain(1)
    body = json.dumps(
        {
            "seq": 1,
            "at": "2026-11-30T08:01:00.000000+00:00",
            "run": 1,
            "actor": "U1",
            "action": "gate.signoff",
            "details": {"role": "sre", "n": 1},
            "prev_hash": GENESIS,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    assert first.hash == hashlib.sha256(body.encode()).hexdigest()


# -- in the database -----------------------------------------------------------------------


def seeded(url: str) -> RunStore:
    """A database with a run's real events: started, two checks, finished, a re-run, a
    reminder (seven events, numbered 1 to 7)."""
    store = RunStore(url)

    async def work() -> None:
        run = Run(
            service="svc", version="1.0", environment="staging", plan="p",
            base_url="http://127.0.0.1:1", requester="U0RM", config_digest="ab" * 32,
        )  # fmt: skip
        stored = await store.create_run(run, [("a", "http", True), ("b", "tls", False)])
        assert stored.id == 1
        for check_id in ("a", "b"):
            result = CheckResult(status=Status.PASSED, summary="ok", check_id=check_id)
            await store.save_result(1, result)
        await store.finish_run(1, RunStatus.FINISHED)
        await store.new_attempts(1, ["a"], actor="U0RM")
        await store.save_result(1, CheckResult(status=Status.PASSED, summary="ok", check_id="a"))
        log = AuditLog(store)
        assert await log.reminder_sent(1, "U0SRE1", "nudge:1:sre:U0SRE1") is not None
        assert await log.reminder_sent(1, "U0SRE1", "nudge:1:sre:U0SRE1") is None  # once

    asyncio.run(work())
    return store


def audit_verify(url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["audit", "verify", "--database", url])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


TAMPERINGS: dict[str, tuple[list[str], str]] = {
    "edit": (
        ["UPDATE auditevent SET actor = 'U0MALLORY' WHERE seq = 5"],
        "BROKEN (changed): event #5 run.rerun on run 1 by U0MALLORY",
    ),
    "delete": (["DELETE FROM auditevent WHERE seq = 4"], "BROKEN (deleted): event #4 is missing"),
    "insert": (
        [
            # room at #3 (the unique prev_hash refuses a second event after #2, so the
            # forged one cannot even claim to follow it)
            "UPDATE auditevent SET seq = seq + 100 WHERE seq >= 3",
            "UPDATE auditevent SET seq = seq - 99 WHERE seq >= 100",
            "INSERT INTO auditevent (seq, at, run_id, actor, action, details, prev_hash, hash)"
            " SELECT 3, at, 1, 'U0MALLORY', 'gate.signoff', '{}', 'f', 'forged'"
            " FROM auditevent WHERE seq = 2",
        ],
        "BROKEN (inserted): event #3 gate.signoff on run 1 by U0MALLORY",
    ),
    "reorder": (
        [
            "UPDATE auditevent SET seq = 1000 WHERE seq = 5",
            "UPDATE auditevent SET seq = 5 WHERE seq = 6",
            "UPDATE auditevent SET seq = 6 WHERE seq = 1000",
        ],
        "BROKEN (reordered): event #5 check.finished",
    ),
}


@pytest.mark.parametrize("tampering", sorted(TAMPERINGS))
def test_verify_names_tampered_sqlite_rows(
    tampering: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _tamper_and_verify(f"sqlite:///{tmp_path}/audit.db", tampering, capsys)


@pytest.mark.parametrize("tampering", sorted(TAMPERINGS))
def test_verify_names_tampered_postgres_rows(
    tampering: str, postgres_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _tamper_and_verify(postgres_database, tampering, capsys)


def _tamper_and_verify(url: str, tampering: str, capsys: pytest.CaptureFixture[str]) -> None:
    seeded(url).engine.dispose()
    code, output = audit_verify(url, capsys)
    assert code == 0 and "audit trail intact: 7 events; head #7" in output
    statements, named = TAMPERINGS[tampering]
    with Database(url) as db:
        for statement in statements:
            db.query(statement)
    code, output = audit_verify(url, capsys)
    assert code == 1, output
    assert named in output, output


@pytest.mark.parametrize("tampering", sorted(TAMPERINGS))
def test_verify_names_the_event_across_page_boundaries(tampering: str, tmp_path: Path) -> None:
    """Two events a page: every tampering straddles a page edge, and is named the same."""
    url = f"sqlite:///{tmp_path}/paged.db"
    seeded(url).engine.dispose()
    statements, named = TAMPERINGS[tampering]
    with Database(url) as db:
        for statement in statements:
            db.query(statement)
    store = RunStore(url)
    log = AuditLog(store)
    whole = verify(asyncio.run(log.events()))  # every event in memory, as before
    assert whole.problem is not None and named.split(": ", 1)[1] in whole.problem.message
    for page in (1, 2, 3):
        assert asyncio.run(log.verify(page=page)) == whole, page
    store.engine.dispose()


LONG = 2500
"""Events in the long chain: two full pages of a thousand and a part."""


def long_chain(url: str) -> RunStore:
    """A chain of :data:`LONG` events, written in bulk."""
    store = RunStore(url)
    rows = [{**vars(entry), "details": dict(entry.details)} for entry in chain(LONG)]
    with store.engine.begin() as conn:
        conn.execute(insert(AuditEvent), rows)
    return store


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_verify_streams_a_chain_longer_than_a_page(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path}/long.db"
        if database == "sqlite"
        else request.getfixturevalue("postgres_database")
    )
    store = long_chain(url)
    reads: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *rest: object) -> None:
        if "FROM auditevent" in statement:
            reads.append(" ".join(statement.split()))

    event.listen(store.engine, "before_cursor_execute", seen)
    log = AuditLog(store)
    result = asyncio.run(log.verify())
    assert result.ok and result.count == LONG and result.head is not None
    assert result.head.seq == LONG
    assert len(reads) == 3  # three pages of at most a thousand, none of the whole table
    assert all("LIMIT" in statement for statement in reads), reads
    with Database(url) as db:
        db.query("UPDATE auditevent SET actor = 'U0MALLORY' WHERE seq = 1777")
    reads.clear()
    broken = asyncio.run(log.verify())
    assert broken.problem is not None and broken.problem.kind is Tamper.CHANGED
    assert "event #1777 gate.signoff on run 1 by U0MALLORY" in broken.problem.message
    assert broken.head is not None and broken.head.seq == 1776 and broken.count == LONG
    assert all("LIMIT" in statement for statement in reads), reads
    store.engine.dispose()


def test_export_streams_the_chain_in_pages(tmp_path: Path) -> None:
    """``audit export`` writes what ``trail_jsonl`` would of the whole trail (or of one
    run's events), reading a page at a time, never the whole table."""
    store = long_chain(f"sqlite:///{tmp_path}/long.db")
    log = AuditLog(store)
    reads: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *rest: object) -> None:
        if "FROM auditevent" in statement:
            reads.append(" ".join(statement.split()))

    event.listen(store.engine, "before_cursor_execute", seen)
    written: list[str] = []
    count = asyncio.run(log.export(lambda entry: written.append(trail_line(entry))))
    assert count == LONG and len(reads) == 3
    assert all("LIMIT" in statement for statement in reads), reads
    everything = asyncio.run(log.events())
    assert "".join(written) == trail_jsonl(everything)
    one_run: list[str] = []
    asyncio.run(log.export(lambda entry: one_run.append(trail_line(entry)), run_id=1, page=7))
    assert "".join(one_run) == trail_jsonl([e for e in everything if e.run_id == 1])
    assert one_run, "the long chain has events of run 1"
    store.engine.dispose()


def test_appends_from_many_connections_keep_one_chain(
    tmp_path: Path, postgres_database: str
) -> None:
    for url in (f"sqlite:///{tmp_path}/race.db", postgres_database):
        _race(url)


def _race(url: str) -> None:
    """Four writers with their own engines (as separate processes would have) append at
    once, through runs stored with their event and standalone events."""
    RunStore(url).engine.dispose()
    errors: list[BaseException] = []

    stores = [RunStore(url) for _ in range(4)]  # one engine each; Alembic wants one thread

    def writer(n: int) -> None:
        store = stores[n]
        try:
            for i in range(10):
                note = Note(Action.REMINDER_SENT, f"w{n}", None, {"i": i})
                asyncio.run(AuditLog(store).record(note))
                run = Run(service="s", version=str(i), environment="e", plan="p", base_url="u")
                asyncio.run(store.create_run(run, []))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            store.engine.dispose()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store = RunStore(url)
    asyncio.run(AuditLog(store).chain_queued())  # a run's event waits for the next append
    result = asyncio.run(AuditLog(store).verify())
    store.engine.dispose()
    assert result.ok and result.count == 80, result.problem


def test_cli_verify_and_export_in_a_subprocess(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    seeded(url).engine.dispose()
    run: Callable[..., subprocess.CompletedProcess[str]] = lambda *args: subprocess.run(  # noqa: E731
        preprod_command(*args), cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    exported = run("audit", "export", "--run", "1", "--database", url)
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, 8))
    assert lines[0]["action"] == "run.started"
    assert lines[0]["details"]["config_sha256"] == "ab" * 32
    assert lines[1]["prev_hash"] == lines[0]["hash"]
    with Database(url) as db:
        db.query("UPDATE auditevent SET details = '{\"i\": 1}' WHERE seq = 7")
    broken = run("audit", "verify", "--database", url)
    assert broken.returncode == 1
    assert "event #7 reminder.sent on run 1 by preprod" in broken.stderr
    assert lines[-1]["details"] == {"to": "U0SRE1", "key": "nudge:1:sre:U0SRE1"}
