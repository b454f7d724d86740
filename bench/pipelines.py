"""Many pipelines waiting on the gate at once, and a burst of GitHub webhooks (issue 22's
acceptance).

One real ``preprod serve --workers 2`` process on a throw-away PostgreSQL (or a SQLite
file with ``--database sqlite``), the Slack stand-in (in this process), the GitHub
stand-in, the example target and a plan of one light http check. ``--pipelines``
pipelines ask for a release at once and wait for its decision: most are httpx clients in
this process (``POST /api/v1/requests``, then ``GET /api/v1/runs/N?wait=60`` again and
again until the decision is final), and ``--cli`` of them are real ``preprod request ...
--wait --json`` subprocesses, so the CLI's own path is measured too. By default each
pipeline has a run of its own; ``--runs K`` makes them share K runs (the same
``Idempotency-Key`` is the same run; ``--runs 1``: every pipeline woken by one click).
Once every pipeline waits, the GitHub stand-in sends ``--webhooks`` signed
``deployment_protection_rule`` deliveries at once (bench/pipelines_github.py), and a
scripted clicker decides every run, pipelines' and GitHub's, through the stand-in's
signed clicks as its sign-off panel shows its buttons: Approve, or (every
``--reject-every``-th run id) Reject and the modal's reason.

Each run costs six ``chat.postMessage`` in its channel, which the bot paces at Slack's
one a second per channel, and two to four ``chat.update`` (Tier 3: about 50 a minute for
the whole workspace; the figures print what the run cost). The runs are spread over
``--environments`` environments, each with its own Slack channel
(bench/pipelines_serve.py), so the channel's pace does not dominate. Nothing a click or
a decision waits for waits on ``chat.update`` any more (the sign-off panel is posted
without waiting for the final progress update), so the updates trail behind and the
channels' posts set the pace.

Prints the first / p50 / p99 / max time from each deciding click (the Approve click, or
the reject modal's submission) to each waiter's answer, to each CLI subprocess's exit, and
to the click's own ack; whether the goal (p99 under 2 s) is met; the peak RSS of serve and
of its workers; decisions lost (a pipeline that never got one) and doubled (two different
verdicts for one run, a verdict other than the click's, or two announcements); the
webhooks' answers and GitHub's decisions; the CLI processes' CPU; and the total time.
Bounded by ``--timeout``; every process it started is stopped by pid, and the temp dir
removed.

    .venv/bin/python bench/pipelines.py [--pipelines 500] [--runs 500] [--cli 20]
        [--webhooks 200] [--environments 10] [--reject-every 10]
        [--database postgres|sqlite] [--timeout 3600]

tests/test_pipelines_small.py runs a small version (SQLite).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack, suppress
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pipelines_clicker import Clicker  # noqa: E402
from bench.pipelines_figures import Figures, Options, Pipeline  # noqa: E402
from bench.pipelines_github import Burst, add_jobs, read_accepted, send, until_decided  # noqa: E402
from bench.pipelines_serve import Serve, environment  # noqa: E402
from examples.target.launch import RunningTarget, start_target  # noqa: E402
from tests.support.postgres import PostgresUnavailable, running_postgres  # noqa: E402
from tests.support.processes import preprod_command  # noqa: E402


class Bench:
    """The pipelines, the burst and the clicker (bench/pipelines_clicker.py), against one
    :class:`Serve`."""

    def __init__(self, options: Options, serve: Serve) -> None:
        self.o = options
        self.serve = serve
        self.figures = Figures(options, serve.database_url.split(":", 1)[0].split("+")[0])
        self.burst = Burst(options.webhooks)
        self.procs: list[asyncio.subprocess.Process] = []
        self.in_poll = 0
        self.clicks = Clicker(options, serve, self.figures, self.cli_pids)

    # -- pipelines ------------------------------------------------------------------

    def body(self, pipeline: Pipeline) -> dict[str, object]:
        return {
            "service": f"svc-{pipeline.run:03d}",
            "version": f"1.0.{pipeline.run}",
            "environment": environment(pipeline.run % self.o.environments),
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
        env = {k: v for k, v in self.serve.env.items() if not k.startswith(("GITHUB_", "CI_"))}
        env |= {"PREPROD_URL": self.serve.url, "PREPROD_TOKEN": self.serve.token}
        proc = await asyncio.create_subprocess_exec(
            *preprod_command(
                "request",
                str(body["service"]),
                str(body["version"]),
                str(body["environment"]),
                "--wait",
                "--json",
                "--idempotency-key",
                f"bench-{pipeline.run}",
                "--timeout",
                f"{self.o.timeout:.0f}s",
            ),
            env=env,
            cwd=self.serve.tmp,
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

    async def stop_procs(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                with suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()

    # -- the whole ------------------------------------------------------------------

    async def run(self) -> Figures:
        f = self.figures
        o = self.o
        # the CLI pipelines first (a process starts slowly), one on each of the first runs
        f.pipelines = [Pipeline(i, i % o.runs, i < o.cli) for i in range(o.pipelines)]
        limits = httpx.Limits(max_connections=o.pipelines + 10, max_keepalive_connections=0)
        async with httpx.AsyncClient(
            base_url=self.serve.url,
            timeout=90,
            limits=limits,
            headers={"authorization": f"Bearer {self.serve.token}"},
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
                    await self.runs_known(http)
                    await self.until_waiting()
                    if self.burst.size and self.serve.github is not None:
                        self.burst.jobs = add_jobs(
                            self.serve.github, o.webhooks, o.environments, first=o.runs
                        )
                        await send(self.serve.github, self.burst)
                    clicking = asyncio.create_task(self.clicks.clicker(http))
                    clicking.add_done_callback(self.clicks.clicker_ended)
                    await everyone
                    f.finished = time.monotonic()
                    if self.burst.size and self.serve.github is not None:
                        await until_decided(self.serve.github, self.burst)
                    await self.until_announced()
            except TimeoutError:
                f.timed_out = self.burst.timed_out = True
                f.finished = f.finished or time.monotonic()
                everyone.cancel()
                await asyncio.gather(everyone, return_exceptions=True)
            finally:
                if clicking is not None:
                    clicking.cancel()
                    await asyncio.gather(clicking, return_exceptions=True)
            if self.serve.github is not None:  # also after a time-out: what GitHub got
                read_accepted(self.serve.github, self.burst)
            for run_id in f.intended:
                with suppress(httpx.HTTPError, KeyError, ValueError):
                    f.reread[run_id] = (await http.get(f"/api/v1/runs/{run_id}")).json()["decision"]
        if o.cli and all(p.exit_code is not None for p in f.pipelines if p.cli):
            now = resource.getrusage(resource.RUSAGE_CHILDREN)  # only the CLI ones since
            f.cli_cpu = now.ru_utime + now.ru_stime - reaped.ru_utime - reaped.ru_stime
        f.slack_calls.update((c.method, c.status) for c in self.serve.standin.calls)
        for run_id in f.intended:
            channels = self.serve.announcements(run_id)
            f.announcements[run_id] = len(channels)
            f.channels.update(set(channels))
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
            if len(known) == min(self.o.runs, self.o.pipelines):
                return known
            await asyncio.sleep(0.1)

    async def until_waiting(self) -> None:
        """Until every pipeline has its run and waits for it."""
        while not all(p.waiting or p.answered for p in self.figures.pipelines):
            await asyncio.sleep(0.05)

    async def until_announced(self) -> None:
        """Until every decided run (the clicker's) is announced in its channel."""
        runs = {p.run_id for p in self.figures.pipelines} | set(self.burst.runs.values())
        while not all(f"run:{r}:decision" in self.serve.by_key() for r in runs):
            await asyncio.sleep(0.2)
        self.figures.announced = time.monotonic()


async def bench(
    options: Options, tmp: Path, database_url: str, target: RunningTarget
) -> tuple[Figures, Burst]:
    """One bench: start everything, let the pipelines wait, the webhooks come and the
    clicker decide, stop everything (also on error or timeout); the figures."""
    serve = Serve(
        tmp,
        database_url,
        target,
        workers=options.workers,
        environments=options.environments,
        github=options.webhooks > 0,
    )
    runner = Bench(options, serve)
    watcher: asyncio.Task[None] | None = None
    try:
        await serve.start()
        watcher = asyncio.create_task(serve.watch_rss())
        figures = await runner.run()
    finally:
        if watcher is not None:
            watcher.cancel()
        await runner.stop_procs()
        await serve.stop()
        runner.figures.rss_kib = serve.rss_kib
        runner.figures.pids += serve.pids
    return figures, runner.burst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", type=int, default=500)
    parser.add_argument(
        "--runs", type=int, default=0, help="runs the pipelines share (0: one each)"
    )
    parser.add_argument("--cli", type=int, default=20, help="pipelines that are CLI subprocesses")
    parser.add_argument("--webhooks", type=int, default=200, help="GitHub deliveries at once")
    parser.add_argument("--environments", type=int, default=10, help="each in its own channel")
    parser.add_argument(
        "--reject-every",
        type=int,
        default=10,
        metavar="K",
        help="reject every K-th run id (0: approve all)",
    )
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds, for the whole run")
    args = parser.parse_args()
    runs = args.runs or args.pipelines
    if not 1 <= runs <= max(args.pipelines, 1) or not 0 <= args.cli <= args.pipelines:
        parser.error("1 <= --runs <= --pipelines and 0 <= --cli <= --pipelines")
    if not 1 <= args.environments <= 100 or args.webhooks < 0:
        parser.error("1 <= --environments <= 100 and --webhooks >= 0")
    options = Options(
        args.pipelines,
        runs,
        args.cli,
        args.reject_every,
        timeout=args.timeout,
        webhooks=args.webhooks,
        environments=args.environments,
    )
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
        figures, burst = asyncio.run(bench(options, tmp, database_url, target))
    print("\n".join(figures.lines() + burst.lines(figures.intended)))


if __name__ == "__main__":
    main()
