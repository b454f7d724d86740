"""Releases through the Slack stand-in while replicas of ``preprod serve`` are SIGKILLed.

Starts a throw-away PostgreSQL (initdb/pg_ctl, as tests/support/postgres.py), the example
target (``slow`` defect: each /api/items* request takes about 1.2 s), the Slack stand-in
(in this process) and ``--replicas`` ``preprod serve`` processes on that database with a
short lease (``--lease-ttl``). Releases run through the stand-in (``--parallel`` at a
time): a signed ``/preprod start`` to a live replica, then, once the sign-off panel shows
its buttons, an Approve click by the member of each required role, sent to a live
replica, then the wait for the announcement. Meanwhile a random replica is SIGKILLed
``--kills`` times at random moments (a random moment, 0-50 ms after a click it is
handling, in the middle of a load test it runs, or in the middle of a check it runs) and
started again at once. Then the releases in flight are waited for, and the figures are
printed in one block:

- runs started (acked starts, runs stored), finished (all checks final), decided and
  announced;
- results lost: a check whose final result later changed or vanished, a check stored
  with more than one attempt, or a target path served more often than the plan allows
  (the target's own /metrics; a check interrupted by a kill may run again, and only
  those are allowed to);
- leases lost by a live replica: a process that stalled past its lease while another
  resumed its run (the serve logs' "lost ... lease" lines; a check then may run twice);
- sign-offs lost: an acknowledged Approve click (HTTP 200) whose signature is not in the
  database and whose clicker was not told privately that it did not count;
- duplicate messages: the stand-in's messages sharing an outbox key (every bot message
  carries ``{"event_type": "preprod_message", "event_payload": {"key": ...}}``), parents
  per run and announcements per run;
- orphan Locust processes: Locust processes (command line containing this bench's temp
  dir) whose owner is gone for more than 3 s, and any left at the end.

Every wait is bounded; everything started is stopped (by pid) and the temp dir removed,
also on Ctrl-C, unless ``--keep``.

    .venv/bin/python bench/chaos.py --kills 50 [--replicas 2] [--seed 1] [--parallel 3]

``--faults db-restart,db-hang,slack-outage,disk-full,clock-skew`` runs those faults instead,
one at a time on fresh processes (bench/faults.py; ``--quick``: short ones), and prints one
table (bench/fault_tally.py); with ``--kills N`` as well, the kills follow.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.chaos_kills import Killing, locust_parents  # noqa: E402
from bench.chaos_replicas import Replica, Replicas  # noqa: E402
from bench.chaos_tally import (  # noqa: E402
    CHANNEL,
    ORPHAN_GRACE,
    Click,
    Figures,
    Observed,
    Tally,
    keyed,
)
from bench.faults import fault_report  # noqa: E402
from bench.faults_plan import Options as FaultOptions  # noqa: E402
from bench.faults_plan import parse_faults  # noqa: E402
from examples.target.launch import RunningTarget, start_target  # noqa: E402
from slack_standin import Message, SlackStandIn  # noqa: E402
from tests.support.postgres import PostgresUnavailable, running_postgres  # noqa: E402
from tests.support.processes import locust_pids  # noqa: E402

REQUESTER = "U0RM"
SIGNERS = {"sre": "U0SRE1", "security": "U0SEC1"}
USERS = {REQUESTER: "rita", "U0SRE1": "sam", "U0SEC1": "sid"}
PLAN = """\
channel: C0RELEASES
roles:
  sre: {{members: [U0SRE1]}}
  security: {{members: [U0SEC1]}}
policy: {{required_signoffs: [sre, security]}}
environments:
  staging: {{base_url: {url}, plan: release}}
plans:
  release:
    checks:
      - {{id: version, type: http, requests: [{{path: /version}}]}}
      - id: items
        type: http
        timeout: 30s
        requests: [{{path: /api/items}}, {{path: /api/items}}]
      - id: load
        type: load
        users: 2
        spawn_rate: 2
        duration: 2s
        tasks: [{{path: /}}]
      - {{id: item, type: http, timeout: 30s, requests: [{{path: "/api/items/1"}}]}}
      - {{id: health, type: http, requests: [{{path: /healthz}}]}}
