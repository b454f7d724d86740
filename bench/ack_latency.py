"""How fast does ``preprod serve`` ack signed slash commands, next to a bare Bolt app?

Both run as real processes on 127.0.0.1 against the local Slack stand-in, and receive the
same load: a steady 50 commands a second for 10 s (a mix of start, status and list) and
a burst of 100 at once. preprod runs Bolt with ``process_before_response`` (it answers
when the listener returns); the bare app keeps Bolt's default (an answer at the next
10 ms poll for the ack) unless ``--bare-inline`` gives it the same footing.
Prints p50 / p99 of each, the CPU time each app spent per request in each phase (and,
beside it, the bench's own: the client that signs, sends and reads; in a burst the bare
app's p99 is mostly that client's time), the load average, and the steady and burst p99
ratios (preprod's over the baseline's). ``--repeat R`` runs it R times in a row (fresh
processes and database each time) and prints every run's ratios and their median;
``--all`` does so for the four combinations of issue 26's acceptance (SQLite and
PostgreSQL, quiet and ``--busy 20 --workers 2``), against its goals (steady 1.2, burst
1.3, in every run).

With ``--busy N``, N runs of light checks (three http checks against the example target,
whose ``slow`` defect makes each run last about 4 s) are started on preprod (signed
``/preprod start`` commands, acks not measured) just before each steady phase, so that
they are in flight while the acks are measured. They are started before the baseline's
steady phase too, so both apps are measured on an equally busy machine: each app's burst
follows its steady phase at once, the busy runs still in flight, and the baseline's busy
runs are waited for only after its burst (they must not spill into preprod's phase;
waiting before the burst measured the baseline's burst on a quiet machine and preprod's
on a busy one). With
``--workers W`` preprod runs as ``preprod serve --workers W``: serve only acks (and opens
each run's thread) and its W worker children execute the runs. Prints, in addition, how
many busy runs executed checks inside each steady phase (from the stored check times)
and the most at once. Every run posts to one channel,
whose ``chat.postMessage`` budget (about one a second) paces how fast runs open, so the
runs' check work is spread over the phase rather than all at once.

    .venv/bin/python bench/ack_latency.py [--rate 50] [--seconds 10] [--burst 100]
                                          [--busy 20 [--workers 2]]
                                          [--database sqlite|postgres]
                                          [--mix start,status,list|status,list]
                                          [--repeat 3] [--all]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import math
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ack_busy import busy_figures, wait_busy_done  # noqa: E402
from bench.ack_load import MIXES, burst, commands, free_port, steady, steady_while_busy  # noqa: E402
from examples.processes import background, wait_http  # noqa: E402
from examples.target.launch import start_target  # noqa: E402
from slack_standin.server import DEFAULT_SECRET, DEFAULT_TOKEN  # noqa: E402
from tests.support.postgres import running_postgres  # noqa: E402

BUSY_PLAN = """\
  busy:
    checks:
      - {id: version, type: http, requests: [{path: /version}]}
      - {id: health, type: http, requests: [{path: /healthz}, {path: /}]}
      - id: items
        type: http
        timeout: 30s
        requests: [{path: /api/items}, {path: /api/items/1}, {path: /api/items}]
