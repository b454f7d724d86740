"""``preprod worker``: a process that executes runs and nothing else (no HTTP), and the
worker children of ``preprod serve --workers N``.

Workers claim runs through their leases (bot/store/leases.py), so any number of them, on
any machine sharing the database, execute each run exactly once; the process that acks
Slack then never runs check work on its event loop."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import subprocess
import sys
from collections.abc import Iterator

from bot.settings import Settings

log = logging.getLogger(__name__)
STOP_GRACE = 20.0
"""Seconds a worker child gets to hand its runs over before it is killed."""


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = commands.add_parser(
        "worker",
        help="execute the bot's runs (no HTTP)",
        description="Execute runs for `preprod serve` replicas sharing the database "
        "(DATABASE_URL): claim queued and orphaned runs, post their progress to Slack, renew "
        "their leases, follow cancel requests and sign-off deadlines. Same settings as "
        "serve; SLACK_SIGNING_SECRET is not needed. PREPROD_POLL_INTERVAL (default 1 s) is "
        "how often it looks for work.",
    )
    worker.add_argument("--parent", type=int, help=argparse.SUPPRESS)  # serve's children


def run(args: argparse.Namespace) -> int:
    logging.getLogger().setLevel(logging.INFO)
    for chatty in ("httpx", "httpcore", "slack_sdk", "slack_bolt"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    # the worker verifies no Slack requests; its settings share serve's otherwise
    env = {"SLACK_SIGNING_SECRET": "not-used-by-workers", **os.environ}
    settings = Settings.from_env(env)
    if args.parent and settings.worker_nice:
        # serve's children share its machine: its acks (Slack's 3 s) come first. Safe
        # with the locks the runs take: an ack waits for none of them (the trail's is
        # queued for: bot/store/audit.py), on SQLite only for the writer's commit.
        os.nice(settings.worker_nice)
    from bot.cli.worker_loop import execute_runs  # the bot loads only when it runs

    execute_runs(settings, args.parent)
    return 0


@contextlib.contextmanager
def children(count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start ``count`` worker processes for the duration of ``serve``, and stop them
    (SIGTERM, then SIGKILL after a grace period) when it ends."""
    command = [sys.executable, "-m", "bot.cli", "worker", "--parent", str(os.getpid())]
    procs = [subprocess.Popen(command) for _ in range(count)]
    log.info("started %s worker(s): pids %s", count, ", ".join(str(p.pid) for p in procs))
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
