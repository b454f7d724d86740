"""What one ack of ``/preprod start``, ``status N`` and ``list`` costs, counted rather
than timed against a bare app: the database statements and calls (threads) its answer
makes, and the CPU of the whole process per ack, over N answers in process (the
dispatcher as the handler calls it, without HTTP or the replay guard). Deterministic
enough for a noisy machine: the counts are exact, the CPU is a mean.

    .venv/bin/python bench/ack_cpu.py [--acks 200] [--database sqlite|postgres] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from bot.slack.commands import parse  # noqa: E402
from bot.slack.dispatch import Dispatcher  # noqa: E402
from checks import registry  # noqa: E402
from tests.hostile_bot import CONFIG  # noqa: E402
from tests.kinds import KINDS  # noqa: E402
from tests.slackbot import CHANNEL, running_bot  # noqa: E402
from tests.support.postgres import running_postgres  # noqa: E402

COMMANDS = ("status 1", "list", "start svc 1.0 staging")
"""Reads first, while the newest runs are the finished ones they label."""


@contextmanager
def counted(engine: Engine) -> Iterator[dict[str, int]]:
    tally = {"statements": 0, "calls": 0}

    def statement(*_: Any) -> None:
        tally["statements"] += 1

    def checkout(*_: Any) -> None:
        tally["calls"] += 1

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine.pool, "checkout", checkout)
    try:
        yield tally
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine.pool, "checkout", checkout)


async def measure(url: str | None, acks: int, profile: bool) -> None:
    for name, kind in KINDS.items():
        registry.register(name, kind)
    tmp = Path(tempfile.mkdtemp(prefix="preprod-ackcpu-"))
    (tmp / "preprod.yml").write_text(CONFIG)
    async with running_bot(tmp / "preprod.yml", tmp, database_url=url) as harness:
        dispatcher = Dispatcher(harness.bot.manager)
        engine = harness.bot.store.engine
        for version in ("0.8", "0.9"):  # finished runs awaiting sign-offs; the config kept
            await harness.command(f"start svc {version} staging")
        await harness.settle()
        for text in COMMANDS:
            profiler = cProfile.Profile() if profile else None
            with counted(engine) as tally:
                cpu, wall = time.process_time(), time.perf_counter()
                if profiler:
                    profiler.enable()
                for _ in range(acks):
                    reply = await dispatcher.answer(parse(text), "U0RM", CHANNEL)
                    if reply.then is not None:
                        reply.then.close()  # the run is not executed: only its ack counts
                if profiler:
                    profiler.disable()
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            print(
                f"{text:24} {tally['statements'] / acks:5.2f} statements "
                f"{tally['calls'] / acks:4.2f} calls  "
                f"CPU {cpu / acks * 1000:6.3f} ms  wall {wall / acks * 1000:6.3f} ms per ack"
            )
            if profiler:
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
                print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--acks", type=int, default=200)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--profile", action="store_true", help="cProfile (the loop's thread)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", "coroutine .* was never awaited", RuntimeWarning)
    print(f"{args.database}, {args.acks} acks each, load average {os.getloadavg()[0]:.2f}")
    with ExitStack() as stack:
        url = stack.enter_context(running_postgres()) if args.database == "postgres" else None
        asyncio.run(measure(url, args.acks, args.profile))
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
