"""How fast the pages, the slash commands, the CLI and the audit trail answer with a year
of runs in the database (issue 26, point 3: ``--runs 1000000``).

Seeds ``--runs`` runs (default 100,000) over the last year with ``bench/seed.py``: three
checks each (some failing), a decision for most, sign-offs, waivers, production outcomes
and the hash-chained audit trail of all of it, in SQLite and in a throw-away PostgreSQL
(initdb/pg_ctl, as tests/support/postgres.py; skipped with a note where it is not
installed). The insight rollups are counted by ``bot.store.facts.rebuild`` (as migration
0010 does). Prints the seed and rollup times, the database size and bytes per run. Then
serves the real app on 127.0.0.1, signs in through the Slack stand-in, and times
``--requests`` sequential requests of each after a warm-up:

- ``/runs`` (the first page), ``/runs?before=N`` (a late page, near the oldest runs),
  ``/runs?service=...&decision=go`` (a filtered page);
- ``/runs/{id}`` (a run's page with its sign-off panel) and ``/runs/{id}/report``;
- ``/insights`` (the default 30 days) and ``/insights.json``, and ``/insights?days=N``
  with another period each time (25 to 84 days): nothing is cached, every request
  computes its figures afresh from the database;
- ``/metrics`` (bearer token);
- ``/preprod list`` and ``/preprod status N`` (signed slash commands posted to
  ``/slack/events`` by the stand-in: the time to the ack, its text included);
- ``preprod runs`` (the CLI's ``main()`` in this process against the database);
- ``/insights?days=366`` (a whole year) against its own budget of 500 ms.

Last, ``preprod audit verify`` over the whole trail in a subprocess (the chain, then the
tables against it): its wall time, events per second and peak RSS by GNU ``time`` (the
trail is read in keyset pages, so the RSS stays flat as the trail grows).

Prints p50 / p95 / max per figure and database, and exits 1 when a p95 is over its
budget (100 ms; the year 500 ms).

A million runs take ~15 minutes to seed per database: ``--keep DIR`` seeds into DIR
(``DIR/sqlite/pages.db`` and a PostgreSQL data directory ``DIR/postgres``) and leaves
them there; ``--reuse DIR`` measures them again without seeding (the schema is upgraded
and the rollups recounted by the code of the checkout, so they are those of the code
measured). ``--seed-only`` stops after seeding; ``--no-verify`` skips the audit verify.

    .venv/bin/python bench/pages.py [--runs 100000] [--requests 60] [--sqlite-only]
        [--keep DIR | --reuse DIR] [--seed-only] [--recount] [--no-verify]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pages_report import report  # noqa: E402
from bench.seed import SERVICES, analyze, seed  # noqa: E402
from bot.cli.main import main as preprod_main  # noqa: E402
from bot.config.loader import load_config  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store.facts import pending, rebuild  # noqa: E402
from bot.store.migrate import current, head  # noqa: E402
from bot.store.runs import RunStore, make_engine  # noqa: E402
from bot.web.app import create_app  # noqa: E402
from bot.web.bot import build_bot  # noqa: E402
from bot.web.server import settle_heap  # noqa: E402
from slack_standin import SlackStandIn  # noqa: E402
from slack_standin.serving import StandInServer  # noqa: E402
from tests.support.postgres import PostgresUnavailable, postgres_in, running_postgres  # noqa: E402
from tests.support.processes import Database, free_port  # noqa: E402
from tests.support.signin import signed_in  # noqa: E402

MAX_DAYS = 366
METRICS_TOKEN = "bench-metrics"
CONFIG = """\
channel: C0RELEASES
roles:
  sre: {label: SRE, members: [U0SRE1, U0SRE2]}
  security: {label: Security, members: [U0SEC1]}
policy: {required_signoffs: [sre, security], waivers_by: [sre]}
environments:
  staging: {base_url: "http://127.0.0.1:9", plan: standard}
plans:
  standard:
    checks:
      - {id: smoke, type: http, requests: [{path: /healthz}]}
      - {id: tls, type: http, requests: [{path: /}]}
      - {id: load, type: http, critical: false, requests: [{path: /}]}
    attestations:
      - {id: oncall, text: On-call staffed, role: sre}
