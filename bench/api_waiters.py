"""Many pipelines waiting on one decision over real HTTP: N clients long-poll
``GET /api/v1/runs/N?wait=60`` on a real bot app (the Slack stand-in, SQLite), then one
approval decides the run. A waiter is a future, not a thread; one poller task per
process reads the waited runs' decisions once a second.

    python bench/api_waiters.py --waiters 2000

prints: waiters, threads before and while waiting, when the waiters were woken, the time
from the decision to the first and the last answer (p50, p99), and the poller's queries.
The clients run in the bot's own event loop, so the answers' times include the clients'
work too (on a shared 2-core machine about a millisecond per answer, server and client).
tests/test_api_replicas.py holds a small version (2,000 waiters on the hub, no HTTP)."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.gate.policy import Vote  # noqa: E402
from bot.gate.view import Target  # noqa: E402
from bot.store.tokens import Tokens  # noqa: E402
from bot.web.api_wait import Waiters  # noqa: E402
from checks import registry  # noqa: E402
from tests.kinds import KINDS  # noqa: E402
from tests.slackbot import running_bot  # noqa: E402

CONFIG = """\
channel: C0RELEASES
roles:
  sre: {label: SRE, members: [U0SRE1]}
environments:
  staging: {base_url: "http://127.0.0.1:9", plan: quick}
plans:
  quick:
    checks:
      - {id: fine, type: scripted}
"""


async def bench(waiters: int) -> None:
    for name, kind in KINDS.items():
        registry.register(name, kind)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "preprod.yml"
        config.write_text(CONFIG)
        async with running_bot(config, Path(tmp)) as harness:
            token = await Tokens(harness.bot.store).create("bench", "*", "*", "bench")
            limits = httpx.Limits(max_connections=waiters + 10, max_keepalive_connections=0)
            headers = {"authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(
                base_url=harness.url, headers=headers, timeout=90, limits=limits
            ) as http:
                body = {
                    "service": "svc",
                    "version": "1",
                    "environment": "staging",
                    "source": {"kind": "other"},
                }
                run = await http.post(
                    "/api/v1/requests", json=body, headers={"Idempotency-Key": "bench"}
                )
                run_id = run.json()["id"]
                await harness.settle()
                [hub] = [w for w in harness.bot.gate.listeners if isinstance(w, Waiters)]
                threads_before = threading.active_count()
                answered: list[float] = []

                async def wait() -> None:
                    answer = await http.get(f"/api/v1/runs/{run_id}?wait=60")
                    assert answer.json()["decision"] == "go", answer.text
                    answered.append(time.monotonic())

                tasks = []
                for start in range(0, waiters, 100):  # the listen backlog is 128
                    tasks += [
                        asyncio.create_task(wait()) for _ in range(start, min(start + 100, waiters))
                    ]
                    await asyncio.sleep(0.05)
                deadline = time.monotonic() + 60
                while hub.count() < waiters and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                threads_waiting = threading.active_count()
                registered = hub.count()
                polls_before = hub.polls
                decided = time.monotonic()
                woke: list[float] = []

                async def probe() -> None:  # one more waiter, on the hub itself
                    await hub.wait(run_id, "pending", 60)
                    woke.append(time.monotonic())

                probing = asyncio.create_task(probe())
                await asyncio.sleep(0)
                await harness.bot.gate.sign("U0SRE1", Target(run_id, 1, "sre"), Vote.APPROVE)
                signed = time.monotonic()
                await asyncio.gather(*tasks, probing)
                lags = sorted(t - decided for t in answered)
                print(f"waiters           {waiters} ({registered} waiting on the hub)")
                print(f"threads           {threads_before} before, {threads_waiting} while waiting")
                print(f"first answer      {lags[0] * 1000:.0f} ms after the decision")
                print(
                    f"waiters woken     {(woke[0] - decided) * 1000:.0f} ms after the decision "
                    f"(the approval and its Slack announcement: {(signed - decided) * 1000:.0f} ms)"
                )
                print(
                    f"p50 / p99 / last  {statistics.median(lags) * 1000:.0f} / "
                    f"{lags[int(len(lags) * 0.99) - 1] * 1000:.0f} / {lags[-1] * 1000:.0f} ms"
                )
                print(
                    f"poller queries    {hub.polls} ({hub.polls - polls_before} after the decision)"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiters", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(bench(args.waiters))


if __name__ == "__main__":
    main()
