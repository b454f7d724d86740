"""``bench/chaos.py --faults``: the faults a deployment meets every month, one at a time,
on real processes (issue 23).

For each fault: a fresh database (a private PostgreSQL, or SQLite on a small tmpfs for
disk-full), the example target with its ``slow`` defect, the Slack stand-in (in this
process) and ``preprod serve --workers 1``. One run (plan ``quick``) finishes and awaits
sign-off, ``executing`` runs (plan ``staging``, about 9 s of checks) start executing; then
the fault is made, and while it lasts Approve clicks on the waiting run and ``/preprod
start``s arrive every ``spacing`` s. The fault ends; the bench waits (bounded) until every
stored run has finished, then counts (bench/fault_tally.py): runs finished, results lost,
clicks and starts answered honestly vs silently dropped, duplicate Slack messages, checks
executed twice, runs taken from a live owner.

- db-restart: ``pg_ctl stop -m fast``, ``pg_ctl start`` after the interval;
- db-hang: SIGSTOP to every PostgreSQL process, SIGCONT after it;
- slack-outage: every Web API call answers 503, then 429 with ``Retry-After: 5``;
- disk-full: SQLite on a 16 MiB tmpfs, a filler file takes every free byte, then goes;
- clock-skew: a ``preprod worker`` under ``faketime -f +120s`` joins, stopped after it.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import AsyncExitStack, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.chaos_tally import CHANNEL, FINAL, LEASE_LOST, keyed, message_key, target_counts
from bench.fault_tally import STARTED, FaultRecord, Interaction, mark_clicks, table
from bench.faults_env import (
    PgServer,
    Processes,
    SmallDisk,
    bench_engine,
    query,
    wait_healthy,
)
from bench.faults_make import Making
from bench.faults_plan import (
    DISK_BYTES,
    PLANS,
    REQUESTER,
    SIGNERS,
    USERS,
    Options,
    plan_yaml,
)
from examples.target.launch import start_target
from slack_standin import SlackStandIn
from tests.support.processes import alive, free_port


class Scenario(Making):
    """One fault, from fresh processes to its record."""

    def __init__(self, name: str, options: Options, tmp: Path) -> None:
        self.name, self.o, self.tmp = name, options, tmp
        self.record = FaultRecord(name)
        self.standin = SlackStandIn(users=USERS, channels={CHANNEL: "releases"})
        self.pg: PgServer | None = None
        self.disk: SmallDisk | None = None
        self.procs: Processes | None = None
        self.serve_pid = 0
        self.skewed: subprocess.Popen[bytes] | None = None
        self.stopping: set[int] = set()
        self.sampling = True
        self.final_seen: dict[tuple[int, str, int], str] = {}
        self.owners: dict[int, str] = {}
        self.started = self.started_fault = time.monotonic()

    # -- setting up -----------------------------------------------------------------

    async def setup(self, stack: AsyncExitStack) -> None:
        if self.name == "disk-full":
            self.disk = SmallDisk(self.tmp / "disk", DISK_BYTES)
            await asyncio.to_thread(self.disk.mount)
            stack.callback(self.disk.unmount)
            url = f"sqlite:///{self.disk.path}/bot.db"
        elif self.o.database == "sqlite":
            url = f"sqlite:///{self.tmp}/bot.db"
        else:
            self.pg = PgServer()
            stack.callback(self.pg.remove)
            await asyncio.to_thread(self.pg.create)
            url = self.pg.url
        self.engine = bench_engine(url)
        stack.callback(self.engine.dispose)
        target = stack.enter_context(start_target(*self.o.defects, state_dir=self.tmp / "target"))
        self.target = target
        await self.standin.start()
        stack.push_async_callback(self.standin.stop)
        config = self.tmp / "preprod.yml"
        config.write_text(plan_yaml(target.http_url))
        env = {"SLACK_BOT_TOKEN": self.standin.token, "SLACK_API_URL": self.standin.api_url,
               "SLACK_SIGNING_SECRET": self.standin.signing_secret, "DATABASE_URL": url,
               "PREPROD_CONFIG": str(config), "PREPROD_UPDATE_INTERVAL": "0.5"}  # fmt: skip
        self.procs = procs = Processes(self.tmp, {**os.environ, **env})
        stack.push_async_callback(asyncio.to_thread, procs.stop_all)  # Slack still answers
        workers = ("--workers", str(self.o.workers)) if self.o.workers else ()
        if workers:  # serve migrates on start-up; not so its workers, at the same moment
            await asyncio.to_thread(procs.cli, "db", "upgrade")
        port = free_port()
        serve = procs.start("serve", "serve", "--port", str(port), *workers)
        self.serve_pid = serve.pid
        self.standin.bot_url = f"http://127.0.0.1:{port}/slack/events"
        await asyncio.to_thread(wait_healthy, f"http://127.0.0.1:{port}", serve)
        if workers:
            await self.until("a worker executing", lambda: "executes runs" in procs.logs(), 90)
        if self.name == "clock-skew":
            await self.ready_skewed()

    def note(self, line: str) -> None:
        print(f"[{self.name} {time.monotonic() - self.started:5.1f}s] {line}", file=sys.stderr,
              flush=True)  # fmt: skip

    async def q(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        return await asyncio.to_thread(query, self.engine, sql, **params)

    async def until(self, what: str, condition: Any, timeout: float) -> bool:
        """Poll ``condition`` (sync or async) until true; False (and noted) at the bound."""
        deadline = time.monotonic() + timeout
        while True:
            with suppress(Exception):  # a database coming back may refuse a read or two
                got = condition()
                if asyncio.iscoroutine(got):
                    got = await got
                if got:
                    return True
            if time.monotonic() > deadline:
                self.record.problems.append(f"gave up waiting ({timeout:g}s): {what}")
                self.note(f"gave up waiting: {what}")
                return False
            await asyncio.sleep(0.25)

    # -- the runs -------------------------------------------------------------------

    async def start_run(self, service: str, environment: str) -> int | None:
        answer = await self.standin.send_command(f"start {service} 1.0 {environment}",
                                                 user_id=REQUESTER, channel_id=CHANNEL)  # fmt: skip
        if answer.status_code != 200 or STARTED not in answer.text:
            self.record.problems.append(f"start of {service}: {answer.status_code} "
                                        f"{answer.text[:100]}")  # fmt: skip
            return None
        sql = "SELECT max(id) FROM run WHERE service = :s"
        if not await self.until(f"{service} stored", self._stored(service), 30):
            return None
        return int((await self.q(sql, s=service))[0][0])

    def _stored(self, service: str) -> Any:
        async def check() -> bool:
            return bool(await self.q("SELECT id FROM run WHERE service = :s", s=service))

        return check

    def panel_ts(self, run_id: int) -> str | None:
        found = keyed(self.standin, f"run:{run_id}:panel")
        return found[0].ts if found and "Approve" in found[0].button_labels() else None

    async def prelude(self) -> int | None:
        """One run waiting for sign-off, ``executing`` runs in the middle of their checks."""
        waiting = await self.start_run("svc-waiting", "quick")
        if waiting is None or not await self.until(
            "the waiting run's panel", lambda: self.panel_ts(waiting), 60
        ):
            return None
        environment = "long" if self.name == "clock-skew" else "staging"
        ids = [await self.start_run(f"svc-run{k}", environment) for k in range(self.o.executing)]

        async def executing() -> bool:
            rows = await self.q("SELECT run_id, status FROM checkrecord")
            rows = [(r,) for r, status in rows if str(status).lower() != "pending"]
            return {r for (r,) in rows} >= {i for i in ids if i is not None}

        await self.until("the runs executing", executing, 60)
        return waiting

    # -- during the fault -----------------------------------------------------------

    async def interact(self, kind: str, at: float, waiting: int, number: int) -> Interaction:
        role = "sre" if number % 3 == 0 else "security"
        user = REQUESTER if kind == "start" else SIGNERS[role]
        subject = f"svc-fault{number}" if kind == "start" else f"run {waiting} {role}"
        i = Interaction(kind, user, subject, at)
        before = len(self.standin.ephemerals(user))
        i.sent, began = time.time(), time.monotonic()
        try:
            if kind == "start":
                send = self.standin.send_command(f"start {subject} 1.0 quick", user_id=user,
                                                 channel_id=CHANNEL)  # fmt: skip
            else:
                ts = next(iter(m.ts for m in keyed(self.standin, f"run:{waiting}:panel")))
                send = self.standin.click(user, ts, CHANNEL, "signoff_approve",
                                          block_id=f"signoff:{role}")  # fmt: skip
            answer = await asyncio.wait_for(send, 10)
            i.status = answer.status_code
        except (TimeoutError, OSError, Exception) as exc:  # httpx errors included
            i.error = type(exc).__name__
        i.elapsed = time.monotonic() - began
        await asyncio.sleep(self.o.told_within)  # a private answer may follow the ack
        i.said = [m.text or str(m.blocks)[:200] for m in self.standin.ephemerals(user)[before:]]
        return i

    async def during(self, seconds: float, waiting: int) -> list[asyncio.Task[Interaction]]:
        """Clicks and starts every ``spacing`` s while the fault lasts; their tasks."""
        tasks = []
        at, number = 1.0, 0
        while at < seconds - 0.5:
            kind = "start" if number % 3 == 1 else "click"
            delay = self.started_fault + at - time.monotonic()
            await asyncio.sleep(max(delay, 0))
            tasks.append(asyncio.create_task(self.interact(kind, at, waiting, number)))
            at, number = at + self.o.spacing, number + 1
        await asyncio.sleep(max(self.started_fault + seconds - time.monotonic(), 0))
        return tasks

    # -- watching -------------------------------------------------------------------

    async def watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self.sampling:
                with suppress(Exception):
                    await self.sample()
            await asyncio.sleep(0.5)

    async def sample(self) -> None:
        """Final results that change or vanish; a run whose lease moves from a live owner
        (not serve, which hands a run to the workers once its thread is open)."""
        rows = await self.q("SELECT run_id, check_id, attempt, status FROM checkrecord")
        now = {(int(r), str(c), int(a)): str(s).lower() for r, c, a, s in rows}
        for key, status in self.final_seen.items():
            if now.get(key) != status:
                line = f"run {key[0]} {key[1]} attempt {key[2]}: was {status}, now " \
                       f"{now.get(key, 'gone')}"  # fmt: skip
                if line not in self.record.changed:
                    self.record.changed.append(line)
        self.final_seen.update({k: s for k, s in now.items() if s in FINAL and k not in
                                self.final_seen})  # fmt: skip
        for run_id, owner in await self.q("SELECT id, lease_owner FROM run"):
            before = self.owners.get(int(run_id))
            if owner and before and owner != before:
                pid = owner_pid(before)
                if pid not in (None, self.serve_pid) and pid not in self.stopping and alive(pid):
                    self.record.takeovers.append(
                        f"run {run_id}: from {before} (alive) to {owner} at "
                        f"+{time.monotonic() - self.started_fault:.1f}s of the fault"
                    )
            if owner:
                self.owners[int(run_id)] = str(owner)

    # -- the whole fault ------------------------------------------------------------

    async def run(self) -> FaultRecord:
        async with AsyncExitStack() as stack:
            try:
                await self.setup(stack)
            except OSError as exc:
                self.record.skipped = f"not run: {exc}"
                return self.record
            stop = asyncio.Event()
            watcher = asyncio.create_task(self.watch(stop))
            try:
                await self.play()
            finally:
                stop.set()
                await watcher
        return self.record

    async def play(self) -> None:
        self.note("starting the runs")
        self.started_fault = time.monotonic()
        waiting = await self.prelude()
        if waiting is None:
            self.record.problems.append("the runs could not be started; no fault made")
            return
        with suppress(Exception):
            await self.sample()
        self.started_fault = time.monotonic()
        length = await self.inject()
        self.note(f"fault: {self.record.injected}")
        tasks: list[asyncio.Task[Interaction]] = []
        try:
            tasks = await self.during(length, waiting)
        finally:
            await self.heal()
        ended = time.monotonic()
        self.note("fault over; waiting for every run to end")
        if await self.until("every run ended", self.all_finished, self.o.recovery):
            self.record.recovered_after = time.monotonic() - ended
        self.record.interactions = list(await asyncio.gather(*tasks))
        await asyncio.sleep(self.o.settle)  # the last edits and announcements land
        await self.sample()
        await self.collect()

    async def all_finished(self) -> bool:
        """Every run ended: none still running (a failed run will not finish), each
        finished one with a final result for every check of its plan, and nothing still
        owed to Slack (a run may finish during an outage; its thread comes after)."""
        owed = await self.q("SELECT count(*) FROM outboxmessage WHERE ts IS NULL")
        if owed and int(owed[0][0]) > 0:
            return False
        runs = await self.q("SELECT id, environment, status FROM run")
        rows = await self.q("SELECT run_id, check_id, status FROM checkrecord")
        final = {(int(r), str(c)) for r, c, s in rows if str(s).lower() in FINAL}
        ended = [(int(r), str(e), str(s).upper()) for r, e, s in runs]
        return all(s != "RUNNING" and (s != "FINISHED" or all((r, c) in final for c in PLANS[e]))
                   for r, e, s in ended)  # fmt: skip

    async def collect(self) -> None:
        r = self.record
        runs = await self.q("SELECT id, service, environment, status FROM run ORDER BY id")
        r.runs = [(int(i), str(s), str(e), str(st)) for i, s, e, st in runs]
        checks = await self.q("SELECT run_id, check_id, attempt, status FROM checkrecord")
        r.checks = [(int(a), str(b), int(c), str(d)) for a, b, c, d in checks]
        r.served = await asyncio.to_thread(target_counts, self.target)
        messages = self.standin.channel(CHANNEL).all_messages
        r.keys = dict(Counter(k for m in messages if (k := message_key(m)) is not None))
        signed: dict[tuple[int, str, str], float] = {}
        for run, role, user, at in await self.q('SELECT run_id, role, "user", at FROM signoff'):
            key, when = (int(run), str(role), str(user)), epoch(at)
            signed[key] = min(signed.get(key, when), when)
        mark_clicks([i for i in r.interactions if i.kind == "click"], signed)
        services = {s for _, s, _, _ in r.runs}
        for i in r.interactions:
            if i.kind == "start":
                i.recorded = i.subject in services
        assert self.procs is not None
        counted = {int(m.group(1)) for t in r.takeovers if (m := re.match(r"run (\d+)", t))}
        for line in self.procs.logs().splitlines():
            found = re.search(r"run (\d+)", line)
            if LEASE_LOST.search(line) and found and int(found.group(1)) not in counted:
                counted.add(int(found.group(1)))
                r.takeovers.append(f"run {found.group(1)}: the log says {line.strip()[-120:]!r}")


def epoch(value: object) -> float:
    """A stored timestamp (a datetime, or SQLite's text) as epoch seconds; naive is UTC."""
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def owner_pid(owner: object) -> int | None:
    match = re.match(r"^[^:]*:(\d+):", str(owner or ""))
    return int(match.group(1)) if match else None


async def run_faults(options: Options, tmp: Path) -> list[FaultRecord]:
    """Each fault in turn, each on its own fresh processes under ``tmp/<fault>``."""
    records = []
    for name in options.faults:
        scenario = Scenario(name, options, tmp / name)
        (tmp / name).mkdir(parents=True, exist_ok=True)
        records.append(await scenario.run())
    return records


def fault_report(options: Options, keep: bool = False) -> list[str]:
    """Run ``options.faults`` in a temp dir (removed unless ``keep``); the table's lines."""
    tmp = Path(tempfile.mkdtemp(prefix="preprod-faults-"))
    try:
        started = time.monotonic()
        records = asyncio.run(run_faults(options, tmp))
        return [*table(records), f"elapsed {time.monotonic() - started:.0f}s"]
    finally:
        if keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