"""
"""A run of three light checks side by side; with the target's ``slow`` defect, ``items``
takes about 3.6 s (each /api/items* request about 1.2 s)."""


def wait_workers(log: Path, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(re.findall(r"worker \d+ executes runs", log.read_text(errors="replace"))) >= count:
            return
        time.sleep(0.1)
    raise SystemExit(f"{count} workers did not start within {timeout:g}s; see {log}")


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


@dataclass
class Setup:
    """One combination: the database and how busy preprod is."""

    database: str
    busy: int
    workers: int

    def name(self) -> str:
        busy = f", --busy {self.busy}" if self.busy else ""
        return f"{self.database}{busy}{f' --workers {self.workers}' if self.workers else ''}"


ALL = [Setup("sqlite", 0, 0), Setup("postgres", 0, 0),
       Setup("sqlite", 20, 2), Setup("postgres", 20, 2)]  # fmt: skip
"""The acceptance's four combinations (``--all``)."""
STARTING = 120.0
"""Seconds each process may take to answer (a shared machine at a load of 20 needed more
than 30 to start serve with two workers)."""
STEADY_GOAL, BURST_GOAL = 1.2, 1.3
"""Issue 26: preprod's p99 over the bare app's, in every run."""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(args: argparse.Namespace, setup: Setup) -> dict[str, dict[str, list[float]]]:
    """One run: the stand-in, preprod serve and the bare app started afresh; returns each
    app's latencies (ms) by phase, plus ``cpu`` (ms of the app's CPU per request, steady
    then burst) and ``load`` (the load average before and after)."""
    tmp = Path(tempfile.mkdtemp(prefix="preprod-bench-"))
    standin_port, preprod_port, bare_port = free_port(), free_port(), free_port()
    api_url = f"http://127.0.0.1:{standin_port}/api/"
    response_url = f"http://127.0.0.1:{standin_port}/response/bench"
    slack_env = {"SLACK_BOT_TOKEN": DEFAULT_TOKEN, "SLACK_SIGNING_SECRET": DEFAULT_SECRET,
                 "SLACK_API_URL": api_url}  # fmt: skip
    load = [os.getloadavg()[0]]
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)  # last, once all have stopped
        database = (
            stack.enter_context(running_postgres())
            if setup.database == "postgres"
            else f"sqlite:///{tmp}/bench.db"
        )
        defects = ("slow",) if setup.busy else ()
        target = stack.enter_context(start_target(*defects, state_dir=tmp / "target"))
        config = tmp / "preprod.yml"
        busy_env = (f"  busy:\n    base_url: {target.https_url}\n"
                    f"    ca_bundle: {target.ca_bundle}\n    plan: busy\n")  # fmt: skip
        config.write_text(
            "channel: C0RELEASES\nenvironments:\n  staging:\n"
            f"    base_url: {target.https_url}\n    ca_bundle: {target.ca_bundle}\n"
            f"    plan: quick\n{busy_env if setup.busy else ''}plans:\n  quick:\n    checks:\n"
            "      - {id: smoke, type: http, requests: [{path: /healthz}]}\n"
            + (BUSY_PLAN if setup.busy else "")
        )
        stack.enter_context(background(
            [sys.executable, "-m", "slack_standin", "--port", str(standin_port)], {},
            tmp / "standin.log"))  # fmt: skip
        wait_http(f"http://127.0.0.1:{standin_port}/", STARTING)
        workers = ["--workers", str(setup.workers)] if setup.workers else []
        serve = stack.enter_context(background(
            [sys.executable, "-m", "bot.cli", "serve", "--port", str(preprod_port), *workers],
            {**slack_env, "PREPROD_CONFIG": str(config),
             "DATABASE_URL": database}, tmp / "preprod.log"))  # fmt: skip
        bare = stack.enter_context(background(
            [sys.executable, str(ROOT / "bench" / "bare_bolt.py"), str(bare_port),
             *(["--inline"] if args.bare_inline else [])], slack_env,
            tmp / "bare.log"))  # fmt: skip
        wait_http(f"http://127.0.0.1:{preprod_port}/healthz", STARTING)
        wait_http(f"http://127.0.0.1:{bare_port}/healthz", STARTING)
        if setup.workers:
            wait_workers(tmp / "preprod.log", setup.workers, STARTING)
        preprod_url = f"http://127.0.0.1:{preprod_port}/slack/events"
        results: dict[str, dict[str, list[float]]] = {}
        for name, port, pid in (("bare Bolt", bare_port, bare.pid),
                                ("preprod", preprod_port, serve.pid)):  # fmt: skip
            url = f"http://127.0.0.1:{port}/slack/events"
            bodies = commands(response_url, name, MIXES[args.mix])
            asyncio.run(burst(url, bodies, 10))  # warm up: auth.test, imports, connections
            cpu, client = [cpu_seconds(pid)], [time.process_time()]
            if setup.busy:
                tag = name.replace(" ", "-").lower()
                steady_ms, acked, window = asyncio.run(steady_while_busy(
                    url, bodies, args.rate, args.seconds, preprod_url, response_url, tag,
                    setup.busy, database))  # fmt: skip
                stored, inside, most = busy_figures(database, tag, window)
                print(f"  busy, {name} steady phase: {acked}/{setup.busy} runs of light checks"
                      f" started on preprod just before it ({stored} stored); {inside} "
                      f"executed checks inside the phase, at most {most} at once")  # fmt: skip
            else:
                steady_ms = asyncio.run(steady(url, bodies, args.rate, args.seconds))
            cpu.append(cpu_seconds(pid))
            client.append(time.process_time())
            burst_ms = asyncio.run(burst(url, bodies, args.burst))
            cpu.append(cpu_seconds(pid))
            client.append(time.process_time())
            if setup.busy and name == "bare Bolt":  # they must not spill into preprod's phase
                wait_busy_done(database, tag, stored)
            counts = (len(steady_ms), len(burst_ms))
            per_ack = [(cpu[i + 1] - cpu[i]) * 1000 / counts[i] for i in (0, 1)]
            by_client = [(client[i + 1] - client[i]) * 1000 / counts[i] for i in (0, 1)]
            results[name] = {"steady": steady_ms, "burst": burst_ms, "cpu": per_ack,
                             "client": by_client}  # fmt: skip
    load.append(os.getloadavg()[0])
    results["load"] = {"before": load[:1], "after": load[1:]}
    return results


