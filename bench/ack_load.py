"""The load bench/ack_latency.py sends: signed ``/preprod`` slash-command bodies (each with
its own trigger_id), a steady stream at a fixed rate, a burst at once, and the busy runs
started on preprod just before a steady phase. Split from ack_latency.py so the load
generator reads apart from the set-up and the report."""

from __future__ import annotations

import asyncio
import itertools
import socket
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx

from bench.ack_busy import wait_busy_executing
from slack_standin.sender import sign
from slack_standin.server import DEFAULT_SECRET

MIXES = {
    "start,status,list": ["start checkout-api 2.14.0 staging", "status 1", "list"],
    "status,list": ["status 1", "list"],
}
"""The steady streams: with ``start`` a third of them open a new release (17 a second at
50/s, far past any release process: it measures the ack path when every other command
stores a run); without, people asking the bot while the busy runs execute."""


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


def commands(response_url: str, tag: str, mix: list[str]) -> Iterator[bytes]:
    """Command bodies, each with its own trigger_id as Slack gives them (a repeated
    trigger_id is a replay, which the bot acks without acting on it)."""
    for i in itertools.count():
        yield command_body(mix[i % len(mix)], response_url, f"{i}.{tag}.bench")


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


async def busy_runs(url: str, response_url: str, tag: str, count: int, spread: float) -> int:
    """``count`` signed ``/preprod start`` commands of the busy plan, evenly over ``spread``
    seconds (their acks are not measured); returns how many were acked."""
    acked = 0
    async with httpx.AsyncClient(timeout=30) as client:
        start = time.perf_counter()
        for i in range(count):
            delay = start + i * spread / max(count, 1) - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            body = command_body(f"start busy-{tag} 1.0.{i} busy", response_url,
                                f"{i}.busy-{tag}.bench")  # fmt: skip
            try:
                await send(client, url, body)
                acked += 1
            except (SystemExit, httpx.HTTPError) as exc:
                print(f"busy start {i} ({tag}) failed: {exc}", file=sys.stderr)
    return acked


async def steady_while_busy(
    url: str, bodies: Iterator[bytes], rate: float, seconds: float,
    busy_url: str, response_url: str, tag: str, busy: int, database: str,
) -> tuple[list[float], int, tuple[float, float]]:  # fmt: skip
    """``busy`` runs started on preprod (``busy_url``), then, once half of them execute
    checks (their threads open at the channel's pace of about one message a second),
    the steady load; returns the latencies, the busy starts acked and the steady window
    (epoch seconds)."""
    acked = await busy_runs(busy_url, response_url, tag, busy, 0)
    await asyncio.to_thread(wait_busy_executing, database, tag, max(1, busy // 2))
    began = time.time()
    latencies = await steady(url, bodies, rate, seconds)
    return latencies, acked, (began, time.time())
