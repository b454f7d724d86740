"""How fast does ``preprod serve`` ack signed slash commands, next to a bare Bolt app?

Both run as real processes on 127.0.0.1 against the local Slack stand-in, and receive the
same load: a steady 50 commands a second for 10 s (a mix of start, status and list) and
a burst of 100 at once. Prints p50 / p99 of each and, last, ``steady p99 ratio X``
(preprod's p99 over the baseline's).

    .venv/bin/python bench/ack_latency.py [--rate 50] [--seconds 10] [--burst 100]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from examples.processes import background, wait_http  # noqa: E402
from examples.target.launch import start_target  # noqa: E402
from slack_standin.sender import sign  # noqa: E402
from slack_standin.server import DEFAULT_SECRET, DEFAULT_TOKEN  # noqa: E402

MIX = ["start checkout-api 2.14.0 staging", "status 1", "list"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def command_body(text: str, response_url: str, trigger_id: str) -> bytes:
    fields = {
        "token": "legacy", "team_id": "T0STANDIN", "team_domain": "standin",
        "channel_id": "C0RELEASES", "channel_name": "releases", "user_id": "U1",
        "user_name": "alice", "command": "/preprod", "text": text, "api_app_id": "A0PREPROD",
        "response_url": response_url, "trigger_id": trigger_id,
    }  # fmt: skip
    return urlencode(fields).encode()


def commands(response_url: str, tag: str) -> Iterator[bytes]:
    """Command bodies, each with its own trigger_id as Slack gives them (a repeated
    trigger_id is a replay, which the bot acks without acting on it)."""
    for i in itertools.count():
        yield command_body(MIX[i % len(MIX)], response_url, f"{i}.{tag}.bench")


async def send(client: httpx.AsyncClient, url: str, body: bytes) -> float:
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": sign(DEFAULT_SECRET, timestamp, body),
    }
    started = time.perf_counter()
    response = await client.post(url, content=body, headers=headers)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}: {response.text[:200]}")
    return elapsed * 1000


async def steady(url: str, bodies: Iterator[bytes], rate: float, seconds: float) -> list[float]:
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=400), timeout=30) as client:
        start = time.perf_counter()
        tasks = []
        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(client, url, next(bodies))))
        return list(await asyncio.gather(*tasks))


async def burst(url: str, bodies: Iterator[bytes], count: int) -> list[float]:
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=400), timeout=30) as client:
        return list(await asyncio.gather(*(send(client, url, next(bodies))
                                           for _ in range(count))))  # fmt: skip


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--burst", type=int, default=100)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="preprod-bench-"))
    standin_port, preprod_port, bare_port = free_port(), free_port(), free_port()
    api_url = f"http://127.0.0.1:{standin_port}/api/"
    response_url = f"http://127.0.0.1:{standin_port}/response/bench"
    slack_env = {"SLACK_BOT_TOKEN": DEFAULT_TOKEN, "SLACK_SIGNING_SECRET": DEFAULT_SECRET,
                 "SLACK_API_URL": api_url}  # fmt: skip
    with ExitStack() as stack:
        target = stack.enter_context(start_target(state_dir=tmp / "target"))
        config = tmp / "preprod.yml"
        config.write_text(
            "channel: C0RELEASES\nenvironments:\n  staging:\n"
            f"    base_url: {target.https_url}\n    ca_bundle: {target.ca_bundle}\n"
            "    plan: quick\nplans:\n  quick:\n    checks:\n"
            "      - {id: smoke, type: http, requests: [{path: /healthz}]}\n"
        )
        stack.enter_context(background(
            [sys.executable, "-m", "slack_standin", "--port", str(standin_port)], {},
            tmp / "standin.log"))  # fmt: skip
        wait_http(f"http://127.0.0.1:{standin_port}/")
        stack.enter_context(background(
            [sys.executable, "-m", "bot.cli", "serve", "--port", str(preprod_port)],
            {**slack_env, "PREPROD_CONFIG": str(config),
             "DATABASE_URL": f"sqlite:///{tmp}/bench.db"}, tmp / "preprod.log"))  # fmt: skip
        stack.enter_context(background(
            [sys.executable, str(ROOT / "bench" / "bare_bolt.py"), str(bare_port)], slack_env,
            tmp / "bare.log"))  # fmt: skip
        wait_http(f"http://127.0.0.1:{preprod_port}/healthz")
        wait_http(f"http://127.0.0.1:{bare_port}/healthz")
        results: dict[str, dict[str, list[float]]] = {}
        for name, port in (("bare Bolt", bare_port), ("preprod", preprod_port)):
            url = f"http://127.0.0.1:{port}/slack/events"
            bodies = commands(response_url, name)
            asyncio.run(burst(url, bodies, 10))  # warm up: auth.test, imports, connections
            results[name] = {
                "steady": asyncio.run(steady(url, bodies, args.rate, args.seconds)),
                "burst": asyncio.run(burst(url, bodies, args.burst)),
            }
    print(f"signed /preprod commands ({', '.join(MIX)}), {args.rate:g}/s for "
          f"{args.seconds:g}s, then a burst of {args.burst}")  # fmt: skip
    for name, runs in results.items():
        for kind, values in runs.items():
            print(f"{name:10} {kind:7} n={len(values):4}  p50 {pct(values, 50):7.1f} ms"
                  f"  p99 {pct(values, 99):7.1f} ms  max {max(values):7.1f} ms")  # fmt: skip
    ratio = pct(results["preprod"]["steady"], 99) / pct(results["bare Bolt"]["steady"], 99)
    print(f"steady p99 ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