"""


def count_rollups(store: RunStore) -> None:
    """The insight rollups of the bulk-inserted runs, as migration 0010 counts them."""
    with store.engine.begin() as conn:
        rebuild(conn)
    analyze(store)


def database_bytes(store: RunStore) -> int:
    """The database's size on disk: the SQLite file (and its WAL), pg_database_size."""
    if store.url.startswith("sqlite"):
        path = Path(store.url.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    with store.engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


async def timed(
    call: Callable[[int], Awaitable[None]], requests: int, warm: int = 5
) -> list[float]:
    """``requests`` sequential calls after ``warm`` unmeasured ones, in ms; ``call(n)``
    gets the request's number."""
    for n in range(warm):
        await call(MAX_DAYS - n)
    times = []
    for n in range(requests):
        t0 = time.perf_counter()
        await call(n)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def cli_runs(url: str, config: Path) -> None:
    """``preprod runs`` in this process (its output discarded)."""
    with contextlib.redirect_stdout(io.StringIO()):
        code = preprod_main(["runs", "--database", url, "--config", str(config)])
    assert code == 0, code


def seeded(url: str, count: int, rng: random.Random, kept: Path | None) -> dict[str, Any]:
    """Seed ``count`` runs, or, when ``kept`` holds a record of an earlier seeding (a
    ``--keep`` run), reuse it; with ``kept``, the record is written for a later reuse."""
    record = kept / "seeded.json" if kept else None
    if record is not None and record.exists():
        figures: dict[str, Any] = json.loads(record.read_text())
        print(f"  reusing {figures['runs']:,} runs, {figures['events']:,} events seeded in "
              f"{figures['seeded_s']:.1f} s ({kept})", flush=True)  # fmt: skip
        return figures
    began = time.monotonic()
    store = RunStore(url)
    events = seed(store, count, rng)
    analyze(store)
    store.engine.dispose()
    figures = {"runs": count, "events": events, "seeded_s": time.monotonic() - began}
    print(f"  seeded {count:,} runs, {events:,} events in {figures['seeded_s']:.1f} s",
          flush=True)  # fmt: skip
    if record is not None:
        record.write_text(json.dumps(figures))
    return figures


def opened(url: str, recount: bool) -> tuple[RunStore, dict[str, Any]]:
    """The store, its schema upgraded to this code's (a kept database may be older: a
    migration that changes the insight tables recounts them), its insight rows counted
    when they do not follow the whole trail yet (a fresh seed) or ``recount``."""
    engine = make_engine(url)
    was = current(engine)
    engine.dispose()
    began = time.monotonic()
    store = RunStore(url)
    figures: dict[str, Any] = {"migrated": f"{was} -> {head()}" if was != head() else ""}
    figures["migrated_s"] = time.monotonic() - began
    began = time.monotonic()
    with store.engine.connect() as connection:
        behind = pending(connection)
    if recount or behind:
        count_rollups(store)
    elif figures["migrated"]:
        analyze(store)  # the planner's statistics for what the migration added
    figures["counted_s"] = time.monotonic() - began if recount or behind else 0.0
    return store, figures


async def measure(
    url: str, seeding: dict[str, Any], requests: int, recount: bool = False
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="preprod-pages-"))
    config = tmp / "preprod.yml"
    config.write_text(CONFIG)
    figures: dict[str, Any] = {"url": url, **seeding}
    count = int(seeding["runs"])
    store, opening = opened(url, recount)
    figures.update(opening)
    figures["bytes"] = database_bytes(store)
    store.engine.dispose()
    standin = await SlackStandIn(users={"U0RM": "rita", "U0SRE1": "sam"}).start()
    port = free_port()
    settings = Settings(
        bot_token=standin.token,
        signing_secret=standin.signing_secret,
        api_url=standin.api_url,
        config_path=str(config),
        database_url=url,
        public_url=f"http://127.0.0.1:{port}",
        oidc_issuer=standin.url,
        client_id=standin.oidc.client_id,
        client_secret=standin.oidc.client_secret,
        team_id=standin.workspace.team_id,
        session_secret="bench",
        metrics_token=METRICS_TOKEN,
    )
    bot = build_bot(settings, load_config(config))
    server = StandInServer(create_app(bot))
    settle_heap()  # as `preprod serve` does once its app is built
    await server.start(port)
    standin.bot_url = f"{server_url(port)}/slack/events"
    pages = {
        "/runs": "/runs",
        "/runs (late page)": "/runs?before=500",
        "/runs (filtered)": f"/runs?service={SERVICES[3]}&decision=go",
        "/runs/{id}": f"/runs/{count // 2}",
        "/runs/{id}/report": f"/runs/{count // 2}/report",
        "/insights": "/insights",
        "/insights.json": "/insights.json",
        "/insights?days=N": "/insights?days={n}",
    }
    timings: dict[str, list[float]] = {}
    try:
        async with await signed_in(server_url(port), standin, "U0RM") as http:
            for name, path in [*pages.items(), ("/insights?days=366", "/insights?days=366")]:

                async def page(n: int, path: str = path) -> None:
                    # "{n}": another period each time (25 to 84 days)
                    answer = await http.get(path.format(n=25 + n % 60))
                    assert answer.status_code == 200, (path, answer.status_code)

                timings[name] = await timed(page, requests)
                if name == "/insights?days=N":
                    timings["/metrics"] = await timed(metrics(http), requests)
                    for command in ("list", f"status {count // 2}"):
                        name = f"/preprod {command.split()[0]}"
                        timings[name] = await timed(slash(standin, command), requests)
                    timings["preprod runs (in-process)"] = await timed(
                        lambda _n: asyncio.to_thread(cli_runs, url, config), requests
                    )
    finally:
        await bot.aclose()
        await server.stop()
        await standin.stop()
    figures["timings"] = timings
    return figures


