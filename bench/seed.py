"""A year of runs written straight into a database for the benches (bench/pages.py):
runs, three checks each (some failing), a decision for most, sign-offs, waivers,
production outcomes, and the audit trail the product appends for each of them.

The trail is hash-chained with the product's own pure function (``bot.audit.chain.digest``,
what ``preprod audit verify`` recomputes), so it verifies: events of one run follow each
other (started, its checks, finished, sign-offs, waiver, decision, outcome), runs in id
order. The details are the product's (bot/store/runs.py, bot/gate/recording.py); they are
JSON already and within :func:`bot.audit.chain.bounded`, so sealing them is the digest.

Rows go in big batches (``executemany`` in one transaction per batch; on SQLite with
``PRAGMA synchronous=OFF`` for the seed only, restored after). The insight rollups are then
counted by ``bot.store.facts.rebuild`` (as migration 0010 does), which moves the mark to
the newest event."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from bot.audit.chain import GENESIS, Action, Entry, digest
from bot.store.models import (
    AuditEvent,
    CheckRecord,
    DecisionRecord,
    ProductionOutcome,
    Run,
    RunStatus,
    SignOff,
    Waiver,
    utcnow,
)
from bot.store.runs import RunStore

SERVICES = [f"service-{n:02d}" for n in range(20)]
ENVIRONMENTS = ["staging", "qa", "perf"]
CHECKS = ["smoke", "tls", "load"]
BATCH = 5000
"""Runs written per transaction."""
STILL_RUNNING = 20
"""The newest runs are still executing (no end, checks pending)."""


@dataclass
class Chain:
    """The trail's head while seeding: the next number and the hash it follows."""

    seq: int = 1
    prev: str = GENESIS
    events: list[dict[str, Any]] = field(default_factory=list)

    def add(self, at: datetime, run_id: int, actor: str, action: str, details: Any) -> None:
        entry = Entry(self.seq, at, run_id, actor, action, details, self.prev, "")
        hashed = digest(entry)
        self.events.append(
            {"seq": self.seq, "at": at, "run_id": run_id, "actor": actor, "action": action,
             "details": details, "prev_hash": self.prev, "hash": hashed}
        )  # fmt: skip
        self.seq, self.prev = self.seq + 1, hashed


@dataclass
class Batch:
    runs: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    signoffs: list[dict[str, Any]] = field(default_factory=list)
    waivers: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)


def _at(value: datetime) -> datetime:
    """Whole microseconds in UTC, as the database gives them back (the hash covers them)."""
    return value.astimezone(UTC)


def one_run(n: int, count: int, created: datetime, rng: random.Random, chain: Chain,
            out: Batch) -> None:  # fmt: skip
    """Run ``n`` with its rows and events."""
    running = n > count - STILL_RUNNING
    service, environment = rng.choice(SERVICES), rng.choice(ENVIRONMENTS)
    finished = None if running else created + timedelta(minutes=rng.randint(2, 30))
    status = RunStatus.RUNNING if running else RunStatus.FINISHED
    out.runs.append(
        {"id": n, "service": service, "version": f"1.{n}", "environment": environment,
         "plan": "standard", "base_url": "http://127.0.0.1:9", "requester": "U0RM",
         "source": "slack", "status": status, "config_path": "", "config_digest": "",
         "generation": 1, "created_at": created, "finished_at": finished}
    )  # fmt: skip
    chain.add(created, n, "U0RM", Action.RUN_STARTED,
              {"service": service, "version": f"1.{n}", "environment": environment,
               "plan": "standard", "base_url": "http://127.0.0.1:9", "source": "slack",
               "config_path": "", "config_sha256": "", "checks": CHECKS})  # fmt: skip
    for position, check in enumerate(CHECKS):
        failed = rng.random() < (0.15 if check == "load" else 0.03)
        state = "pending" if running else "failed" if failed else "passed"
        blocking = failed and check != "load"
        out.checks.append(
            {"run_id": n, "check_id": check, "check_type": "http", "position": position,
             "attempt": 1, "critical": check != "load", "status": state, "summary": "",
             "metrics": {}, "evidence": "", "blocking": blocking, "started_at": created,
             "finished_at": finished}
        )  # fmt: skip
        if finished is not None:
            chain.add(finished, n, "preprod", Action.CHECK_FINISHED,
                      {"check": check, "type": "http", "attempt": 1, "status": state,
                       "critical": check != "load", "blocking": blocking,
                       "summary": ""})  # fmt: skip
    if finished is None:
        return
    chain.add(finished, n, "preprod", Action.RUN_FINISHED, {"status": "finished", "generation": 1})
    if rng.random() < 0.08:
        return  # still waiting for people
    decided = finished + timedelta(minutes=rng.randint(5, 600))
    outcome = rng.choices(["go", "no-go", "expired"], [80, 15, 5])[0]
    for role, user in (("sre", "U0SRE1"), ("security", "U0SEC1")):
        vote = "reject" if outcome == "no-go" and role == "security" else "approve"
        out.signoffs.append({"run_id": n, "generation": 1, "role": role, "user": user,
                             "vote": vote, "reason": "", "at": decided})  # fmt: skip
        action = Action.REJECT if vote == "reject" else Action.SIGNOFF
        chain.add(decided, n, user, action,
                  {"role": role, "vote": vote, "reason": "", "generation": 1})  # fmt: skip
    if rng.random() < 0.1:
        out.waivers.append({"run_id": n, "check_id": "load", "attempt": 1, "user": "U0SRE1",
                            "justification": "known slow path", "at": decided})  # fmt: skip
        chain.add(decided, n, "U0SRE1", Action.WAIVER,
                  {"check": "load", "attempt": 1, "justification": "known slow path"})  # fmt: skip
    out.decisions.append({"run_id": n, "outcome": outcome, "reasons": [], "at": decided})
    chain.add(decided, n, "preprod", Action.DECISION, {"outcome": outcome, "reasons": []})
    if outcome == "go" and rng.random() < 0.7:
        result = "rolled-back" if rng.random() < 0.05 else "success"
        out.outcomes.append({"run_id": n, "result": result, "user": "U0RM", "at": decided})
        chain.add(decided, n, "U0RM", Action.OUTCOME, {"result": result})


