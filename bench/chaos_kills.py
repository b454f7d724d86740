"""``bench/chaos.py``'s kills: which replica to SIGKILL for each mode, the kill and its
restart, and the watchers (a final result that changed, orphan Locust processes); a
mixin of its ``Chaos``."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from bench.chaos_replicas import Replica
from bench.chaos_tally import FINAL, ORPHAN_GRACE, Figures, Kill
from tests.support.processes import locust_pids, parent_pid

MODES = ("random moment", "after a click", "mid load test", "mid check")


def locust_parents(marker: str) -> dict[int, int]:
    """Live Locust processes whose command line mentions ``marker``: pid -> parent pid."""
    found: dict[int, int] = {}
    for pid in locust_pids(marker):
        try:
            found[pid] = parent_pid(pid)
        except OSError:  # it ended in between
            continue
    return found


def owner_pid(owner: object) -> int | None:
    match = re.match(r"^[^:]*:(\d+):", str(owner or ""))
    return int(match.group(1)) if match else None


class Killing:
    """The kills and the watchers."""

    args: argparse.Namespace
    tmp: Path
    rng: random.Random
    started: float
    figures: Figures
    replicas: dict[int, Replica]
    everyone: list[Replica]
    click_hook: asyncio.Future[Replica] | None
    restarts: set[asyncio.Task[None]]
    final_seen: dict[tuple[int, str, int], tuple[str, str]]
    orphan_since: dict[int, float]

    def note(self, line: str) -> None:
        raise NotImplementedError

    def query(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    async def restart(self, slot: int) -> None:
        raise NotImplementedError

    async def victim(self, mode: str) -> tuple[Replica, str] | None:
        """The replica to kill for ``mode`` (bounded waits; None: nothing fitting came)."""
        if mode == "after a click":
            loop = asyncio.get_running_loop()
            self.click_hook = loop.create_future()
            try:
                replica = await asyncio.wait_for(self.click_hook, 15)
            except TimeoutError:
                return None
            finally:
                self.click_hook = None
            delay = self.rng.uniform(0, 0.05)
            await asyncio.sleep(delay)
            return replica, f"{delay * 1000:.0f} ms after sending it a click"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            by_pid = {r.proc.pid: r for r in self.replicas.values() if r.healthy}
            if mode == "mid load test":
                owners = [ppid for ppid in locust_parents(str(self.tmp)).values() if ppid in by_pid]
                if owners:
                    return by_pid[self.rng.choice(owners)], "running a load test"
            elif mode == "mid check":
                rows = self.query(
                    "SELECT r.lease_owner, c.run_id, c.check_id FROM checkrecord c"
                    " JOIN run r ON r.id = c.run_id WHERE c.status = 'running'"
                    " AND c.check_id <> 'load'"
                )
                fitting = [(by_pid[pid], f"running check {check} of run {run}")
                           for owner, run, check in rows
                           if (pid := owner_pid(owner)) is not None and pid in by_pid]  # fmt: skip
                if fitting:
                    return self.rng.choice(fitting)
            else:
                if by_pid:
                    return self.rng.choice(list(by_pid.values())), "at a random moment"
            await asyncio.sleep(0.05)
        return None

    async def kills(self, stop: asyncio.Event) -> None:
        try:
            for number in range(1, self.args.kills + 1):
                await asyncio.sleep(self.rng.uniform(*self.args.interval))
                mode = self.rng.choice(MODES)
                chosen = await self.victim(mode)
                if chosen is None:
                    mode = MODES[0]
                    chosen = await self.victim(mode)
                if chosen is None:
                    self.note(f"kill {number}: no live replica to kill")
                    continue
                replica, detail = chosen
                await self.kill(number, mode, replica, detail)
        finally:
            stop.set()

    async def kill(self, number: int, mode: str, replica: Replica, detail: str) -> None:
        replica.healthy = False
        pid = replica.proc.pid
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        await asyncio.to_thread(replica.proc.wait)
        # frozen now: what the dead process was in the middle of may legitimately run again
        rows = self.query(
            "SELECT c.run_id, c.check_id FROM checkrecord c JOIN run r ON r.id = c.run_id"
            " WHERE c.status = 'running' AND r.lease_owner LIKE :owner",
            owner=f"%:{pid}:%",
        )
        interrupted = [(int(run), str(check)) for run, check in rows]
        kill = Kill(number, mode, replica.slot, pid, time.monotonic() - self.started,
                    interrupted, detail)  # fmt: skip
        self.figures.kills.append(kill)
        self.note(f"kill {number}: replica {replica.slot} (pid {pid}) {detail}; "
                  f"interrupted {interrupted or 'no check'}")  # fmt: skip
        task = asyncio.create_task(self.restart(replica.slot))
        self.restarts.add(task)
        task.add_done_callback(self.restarts.discard)

    # -- watchers -----------------------------------------------------------------

    async def watch(self, stop: asyncio.Event) -> None:
        """Every 0.5 s: a final check result that changed or vanished, and Locust
        processes whose owner is gone (orphans after ``ORPHAN_GRACE`` seconds)."""
        while not stop.is_set():
            self.sample_results()
            self.sample_locust()
            await asyncio.sleep(0.5)

    def sample_results(self) -> None:
        rows = self.query("SELECT run_id, check_id, attempt, status, summary FROM checkrecord")
        now = {(int(r), str(c), int(a)): (str(s).lower(), str(m)) for r, c, a, s, m in rows}
        for key, (status, summary) in self.final_seen.items():
            if now.get(key) != (status, summary):
                what = now.get(key, ("gone", ""))
                line = f"run {key[0]} check {key[1]} attempt {key[2]}: was {status} " \
                       f"({summary[:60]}), now {what[0]} ({what[1][:60]})"  # fmt: skip
                if line not in self.figures.changed_results:
                    self.figures.changed_results.append(line)
                    self.note(f"RESULT CHANGED: {line}")
        for key, value in now.items():
            if value[0] in FINAL and key not in self.final_seen:
                self.final_seen[key] = value

    def sample_locust(self) -> None:
        live = {r.proc.pid for r in self.everyone if r.proc.poll() is None}
        found = locust_parents(str(self.tmp))
        now = time.monotonic()
        for pid, ppid in found.items():
            owned = ppid in live or ppid in found
            if owned:
                self.orphan_since.pop(pid, None)
                continue
            since = self.orphan_since.setdefault(pid, now)
            if now - since > ORPHAN_GRACE and pid not in self.figures.orphans:
                self.figures.orphans.add(pid)
                self.note(f"ORPHAN Locust pid {pid} (parent {ppid})")
