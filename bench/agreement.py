"""How long comparing the gate's tables with the audit trail takes, and in how much memory.

Seeds ``--runs`` runs (default 20,000) with the benches' shared seeding (bench/seed.py:
runs over a year, three checks each, sign-offs, waivers, decisions and production
outcomes for most, the newest still running, sealed into one hash chain with the rows
they imply), in SQLite and in a throw-away PostgreSQL (skipped with a note where it is
not installed). Then edits one run's SRE vote and times:

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
from pathlib import Path

from sqlalchemy import text
from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.seed import analyze, seed  # noqa: E402
from bot.store.agreement import differences, run_differences  # noqa: E402
from bot.store.runs import RunStore  # noqa: E402
from tests.support.postgres import PostgresUnavailable, running_postgres  # noqa: E402


def measure(name: str, url: str, runs: int, samples: int) -> None:
    store = RunStore(url)
    started = time.perf_counter()
    events = seed(store, runs, random.Random(7))
    analyze(store)
    print(
        f"{name}: seeded {runs:,} runs, {events:,} events in {time.perf_counter() - started:.1f} s"
    )
    with store.engine.begin() as conn:
        edited = conn.execute(text("SELECT min(run_id) FROM signoff WHERE role = 'sre'")).scalar()
        conn.execute(
            text("UPDATE signoff SET vote = 'reject' WHERE run_id = :run AND role = 'sre'"),
            {"run": edited},
        )
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
        assert [d.run_id for d in found] == [edited], found
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