def metrics(http: Any) -> Callable[[int], Awaitable[None]]:
    async def scrape(_n: int) -> None:
        headers = {"authorization": f"Bearer {METRICS_TOKEN}"}
        answer = await http.get("/metrics", headers=headers)
        assert answer.status_code == 200 and "preprod_" in answer.text, answer.status_code

    return scrape


def slash(standin: SlackStandIn, command: str) -> Callable[[int], Awaitable[None]]:
    async def send(_n: int) -> None:
        answer = await standin.send_command(command, user_id="U0RM")
        assert answer.status_code == 200 and answer.text, (command, answer.status_code)

    return send


def server_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


@contextmanager
def postgres_database(stack: ExitStack, kept: Path | None) -> Iterator[str | None]:
    """A throw-away server with an empty database, or the server kept in ``kept``
    (created there on the first use)."""
    try:
        server = stack.enter_context(postgres_in(kept, timeout=600) if kept else running_postgres())
    except PostgresUnavailable as exc:
        print(f"PostgreSQL skipped: {exc}")
        yield None
        return
    pages = server.rsplit("/", 1)[0] + "/pages"
    with Database(server, autocommit=True) as admin:
        if not admin.query("SELECT 1 FROM pg_database WHERE datname = 'pages'"):
            admin.query('CREATE DATABASE "pages"')
    yield pages


def load() -> str:
    """The machine is shared: the figures mean little without it."""
    return " ".join(f"{n:.1f}" for n in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--postgres-only", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    kept = parser.add_mutually_exclusive_group()
    kept.add_argument("--keep", type=Path, metavar="DIR", help="seed into DIR and leave it")
    kept.add_argument("--reuse", type=Path, metavar="DIR", help="measure DIR without seeding")
    parser.add_argument("--seed-only", action="store_true")
    parser.add_argument("--recount", action="store_true", help="count the rollups again")
    parser.add_argument("--no-verify", action="store_true")
    args = parser.parse_args()
    where: Path | None = args.keep or args.reuse
    if (
        args.reuse
        and not (args.reuse / "seeded.json").exists()
        and not any((args.reuse / name / "seeded.json").exists() for name in ("sqlite", "postgres"))
    ):
        parser.error(f"--reuse {args.reuse}: nothing seeded there (seed it with --keep)")
    ok = True
    print(f"load average (1, 5, 15 min) at start: {load()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="preprod-pages-db-") as tmp, ExitStack() as stack:
        if not args.postgres_only:
            home = where / "sqlite" if where else Path(tmp)
            home.mkdir(parents=True, exist_ok=True)
            sqlite = f"sqlite:///{home}/pages.db"
            seeding = seeded(sqlite, args.runs, random.Random(args.seed), where and home)
            if not args.seed_only:
                result = asyncio.run(measure(sqlite, seeding, args.requests, args.recount))
                ok &= report("SQLite", result, not args.no_verify)
        if not args.sqlite_only:
            kept_pg = where / "postgres" if where else None
            with postgres_database(stack, kept_pg) as pg:
                if pg is not None:
                    seeding = seeded(pg, args.runs, random.Random(args.seed), kept_pg)
                    if not args.seed_only:
                        result = asyncio.run(measure(pg, seeding, args.requests, args.recount))
                        ok &= report("PostgreSQL", result, not args.no_verify)
    print(f"load average (1, 5, 15 min) at end: {load()}")
    if args.seed_only:
        print("\nseeded only: nothing measured (measure with --reuse)")
        return 0
    print(f"\n{'every figure within' if ok else 'NOT every figure within'} its budget at p95")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
