"""Many pipelines waiting on the gate at once (issue 22's acceptance).

One real ``preprod serve --workers 2`` process on a throw-away PostgreSQL (or a SQLite
file with ``--database sqlite``), the Slack stand-in (in this process), the example target
and a plan of one light http check. ``--pipelines`` pipelines ask for a release at once and
wait for its decision: most are httpx clients in this process (``POST /api/v1/requests``,
then ``GET /api/v1/runs/N?wait=60`` again and again until the decision is final), and
``--cli`` of them are real ``preprod request ... --wait --json`` subprocesses, so the
CLI's own path is measured too. Once every pipeline waits, a scripted clicker decides the
runs through the stand-in's signed clicks as their sign-off panels show their buttons:
Approve, or (every ``--reject-every``-th run) Reject and the modal's reason.

Each run costs five ``chat.postMessage`` in the release channel (parent, progress, panel,
the announcement in the channel and in the thread), which the bot paces at Slack's budget
of about one a second per channel, and a run is executed only once its thread is open.
So the pipelines share ``--runs`` runs (the same ``Idempotency-Key`` is the same run, as
for the deploy jobs of one release in several clusters): 500 pipelines on 50 runs take
about three minutes; at that pace ``--runs 500`` (a run each) needs over half an hour
(not measured). ``--runs 1``: every pipeline woken by one click.

Prints the first / p50 / p99 / max time from each deciding click (the Approve click, or
the reject modal's submission) to each waiter's answer, to each CLI subprocess's exit, and
to the click's own ack; whether the goal (p99 under 2 s) is met; the peak RSS of serve and
of its workers; decisions lost (a pipeline that never got one) and doubled (two different
verdicts for one run, a verdict other than the click's, or two announcements); the CLI
processes' CPU (in all, and after the first click: they share this machine's cores with
serve and the bench); and the total time. Bounded by ``--timeout``; every process it
started is stopped by pid, and the temp dir removed.

    .venv/bin/python bench/pipelines.py [--pipelines 500] [--runs 50] [--cli 20]
        [--reject-every 10] [--database postgres|sqlite] [--timeout 900]

tests/test_pipelines_small.py runs a small version (20 pipelines, SQLite).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, suppress
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.chaos_tally import keyed, message_key  # noqa: E402
from bench.pipelines_figures import (  # noqa: E402
    Figures,
    Options,
    Pipeline,
    children,
    cpu_seconds,
    peak_rss_kib,
)
from bot.slack.actions import APPROVE, REASON_BLOCK, REASON_INPUT, REJECT, REJECT_MODAL  # noqa: E402
from examples.target.launch import RunningTarget, start_target  # noqa: E402
from slack_standin import Message, SlackStandIn  # noqa: E402
from tests.support.postgres import PostgresUnavailable, running_postgres  # noqa: E402
from tests.support.processes import alive, free_port, preprod_command, stop  # noqa: E402
from tests.support.workspace import CHANNEL, USERS  # noqa: E402

SIGNER = "U0SRE1"
CONFIG = """\
channel: C0RELEASES
roles:
  sre: {{label: SRE, members: [U0SRE1]}}
policy: {{required_signoffs: [sre]}}
environments:
  staging: {{base_url: "{url}", plan: light}}
plans:
  light:
    checks:
      - {{id: health, type: http, requests: [{{path: /healthz}}]}}
