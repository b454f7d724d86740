"""What does the engine cost around each check? (issue 26, point 4)

A plan of N ``http`` checks (default 200) against an instant local endpoint (127.0.0.1
only), run through the real engine (``Engine.run``: store writes, events, reports), and
in the same process the same N requests made with plain httpx at the engine's own
concurrency, alternating, ``--rounds`` times. Prints both wall times, their ratio (of the
medians, and of each side's fastest round, which other load disturbed least), and
the time each check spends in preprod outside its request:
``(engine wall - plain wall) x concurrency / N``. Also the process CPU time of each side
(the engine's database writes run in worker threads; CPU time says more than the wall on
a busy machine) and the load average. With ``--profile`` it also prints where the
engine's own time goes (cProfile of the event loop's thread, top functions by own time).

    .venv/bin/python bench/engine.py [--checks 200] [--rounds 3] [--database URL] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load_overhead import fast_endpoint  # noqa: E402
from bot.config.loader import load_config  # noqa: E402
from bot.engine.request import RunRequest  # noqa: E402
from bot.engine.runner import Engine  # noqa: E402
from bot.record.report import Verdict  # noqa: E402
from bot.store.runs import RunStore  # noqa: E402


def write_plan(folder: Path, url: str, checks: int) -> Path:
    lines = [
        "environments:",
        f"  bench: {{base_url: '{url}', plan: many}}",
        "plans:",
        "  many:",
        "    checks:",
        *(f"      - {{id: c{n}, type: http, requests: [{{path: /}}]}}" for n in range(checks)),
    ]
    path = folder / "preprod.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


Timing = tuple[float, float]
"""(wall seconds, process CPU seconds)"""


async def through_engine(config_path: Path, database: str, work: Path) -> Timing:
    engine = Engine(load_config(config_path), RunStore(database), work)
    started, cpu = time.perf_counter(), time.process_time()
    report = await engine.run(RunRequest("bench", "1.0.0", "bench"))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert report.verdict is Verdict.PASS, [r.summary for r in report.results][:3]
    engine.store.engine.dispose()
    return elapsed, cpu


async def plain_httpx(url: str, requests: int, concurrency: int) -> Timing:
    limit = asyncio.Semaphore(concurrency)

    async def one(client: httpx.AsyncClient) -> None:
        async with limit:
            response = await client.get(f"{url}/")
            assert response.status_code == 200

    started, cpu = time.perf_counter(), time.process_time()
    async with httpx.AsyncClient() as client:
        await asyncio.gather(*(one(client) for _ in range(requests)))
    return time.perf_counter() - started, time.process_time() - cpu


async def rounds(
    args: argparse.Namespace, url: str, folder: Path
) -> tuple[list[Timing], list[Timing]]:
    config = write_plan(folder, url, args.checks)
    engine_times, plain_times = [], []
    for number in range(args.rounds):
        database = args.database or f"sqlite:///{folder}/round{number}.db"
        engine_times.append(await through_engine(config, database, folder / "work"))
        plain_times.append(await plain_httpx(url, args.checks, Engine.concurrency))
    return engine_times, plain_times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", help="a database URL (default: a new SQLite file per round)")
    parser.add_argument("--profile", action="store_true", help="where the engine's time goes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, fast_endpoint(600) as url:
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        engine_times, plain_times = asyncio.run(rounds(args, url, Path(tmp)))
        if profiler:
            profiler.disable()
    engine = statistics.median(wall for wall, _ in engine_times)
    plain = statistics.median(wall for wall, _ in plain_times)
    engine_cpu = statistics.median(cpu for _, cpu in engine_times)
    plain_cpu = statistics.median(cpu for _, cpu in plain_times)
    per_check = (engine - plain) * Engine.concurrency / args.checks
    each = ", ".join(
        f"{e:.2f}/{p:.2f}" for (e, _), (p, _) in zip(engine_times, plain_times, strict=True)
    )
    ratios = ", ".join(
        f"{e / p:.2f}" for (e, _), (p, _) in zip(engine_times, plain_times, strict=True)
    )
    where = args.database.split("://")[0] if args.database else "sqlite"
    load = ", ".join(f"{figure:.1f}" for figure in os.getloadavg())
    print(f"{args.checks} http checks, concurrency {Engine.concurrency}, {args.rounds} rounds, "
          f"{where}, load average {load}")  # fmt: skip
    print(f"  per round, engine/plain wall: {each} s; ratios {ratios}")
    print(f"  engine       {engine:7.2f} s   ({engine / args.checks * 1000:6.1f} ms per check)"
          f"   cpu {engine_cpu:5.2f} s")  # fmt: skip
    print(f"  plain httpx  {plain:7.2f} s   ({plain / args.checks * 1000:6.1f} ms per request)"
          f"   cpu {plain_cpu:5.2f} s")  # fmt: skip
    print(f"  ratio        {engine / plain:7.2f} x wall (median)   "
          f"{engine_cpu / plain_cpu:5.2f} x cpu")  # fmt: skip
    best = min(wall for wall, _ in engine_times) / min(wall for wall, _ in plain_times)
    best_cpu = min(cpu for _, cpu in engine_times) / min(cpu for _, cpu in plain_times)
    print(f"  best rounds  {best:7.2f} x wall            {best_cpu:5.2f} x cpu"
          "   (each side's fastest round: the least disturbed by other load)")  # fmt: skip
    print(f"  preprod's own time per check, outside its request: {per_check * 1000:.1f} ms wall, "
          f"{(engine_cpu - plain_cpu) / args.checks * 1000:.2f} ms cpu")  # fmt: skip
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
        print(out.getvalue())


if __name__ == "__main__":
    main()