def seed(store: RunStore, count: int, rng: random.Random) -> int:
    """Write ``count`` runs and their trail; how many audit events."""
    raw = store.engine.raw_connection()
    sqlite = store.url.startswith("sqlite")
    write = _sqlite_rows if sqlite else _copy_rows
    try:
        if sqlite:
            raw.execute("PRAGMA synchronous=OFF")
        start = utcnow() - timedelta(days=365)
        step = timedelta(days=365) / count
        chain = Chain()
        events = 0
        for first in range(1, count + 1, BATCH):
            out = Batch()
            for n in range(first, min(first + BATCH, count + 1)):
                one_run(n, count, start + step * n, rng, chain, out)
            cursor = raw.cursor()
            for model, rows in (
                (Run, out.runs),
                (CheckRecord, out.checks),
                (DecisionRecord, out.decisions),
                (SignOff, out.signoffs),
                (Waiver, out.waivers),
                (ProductionOutcome, out.outcomes),
                (AuditEvent, chain.events),
            ):
                if rows:
                    write(cursor, str(model.__tablename__), rows)
            raw.commit()
            events += len(chain.events)
            chain.events = []
        return events
    finally:
        if sqlite:
            raw.execute("PRAGMA synchronous=NORMAL")
        raw.close()


TIMES = {"created_at", "finished_at", "started_at", "at"}
DOCUMENTS = {"metrics", "reasons", "details"}


def _converters(columns: list[str], sqlite: bool) -> list[Any]:
    """Per column, how a Python value becomes what the column stores (what SQLAlchemy's
    types would bind): times in UTC (SQLite: its text form), JSON as text, the run status
    as its member name (a SQL enum of the names)."""

    def when(value: datetime | None) -> Any:
        if value is None:
            return None
        naive = value.astimezone(UTC).replace(tzinfo=None)
        return f"{naive:%Y-%m-%d %H:%M:%S.%f}" if sqlite else naive

    def status(value: Any) -> Any:
        return value.name if isinstance(value, RunStatus) else value  # a check's is text

    def same(value: Any) -> Any:
        return value

    return [
        when if c in TIMES else json.dumps if c in DOCUMENTS else status if c == "status" else same
        for c in columns
    ]


def _tuples(rows: list[dict[str, Any]], sqlite: bool) -> tuple[list[str], list[tuple[Any, ...]]]:
    columns = list(rows[0])
    convert = _converters(columns, sqlite)
    pairs = list(zip(columns, convert, strict=True))
    return columns, [tuple(f(row[c]) for c, f in pairs) for row in rows]


def _sqlite_rows(cursor: Any, table: str, rows: list[dict[str, Any]]) -> None:
    columns, values = _tuples(rows, True)
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", values)


def _copy_rows(cursor: Any, table: str, rows: list[dict[str, Any]]) -> None:
    columns, values = _tuples(rows, False)
    names = ", ".join(f'"{c}"' for c in columns)
    with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in values:
            copy.write_row(row)


def analyze(store: RunStore) -> None:
    """Fresh planner statistics after a bulk load (PostgreSQL's ANALYZE, SQLite's), and
    PostgreSQL's identity sequences moved past the seeded ids."""
    with store.engine.connect() as conn:
        if store.url.startswith("postgresql"):
            for table in ("run", "checkrecord", "signoff", "waiver"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT coalesce(max(id), 1) FROM {table}))"
                    )
                )
        conn.execute(text("ANALYZE"))
        conn.commit()