"""


class Chaos(Replicas, Killing):
    """One kills run: the replicas, the releases through the stand-in, the kills."""

    def __init__(self, args: argparse.Namespace, tmp: Path, database_url: str,
                 target: RunningTarget, standin: SlackStandIn) -> None:  # fmt: skip
        self.args = args
        self.tmp = tmp
        self.rng = random.Random(args.seed)
        self.database_url = database_url
        self.target = target
        self.standin = standin
        self.db: Engine = create_engine(database_url, pool_size=2, max_overflow=2)
        self.replicas: dict[int, Replica] = {}
        self.everyone: list[Replica] = []
        self.figures = Figures()
        self.started = time.monotonic()
        self.wall_start = time.time()
        self.final_seen: dict[tuple[int, str, int], tuple[str, str]] = {}
        self.orphan_since: dict[int, float] = {}
        self.click_hook: asyncio.Future[Replica] | None = None
        self.restarts: set[asyncio.Task[None]] = set()
        self.incarnations = 0
        self.locust_at_end: dict[int, int] = {}
        self.http = httpx.AsyncClient(timeout=5)
        config = tmp / "preprod.yml"
        config.write_text(PLAN.format(url=target.http_url))
        self.env = {
            **os.environ,
            "SLACK_BOT_TOKEN": standin.token,
            "SLACK_SIGNING_SECRET": standin.signing_secret,
            "SLACK_API_URL": standin.api_url,
            "PREPROD_CONFIG": str(config),
            "DATABASE_URL": database_url,
            "PREPROD_LEASE_TTL": str(args.lease_ttl),
            "PREPROD_UPDATE_INTERVAL": "0.5",
        }

    # -- output -------------------------------------------------------------------

    def note(self, line: str) -> None:
        """A progress line (stderr), stamped with the seconds since the start."""
        print(f"[{time.monotonic() - self.started:6.1f}s] {line}", file=sys.stderr, flush=True)

    # -- the database -------------------------------------------------------------

    def query(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        with self.db.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]

    # -- the releases -------------------------------------------------------------

    async def command(self, replica: Replica, line: str) -> httpx.Response:
        self.standin.bot_url = replica.events_url  # read before the first await below
        return await self.standin.send_command(line, user_id=REQUESTER, channel_id=CHANNEL)

    async def click(self, replica: Replica, ts: str, role: str) -> httpx.Response:
        self.standin.bot_url = replica.events_url
        return await self.standin.click(SIGNERS[role], ts, CHANNEL, "signoff_approve",
                                        block_id=f"signoff:{role}")  # fmt: skip

    def keyed(self, key: str) -> list[Message]:
        return keyed(self.standin, key)

    async def until(self, what: str, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                self.figures.timeouts.append(what)
                self.note(f"gave up waiting: {what}")
                return False
            await asyncio.sleep(0.2)
        return True

    async def release(self, number: int) -> None:
        service = f"svc-{number}"
        figures = self.figures
        figures.releases[service] = None
        for attempt in range(5):  # a person tries again when Slack shows an error
            try:
                replica = await self.live()
                figures.starts_sent += 1
                response = await self.command(replica, f"start {service} 1.0.{number} staging")
                body = response.text
                if response.status_code == 200 and "Starting the validation" in body:
                    figures.starts_acked += 1
                    break
                figures.starts_failed.append(f"{service}: {response.status_code} {body[:120]}")
            except (httpx.HTTPError, TimeoutError) as exc:
                figures.starts_failed.append(f"{service}: {type(exc).__name__} {exc}")
            await asyncio.sleep(1 + attempt)
        else:
            return

        def stored() -> bool:
            return bool(self.query("SELECT id FROM run WHERE service = :s", s=service))

        if not await self.until(f"{service}: a run stored after its acked start", stored, 30):
            return
        # the newest: a start whose ack a kill cut off may have stored a run too, but the
        # person follows the thread of the start that answered
        run_id = int(self.query("SELECT max(id) FROM run WHERE service = :s", s=service)[0][0])
        figures.releases[service] = run_id

        def panel() -> Message | None:
            found = self.keyed(f"run:{run_id}:panel")
            return found[0] if found else None

        def buttons() -> bool:
            found = panel()
            return found is not None and "Approve" in found.button_labels()

        if not await self.until(f"run {run_id}: a sign-off panel with buttons", buttons, 90):
            return
        for role in SIGNERS:
            await self.sign(run_id, role, panel)

        def announced() -> bool:
            rows = self.query("SELECT announcement_ts FROM decisionrecord WHERE run_id = :r",
                              r=run_id)  # fmt: skip
            return bool(rows) and rows[0][0] is not None

        await self.until(f"run {run_id}: decided and announced", announced, 90)

    async def sign(self, run_id: int, role: str, panel: Callable[[], Message | None]) -> None:
        """Approve for ``role`` until a click is acknowledged (a person clicks again when
        Slack shows the click failed), at most five times."""
        for attempt in range(5):
            message = panel()
            if message is None or "Approve" not in message.button_labels():
                return  # decided meanwhile (or gone): nothing left to click
            try:
                replica = await self.live()
            except TimeoutError:
                continue
            task = asyncio.create_task(self.click(replica, message.ts, role))
            hook = self.click_hook
            if hook is not None and not hook.done():
                hook.set_result(replica)
            record = Click(run_id, role, SIGNERS[role], replica.slot, None, time.time())
            self.figures.clicks.append(record)
            try:
                response = await task
                record.status = response.status_code
                if response.status_code == 200:
                    return
            except httpx.HTTPError as exc:
                record.error = f"{type(exc).__name__}"
            await asyncio.sleep(0.5 + attempt)

    async def releases(self, stop: asyncio.Event) -> None:
        """``--parallel`` releases at a time until ``stop``; then those in flight end."""
        running: set[asyncio.Task[None]] = set()
        number = 0
        while not stop.is_set():
            while len(running) < self.args.parallel and not stop.is_set():
                number += 1
                task = asyncio.create_task(self.release(number))
                running.add(task)
                task.add_done_callback(running.discard)
                await asyncio.sleep(self.rng.uniform(0.2, 1.5))
            await asyncio.sleep(0.2)
        if running:
            self.note(f"kills done; waiting for {len(running)} releases in flight")
            await asyncio.gather(*running)

    # -- the run ------------------------------------------------------------------

    async def run(self) -> list[str]:
        self.note("migrating the database, starting the replicas")
        await asyncio.to_thread(self.upgrade)
        for slot in range(self.args.replicas):
            await self.spawn(slot)
        stop = asyncio.Event()
        watching = asyncio.Event()
        watcher = asyncio.create_task(self.watch(watching))
        try:
            await asyncio.wait_for(
                asyncio.gather(self.releases(stop), self.kills(stop)), self.args.max_seconds
            )
        except TimeoutError:
            self.figures.timeouts.append(f"the whole run (over {self.args.max_seconds:g}s)")
            self.note("time is up: stopping the releases")
        if self.restarts:
            await asyncio.wait(self.restarts, timeout=60)
        await asyncio.sleep(3)  # let the last updates and a final sweep land
        self.sample_results()
        await asyncio.sleep(ORPHAN_GRACE + 1)
        self.sample_locust()
        self.locust_at_end = locust_parents(str(self.tmp))
        watching.set()
        await watcher
        return await self.report()

    async def report(self) -> list[str]:
        elapsed = time.monotonic() - self.started
        seen = Observed(self.args, self.tmp, self.figures, self.standin, self.target, self.db,
                        self.wall_start, elapsed, self.locust_at_end)  # fmt: skip
        return Tally(seen).lines()


@contextmanager
def temp_dir(keep: bool) -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix="preprod-chaos-"))
    try:
        yield tmp
    finally:
        if keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


async def main_async(args: argparse.Namespace, tmp: Path, database_url: str,
                     target: RunningTarget) -> list[str]:  # fmt: skip
    standin = SlackStandIn(users=USERS, channels={CHANNEL: "releases"})
    await standin.start()
    chaos = Chaos(args, tmp, database_url, target, standin)
    try:
        return await chaos.run()
    finally:
        await asyncio.to_thread(chaos.stop_all)
        for pid in locust_pids(str(tmp)):  # counted already; none may keep loading
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        await chaos.http.aclose()
        chaos.db.dispose()
        await standin.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=None, help="SIGKILLs (default 50)")
    parser.add_argument("--faults", default="", metavar="A,B",
                        help="run these faults instead of the kills: db-restart, db-hang, "
                        "slack-outage, disk-full, clock-skew")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="with --faults: short faults")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=3, help="releases at a time")
    parser.add_argument("--lease-ttl", type=float, default=2.0)
    parser.add_argument("--interval", type=float, nargs=2, default=(2.0, 8.0),
                        metavar=("MIN", "MAX"), help="seconds between kills")  # fmt: skip
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=540,
        help="bound on the kills and releases (then the rest is counted)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    args = parser.parse_args()
    if args.faults:
        try:
            faults = parse_faults(args.faults)
        except ValueError as exc:
            parser.error(f"--faults: {exc}")
        options = FaultOptions.quick(faults) if args.quick else FaultOptions(faults)
        print("\n".join(fault_report(options, args.keep)), flush=True)
        if args.kills is None:
            return
    args.kills = 50 if args.kills is None else args.kills
    if args.kills < 0 or args.replicas < 1 or args.parallel < 1:
        parser.error("--kills >= 0, --replicas >= 1 and --parallel >= 1")
    with ExitStack() as stack:
        tmp = stack.enter_context(temp_dir(args.keep))
        try:
            database_url = stack.enter_context(running_postgres())
        except PostgresUnavailable as exc:
            raise SystemExit(f"no PostgreSQL: {exc}") from None
        target = stack.enter_context(start_target("slow", state_dir=tmp / "target"))
        lines = asyncio.run(main_async(args, tmp, database_url, target))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
