"""``bench/chaos.py``'s ``preprod serve`` replicas: started, restarted after a kill,
picked at random, stopped (a mixin of its ``Chaos``)."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.chaos_tally import Figures
from tests.support.processes import free_port


@dataclass
class Replica:
    slot: int
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    healthy: bool = False

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"


class Replicas:
    """Starting, restarting, choosing and stopping the replicas."""

    tmp: Path
    env: dict[str, str]
    rng: random.Random
    http: httpx.AsyncClient
    figures: Figures
    replicas: dict[int, Replica]
    everyone: list[Replica]
    incarnations: int

    def note(self, line: str) -> None:
        raise NotImplementedError

    def upgrade(self) -> None:
        done = subprocess.run([sys.executable, "-m", "bot.cli", "db", "upgrade"], cwd=self.tmp,
                              env=self.env, capture_output=True, text=True, timeout=60)  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"preprod db upgrade failed:\n{done.stdout}{done.stderr}")

    async def spawn(self, slot: int) -> Replica:
        """A new ``preprod serve`` in ``slot``, started from the temp dir (so Locust's
        work files, and command lines, carry it); returns once it answers /healthz."""
        port = free_port()
        self.incarnations += 1
        log = self.tmp / f"serve-{slot}-{self.incarnations}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
                cwd=self.tmp, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        replica = Replica(slot, proc, port, log)
        self.replicas[slot] = replica
        self.everyone.append(replica)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            with suppress(httpx.HTTPError):
                if (await self.http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    replica.healthy = True
                    return replica
            await asyncio.sleep(0.1)
        raise RuntimeError(f"replica {slot} (pid {proc.pid}) did not come up; see {log}")

    async def restart(self, slot: int) -> None:
        for attempt in range(3):
            try:
                await self.spawn(slot)
                return
            except RuntimeError as exc:
                self.figures.restarts_failed.append(str(exc))
                self.note(f"restart of replica {slot} failed (attempt {attempt + 1}): {exc}")
                stale = self.replicas[slot].proc
                if stale.poll() is None:
                    stale.kill()
                await asyncio.to_thread(stale.wait)

    async def live(self, timeout: float = 60.0) -> Replica:
        """A random healthy replica (waits, bounded, while all are down)."""
        deadline = time.monotonic() + timeout
        while True:
            up = [r for r in self.replicas.values() if r.healthy and r.proc.poll() is None]
            if up:
                return self.rng.choice(up)
            if time.monotonic() > deadline:
                raise TimeoutError("no live replica")
            await asyncio.sleep(0.1)

    def stop_all(self) -> None:
        """SIGTERM every live replica (a graceful stop hands its runs over), then SIGKILL
        what is left after 15 s; by pid only."""
        live = [r.proc for r in self.everyone if r.proc.poll() is None]
        for proc in live:
            with suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in live:
            try:
                proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