"""


class Bench:
    def __init__(
        self, options: Options, tmp: Path, database_url: str, target: RunningTarget
    ) -> None:
        self.o = options
        self.tmp = tmp
        self.database_url = database_url
        self.target = target
        self.figures = Figures(options, database_url.split(":", 1)[0].split("+")[0])
        self.standin = SlackStandIn(users=USERS, channels={CHANNEL: "releases"})
        self.serve: subprocess.Popen[bytes] | None = None
        self.procs: list[asyncio.subprocess.Process] = []
        self.url = ""
        self.token = ""
        self.env: dict[str, str] = {}
        self.in_poll = 0

    # -- processes ----------------------------------------------------------------

    async def start(self) -> None:
        await self.standin.start()
        config = self.tmp / "preprod.yml"
        config.write_text(CONFIG.format(url=self.target.http_url))
        self.env = {
            **os.environ,
            "SLACK_BOT_TOKEN": self.standin.token,
            "SLACK_SIGNING_SECRET": self.standin.signing_secret,
            "SLACK_API_URL": self.standin.api_url,
            "PREPROD_CONFIG": str(config),
            "DATABASE_URL": self.database_url,
        }
        await self.cli_once("db", "upgrade")
        self.token = (
            (
                await self.cli_once(
                    "tokens", "create", "bench", "--service", "*", "--environment", "*"
                )
            )
            .strip()
            .splitlines()[-1]
        )
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.standin.bot_url = f"{self.url}/slack/events"
        with (self.tmp / "serve.log").open("wb") as log:
            self.serve = subprocess.Popen(
                preprod_command("serve", "--port", str(port), "--workers", str(self.o.workers)),
                cwd=self.tmp,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        async with httpx.AsyncClient(timeout=2) as http:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and self.serve.poll() is None:
                with suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise SystemExit(f"preprod serve did not come up; see {self.tmp / 'serve.log'}")

    async def cli_once(self, *args: str) -> str:
        done = await asyncio.to_thread(
            subprocess.run,
            preprod_command(*args),
            cwd=self.tmp,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise SystemExit(f"preprod {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def sample_rss(self) -> None:
        if self.serve is None:
            return
        pids = {"serve": self.serve.pid}
        pids |= {f"worker {n}": pid for n, pid in enumerate(sorted(children(self.serve.pid)), 1)}
        for name, pid in pids.items():
            if pid not in self.figures.pids:
                self.figures.pids.append(pid)
            self.figures.rss_kib[name] = max(self.figures.rss_kib.get(name, 0), peak_rss_kib(pid))

    async def watch_rss(self) -> None:
        while True:
            self.sample_rss()
            await asyncio.sleep(1)

    async def stop(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                with suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self.serve is not None:
            self.sample_rss()
            workers = children(self.serve.pid)
            await asyncio.to_thread(stop, self.serve)  # SIGTERM; its workers stop with it
            deadline = time.monotonic() + 15
            while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            for pid in workers:  # by pid, only if one outlived its grace
                if alive(pid):
                    with suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        await self.standin.stop()

    # -- pipelines ------------------------------------------------------------------

    def body(self, pipeline: Pipeline) -> dict[str, object]:
        return {
            "service": f"svc-{pipeline.run:03d}",
            "version": f"1.0.{pipeline.run}",
            "environment": "staging",
            "source": {"kind": "other", "name": f"pipeline {pipeline.index}"},
        }

    async def http_pipeline(self, http: httpx.AsyncClient, pipeline: Pipeline) -> None:
        pipeline.run_id = await self.ask(http, pipeline)
        pipeline.waiting = True
        while pipeline.verdict is None:
            self.in_poll += 1
            self.figures.waiting_at_once = max(self.figures.waiting_at_once, self.in_poll)
            try:
                answer = await http.get(f"/api/v1/runs/{pipeline.run_id}?wait=60")
            except httpx.TransportError:
                answer = None
            finally:
                self.in_poll -= 1
            if answer is None or answer.status_code != 200:
                pipeline.retries += 1
                await asyncio.sleep(0.5)
            elif (decision := answer.json()["decision"]) != "pending":
                pipeline.answered = time.monotonic()
                pipeline.verdict = decision

    async def ask(self, http: httpx.AsyncClient, pipeline: Pipeline) -> int:
        """Request the pipeline's run (its key: one per run); its id."""
        key = f"bench-{pipeline.run}"
        while True:
            try:
                asked = await http.post(
                    "/api/v1/requests", json=self.body(pipeline), headers={"Idempotency-Key": key}
                )
            except httpx.TransportError:
                asked = None
            if asked is not None and asked.status_code in (200, 201):
                return int(asked.json()["id"])
            pipeline.retries += 1  # 409: the first request with this key is still starting
            await asyncio.sleep(0.2)

    async def cli_pipeline(self, pipeline: Pipeline) -> None:
        body = self.body(pipeline)
        env = {k: v for k, v in self.env.items() if not k.startswith(("GITHUB_", "CI_"))}
        env |= {"PREPROD_URL": self.url, "PREPROD_TOKEN": self.token}
        proc = await asyncio.create_subprocess_exec(
            *preprod_command(
                "request",
                str(body["service"]),
                str(body["version"]),
                "staging",
                "--wait",
                "--json",
                "--idempotency-key",
                f"bench-{pipeline.run}",
                "--timeout",
                f"{self.o.timeout:.0f}s",
            ),
            env=env,
            cwd=self.tmp,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self.procs.append(proc)
        self.figures.pids.append(proc.pid)
        assert proc.stdout is not None and proc.stderr is not None
        first = await proc.stderr.readline()  # its first progress line: it has its run
        pipeline.waiting = bool(first)
        rest, stdout = await asyncio.gather(proc.stderr.read(), proc.stdout.read())
        await proc.wait()
        stderr = first + rest
        pipeline.answered = time.monotonic()
        pipeline.exit_code = proc.returncode
        try:
            verdict = json.loads(stdout)
            pipeline.run_id, pipeline.verdict = int(verdict["id"]), str(verdict["decision"])
        except (ValueError, KeyError, TypeError):
            pipeline.answered = None
            self.figures.problems.append(
                f"CLI pipeline {pipeline.index}: exit {proc.returncode}, "
                f"{stderr.decode(errors='replace').strip()[-200:]}"
            )

    def cli_pids(self) -> list[int]:
        return [proc.pid for proc in self.procs if proc.returncode is None]

    # -- the clicker ----------------------------------------------------------------

    def by_key(self) -> dict[str, Message]:
        """The release channel's messages (and replies) by outbox key, in one pass."""
        found: dict[str, Message] = {}
        for message in self.standin.channel(CHANNEL).all_messages:
            if (key := message_key(message)) is not None:
                found.setdefault(key, message)
        return found

    def intent(self, run: int) -> str:
        every = self.o.reject_every
        return "no-go" if every > 0 and run % every == every - 1 else "go"

    async def clicker(self, runs: dict[int, int]) -> None:
        """Decide every run (index -> id) as soon as its panel shows its buttons."""
        left = dict(runs)
        while left:
            messages = self.by_key()
            for run, run_id in sorted(left.items()):
                panel = messages.get(f"run:{run_id}:panel")
                if panel is None or "Approve" not in panel.button_labels():
                    continue
                del left[run]
                if not self.figures.clicked:  # what the CLI processes used before any click
                    self.figures.cli_cpu_before = sum(map(cpu_seconds, self.cli_pids()))
                intent = self.intent(run)
                self.figures.intended[run_id] = intent
                await self.decide(run_id, panel, intent)
            await asyncio.sleep(0.1)

    async def decide(self, run_id: int, panel: Message, intent: str) -> None:
        block = "signoff:sre"
        if intent == "go":
            self.figures.clicked[run_id] = time.monotonic()
            answer = await self.standin.click(SIGNER, panel.ts, CHANNEL, APPROVE, block_id=block)
        else:
            answer = await self.standin.click(SIGNER, panel.ts, CHANNEL, REJECT, block_id=block)
            deadline = time.monotonic() + 10
            while not self.standin.modals(SIGNER) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if not self.standin.modals(SIGNER):
                self.figures.problems.append(f"run {run_id}: no reject modal within 10 s")
                return
            self.figures.clicked[run_id] = time.monotonic()
            reason = {REASON_BLOCK: {REASON_INPUT: f"run {run_id} rejected by the bench"}}
            answer = await self.standin.submit_view(SIGNER, REJECT_MODAL, reason)
        self.figures.acks.append(time.monotonic() - self.figures.clicked[run_id])
        if answer.status_code != 200:
            self.figures.problems.append(f"run {run_id}: the click answered {answer.status_code}")

    # -- the whole ------------------------------------------------------------------

    async def run(self) -> Figures:
        f = self.figures
        o = self.o
        # the CLI pipelines first (a process starts slowly), one on each of the first runs
        f.pipelines = [Pipeline(i, i % o.runs, i < o.cli) for i in range(o.pipelines)]
        limits = httpx.Limits(max_connections=o.pipelines + 10, max_keepalive_connections=0)
        async with httpx.AsyncClient(
            base_url=self.url,
            timeout=90,
            limits=limits,
            headers={"authorization": f"Bearer {self.token}"},
        ) as http:
            f.started = time.monotonic()
            reaped = resource.getrusage(resource.RUSAGE_CHILDREN)  # the setup's processes
            tasks = []
            for start in range(0, o.pipelines, 50):  # not all 500 connections in one instant
                for p in f.pipelines[start : start + 50]:
                    tasks.append(
                        asyncio.create_task(
                            self.cli_pipeline(p) if p.cli else self.http_pipeline(http, p)
                        )
                    )
                await asyncio.sleep(0.05)
            everyone = asyncio.gather(*tasks)
            clicking: asyncio.Task[None] | None = None
            try:
                async with asyncio.timeout(max(o.timeout - (time.monotonic() - f.started), 1)):
                    runs = await self.runs_known(http)
                    await self.until_waiting()
                    clicking = asyncio.create_task(self.clicker(runs))
                    await everyone
                    f.finished = time.monotonic()
                    await clicking
                    await self.until_announced(list(runs.values()))
            except TimeoutError:
                f.timed_out = True
                f.finished = f.finished or time.monotonic()
                everyone.cancel()
                if clicking is not None:
                    clicking.cancel()
                await asyncio.gather(
                    everyone, *[clicking] if clicking else [], return_exceptions=True
                )
            for run_id in f.intended:
                with suppress(httpx.HTTPError, KeyError, ValueError):
                    f.reread[run_id] = (await http.get(f"/api/v1/runs/{run_id}")).json()["decision"]
        if o.cli and all(p.exit_code is not None for p in f.pipelines if p.cli):
            now = resource.getrusage(resource.RUSAGE_CHILDREN)  # only the CLI ones since
            f.cli_cpu = now.ru_utime + now.ru_stime - reaped.ru_utime - reaped.ru_stime
        for run_id in f.intended:
            f.announcements[run_id] = len(keyed(self.standin, f"run:{run_id}:decision"))
        return f

    async def runs_known(self, http: httpx.AsyncClient) -> dict[int, int]:
        """Each run's id (by index), once a pipeline of it has one (an httpx one, or, for
        a run only CLI pipelines wait on, asked by its key as a retried step would)."""
        pipelines = self.figures.pipelines
        for run in {p.run for p in pipelines} - {p.run for p in pipelines if not p.cli}:
            run_id = await self.ask(http, Pipeline(-1, run, cli=False))
            for p in pipelines:
                if p.run == run:
                    p.run_id = run_id
        while True:
            known = {p.run: p.run_id for p in self.figures.pipelines if p.run_id is not None}
            if len(known) == self.o.runs:
                return known
            await asyncio.sleep(0.1)

    async def until_waiting(self) -> None:
        """Until every pipeline has its run and waits for it."""
        while not all(p.waiting or p.answered for p in self.figures.pipelines):
            await asyncio.sleep(0.05)

    async def until_announced(self, run_ids: list[int]) -> None:
        while not all(f"run:{r}:decision" in self.by_key() for r in run_ids):
            await asyncio.sleep(0.2)
        self.figures.announced = time.monotonic()


async def bench(options: Options, tmp: Path, database_url: str, target: RunningTarget) -> Figures:
    """One bench: start everything, let the pipelines wait and the clicker decide, stop
    everything (also on error or timeout); the figures."""
    runner = Bench(options, tmp, database_url, target)
    watcher: asyncio.Task[None] | None = None
    try:
        await runner.start()
        watcher = asyncio.create_task(runner.watch_rss())
        return await runner.run()
    finally:
        if watcher is not None:
            watcher.cancel()
        await runner.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", type=int, default=500)
    parser.add_argument("--runs", type=int, default=50, help="runs the pipelines share")
    parser.add_argument("--cli", type=int, default=20, help="pipelines that are CLI subprocesses")
    parser.add_argument(
        "--reject-every",
        type=int,
        default=10,
        metavar="K",
        help="reject every K-th run (0: approve all)",
    )
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--timeout", type=float, default=900, help="seconds, for the whole run")
    args = parser.parse_args()
    if not 1 <= args.runs <= args.pipelines or not 0 <= args.cli <= args.pipelines:
        parser.error("1 <= --runs <= --pipelines and 0 <= --cli <= --pipelines")
    options = Options(args.pipelines, args.runs, args.cli, args.reject_every, timeout=args.timeout)
    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="preprod-pipelines-"))
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        if args.database == "postgres":
            try:
                database_url = stack.enter_context(running_postgres())
            except PostgresUnavailable as exc:
                raise SystemExit(f"no PostgreSQL: {exc}") from None
        else:
            database_url = f"sqlite:///{tmp}/bench.db"
        target = stack.enter_context(start_target(state_dir=tmp / "target"))
        figures = asyncio.run(bench(options, tmp, database_url, target))
    print("\n".join(figures.lines()))


if __name__ == "__main__":
    main()
