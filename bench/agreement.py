"""How long comparing the gate's tables with the audit trail takes, and in how much memory.

Seeds ``--runs`` runs (default 20,000), each with the events a real history leaves (run
started, three checks finished, two sign-offs, a waiver, a tick, a decision, a
production outcome; every tenth run re-run, with a sign-off on the old evidence) sealed
into one hash chain, and the rows they imply, in SQLite and in a throw-away PostgreSQL
(skipped with a note where it is not installed). Then edits one run's vote and times:

- the whole comparison (``bot.store.agreement.differences``, what ``preprod audit verify``
  runs), with the peak of Python's allocations (tracemalloc) for two page sizes: the
  peak follows the page, not the trail;
- one run's comparison (``run_differences``, what ``preprod show``, the run page and an
  evidence pack run), p50 / p95 over ``--samples`` runs.

    .venv/bin/python bench/agreement.py [--runs 20000] [--samples 200] [--sqlite-only]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.audit.chain import GENESIS, Action, Entry, seal  # noqa: E402
from bot.store.agreement import differences, run_differences  # noqa: E402
from bot.store.models import (  # noqa: E402
    AttestationTick,
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
from bot.store.runs import RunStore  # noqa: E402
from tests.support.postgres import PostgresUnavailable, running_postgres  # noqa: E402

BATCH = 2000


def seed(store: RunStore, count: int) -> int:
    """``count`` runs with their events and rows; how many events."""
    at = utcnow() - timedelta(days=30)
    last: Entry | None = None
    events = 0
    with store.engine.begin() as conn:
        for first in range(1, count + 1, BATCH):
            rows: dict[Any, list[dict[str, Any]]] = {
                t: [] for t in (Run, CheckRecord, AuditEvent, SignOff, Waiver, AttestationTick)
            }
            rows[DecisionRecord], rows[ProductionOutcome] = [], []
            for n in range(first, min(first + BATCH, count + 1)):
                rerun = n % 10 == 0
                generation = 2 if rerun else 1
                rows[Run].append(
                    dict(id=n, service="svc", version=f"1.{n}", environment="staging",
                         plan="standard", base_url="http://127.0.0.1:9", requester="U0RM",
                         source="slack", status=RunStatus.FINISHED, config_path="",
                         config_digest="", generation=generation, created_at=at)
                )  # fmt: skip
                notes: list[tuple[str, str, dict[str, Any]]] = [(Action.RUN_STARTED, "U0RM", {})]
                for attempt in range(1, generation + 1):
                    for position, check in enumerate(("smoke", "tls", "load")):
                        status = "failed" if check == "load" else "passed"
                        result = dict(status=status, critical=check != "load", blocking=False,
                                      summary=f"{check} {status}")  # fmt: skip
                        rows[CheckRecord].append(
                            dict(run_id=n, check_id=check, check_type="http", position=position,
                                 attempt=attempt, metrics={}, evidence="", **result)
                        )  # fmt: skip
                        details = {"check": check, "type": "http", "attempt": attempt, **result}
                        notes.append((Action.CHECK_FINISHED, "preprod", details))
                signed = [("sre", "U0SRE1"), ("security", "U0SEC1")]
                if rerun:
                    notes.append((Action.SIGNOFF, "U0SRE1", _vote("sre", 1)))
                    rows[SignOff].append(_signoff(n, 1, "sre", "U0SRE1"))
                    notes.append((Action.RUN_RERUN, "U0RM", {"checks": ["a"], "generation": 2}))
                just = f"accepted for run {n}"
                notes.append((Action.WAIVER, "U0SRE1", {"check": "load", "attempt": generation,
                                                       "justification": just}))  # fmt: skip
                rows[Waiver].append(dict(run_id=n, check_id="load", attempt=generation,
                                         user="U0SRE1", justification=just, at=at))  # fmt: skip
                notes.append((Action.ATTESTATION, "U0SRE1", {"item": "oncall", "note": ""}))
                rows[AttestationTick].append(
                    dict(run_id=n, item_id="oncall", user="U0SRE1", note="", at=at)
                )
                for role, user in signed:
                    notes.append((Action.SIGNOFF, user, _vote(role, generation)))
                    rows[SignOff].append(_signoff(n, generation, role, user))
                reasons = ["All sign-offs given"]
                notes.append((Action.DECISION, "preprod", {"outcome": "go", "reasons": reasons}))
                rows[DecisionRecord].append(dict(run_id=n, outcome="go", reasons=reasons, at=at))
                notes.append((Action.OUTCOME, "U0RM", {"result": "success"}))
                rows[ProductionOutcome].append(dict(run_id=n, result="success", user="U0RM", at=at))
                for action, actor, details in notes:
                    last = seal(
                        seq=last.seq + 1 if last else 1, at=at, run_id=n, actor=actor,
                        action=action, details=details,
                        prev_hash=last.hash if last else GENESIS,
                    )  # fmt: skip
                    rows[AuditEvent].append({**vars(last), "details": dict(last.details)})
                    events += 1
            for table, values in rows.items():
                if values:
                    conn.execute(insert(table), values)
    return events


def _vote(role: str, generation: int) -> dict[str, Any]:
    return {"role": role, "vote": "approve", "reason": "", "generation": generation}


def _signoff(run: int, generation: int, role: str, user: str) -> dict[str, Any]:
    return dict(run_id=run, generation=generation, role=role, user=user, vote="approve",
                reason="", at=utcnow())  # fmt: skip


def measure(name: str, url: str, runs: int, samples: int) -> None:
    store = RunStore(url)
    started = time.perf_counter()
    events = seed(store, runs)
    print(
        f"{name}: seeded {runs:,} runs, {events:,} events in {time.perf_counter() - started:.1f} s"
    )
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE signoff SET vote = 'reject' WHERE run_id = 7 AND role = 'sre'"))
    for page in (100, 500):
        with Session(store.engine) as session:
            started = time.perf_counter()
            found = list(differences(session, page=page))
            took = time.perf_counter() - started
        with Session(store.engine) as session:
            tracemalloc.start()  # a second pass: tracing slows Python severalfold
            assert len(list(differences(session, page=page))) == 1
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        assert [d.run_id for d in found] == [7], found
        print(
            f"{name}: all runs, pages of {page}: {took:.2f} s "
            f"({runs / took:,.0f} runs/s), peak Python memory {peak / 2**20:.1f} MiB, "
            f"found: {found[0].line()}"
        )
    rng = random.Random(7)
    times = []
    with Session(store.engine) as session:
        for run in rng.sample(range(1, runs + 1), min(samples, runs)):
            started = time.perf_counter()
            run_differences(session, run)
            times.append((time.perf_counter() - started) * 1000)
            session.expunge_all()
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    print(f"{name}: one run: p50 {statistics.median(times):.2f} ms, p95 {p95:.2f} ms")
    store.engine.dispose()


@contextmanager
def databases(sqlite_only: bool) -> Iterator[list[tuple[str, str]]]:
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        found = [("sqlite", f"sqlite:///{folder}/agreement.db")]
        if not sqlite_only:
            try:
                found.append(("postgresql", stack.enter_context(running_postgres())))
            except PostgresUnavailable as exc:
                print(f"postgresql: skipped ({exc})")
        yield found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    with databases(args.sqlite_only) as found:
        for name, url in found:
            measure(name, url, args.runs, args.samples)


if __name__ == "__main__":
    main()