def report(
    setup: Setup, run: int, results: dict[str, dict[str, list[float]]]
) -> tuple[float, float]:
    """Print one run's figures; returns its steady and burst p99 ratios."""
    load = results["load"]
    print(f"run {run} ({setup.name()}), load average {load['before'][0]:.2f} before, "
          f"{load['after'][0]:.2f} after")  # fmt: skip
    for name in ("bare Bolt", "preprod"):
        runs = results[name]
        for i, kind in enumerate(("steady", "burst")):
            values = runs[kind]
            print(f"  {name:10} {kind:7} n={len(values):4}  p50 {pct(values, 50):7.1f} ms"
                  f"  p99 {pct(values, 99):7.1f} ms  max {max(values):7.1f} ms"
                  f"  CPU {runs['cpu'][i]:5.2f} ms/request"
                  f" (client {runs['client'][i]:4.2f})")  # fmt: skip
    steady_ratio, burst_ratio = (
        pct(results["preprod"][kind], 99) / pct(results["bare Bolt"][kind], 99)
        for kind in ("steady", "burst")
    )
    print(f"  steady p99 ratio {steady_ratio:.2f}, burst p99 ratio {burst_ratio:.2f}")
    return steady_ratio, burst_ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument(
        "--busy",
        type=int,
        default=0,
        metavar="N",
        help="runs of light checks executing during each steady phase",
    )
    parser.add_argument("--workers", type=int, default=0, metavar="W",
                        help="preprod serve --workers W (serve only acks)")  # fmt: skip
    parser.add_argument("--bare-inline", action="store_true",
                        help="the bare app with Bolt's process_before_response, as preprod"
                             " runs it (no 10 ms poll for the ack): the same footing")  # fmt: skip
    parser.add_argument("--mix", choices=sorted(MIXES), default="start,status,list",
                        help="the steady stream's commands, in turn")  # fmt: skip
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite",
                        help="the bot's database: a SQLite file, or a throw-away PostgreSQL"
                             " (initdb/pg_ctl, as the tests start it)")  # fmt: skip
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="R",
        help="runs in a row, each with fresh processes; prints the median",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="the acceptance's four combinations (SQLite and PostgreSQL, quiet and"
        " --busy 20 --workers 2), in place of --database/--busy/--workers",
    )
    args = parser.parse_args()
    if args.busy < 0 or args.workers < 0 or args.repeat < 1:
        parser.error("--busy and --workers take a count >= 0, --repeat one >= 1")
    setups = ALL if args.all else [Setup(args.database, args.busy, args.workers)]
    if isinstance(sys.stdout, io.TextIOWrapper):  # each run's figures as soon as they hold
        sys.stdout.reconfigure(line_buffering=True)
    print(f"signed /preprod commands ({', '.join(MIXES[args.mix])}), {args.rate:g}/s for "
          f"{args.seconds:g}s, then a burst of {args.burst}; {args.repeat} run(s) each; "
          f"{os.cpu_count()} CPUs; the bare app "
          f"{'with' if args.bare_inline else 'without'} process_before_response")  # fmt: skip
    summary: list[tuple[Setup, list[tuple[float, float]]]] = []
    for setup in setups:
        ratios = []
        for i in range(args.repeat):
            try:
                ratios.append(report(setup, i + 1, measure(args, setup)))
            except (httpx.HTTPError, SystemExit) as exc:  # one failed run: the others go on
                print(f"run {i + 1} ({setup.name()}) failed: {type(exc).__name__}: {exc}")
                ratios.append((math.inf, math.inf))
        summary.append((setup, ratios))
    print(f"\np99 ratios (preprod / bare Bolt); goals: steady <= {STEADY_GOAL:g}, "
          f"burst <= {BURST_GOAL:g} in every run")  # fmt: skip
    for setup, ratios in summary:
        steady_ratios, burst_ratios = [r[0] for r in ratios], [r[1] for r in ratios]
        held = all(s <= STEADY_GOAL and b <= BURST_GOAL for s, b in ratios)
        print(f"{setup.name():32} steady {' / '.join(f'{r:.2f}' for r in steady_ratios)}"
              f" (median {statistics.median(steady_ratios):.2f})"
              f"  burst {' / '.join(f'{r:.2f}' for r in burst_ratios)}"
              f" (median {statistics.median(burst_ratios):.2f})"
              f"  {'within' if held else 'NOT within'}")  # fmt: skip


if __name__ == "__main__":
    main()
