"""How ``bench/faults.py`` makes each fault and ends it (a mixin of its ``Scenario``)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.fault_tally import FaultRecord
from bench.faults_env import PgServer, Processes, SmallDisk, children_of, signal_group
from bench.faults_plan import DISK_BYTES, SKEW, Options
from slack_standin import SlackStandIn


class Making:
    """``inject`` makes the scenario's fault (returns its length), ``heal`` ends it."""

    name: str
    o: Options
    tmp: Path
    record: FaultRecord
    standin: SlackStandIn
    pg: PgServer | None
    disk: SmallDisk | None
    procs: Processes | None
    skewed: subprocess.Popen[bytes] | None
    stopping: set[int]
    sampling: bool
    started_fault: float
    q: Callable[..., Awaitable[list[tuple[Any, ...]]]]
    until: Callable[[str, Any, float], Awaitable[bool]]

    async def inject(self) -> float:
        """Make the fault; its length in seconds."""
        d = self.o.durations[self.name]
        if self.name == "db-restart":
            assert self.pg is not None
            self.sampling = False
            await asyncio.to_thread(self.pg.stop)
            self.record.injected = f"PostgreSQL stopped (pg_ctl stop -m fast) for {d[0]:g}s"
        elif self.name == "db-hang":
            assert self.pg is not None
            self.sampling = False
            frozen = self.pg.freeze()
            self.record.injected = f"SIGSTOP to {len(frozen)} PostgreSQL processes for {d[0]:g}s"
        elif self.name == "slack-outage":
            self.standin.outage(d[0], 503)
            self.standin.outage(d[1], 429, retry_after=5)
            self.record.injected = (f"Slack Web API: {d[0]:g}s of 503, then {d[1]:g}s of 429 "
                                    "Retry-After 5")  # fmt: skip
        elif self.name == "disk-full":
            assert self.disk is not None
            self.sampling = False
            filled = await asyncio.to_thread(self.disk.fill)
            self.record.injected = (f"SQLite on a {DISK_BYTES >> 20} MiB tmpfs, a filler took "
                                    f"its last {filled >> 10} KiB (free {self.disk.free()}) for "
                                    f"{d[0]:g}s")  # fmt: skip
        elif self.name == "clock-skew":
            await self.join_skewed(d[0])
        return sum(d)

    async def ready_skewed(self) -> None:
        """A worker whose clock runs ``SKEW`` fast, started before any run exists and frozen
        (SIGSTOP) once it polls: Python's start-up takes up to half a minute on this busy
        machine, longer than the runs it should find executing when it joins."""
        assert self.procs is not None
        skewed = self.procs.start("worker-skewed", "worker", prefix=("faketime", "-f", SKEW))
        self.skewed = skewed
        log = self.tmp / "worker-skewed.log"
        # its clock is beyond PREPROD_MAX_CLOCK_SKEW: it says it "claims no runs"
        up = ("executes runs", "claims no runs")
        await self.until("the skewed worker up", lambda: any(w in log.read_text() for w in up), 90)
        signal_group(skewed, signal.SIGSTOP)

    async def join_skewed(self, seconds: float) -> None:
        """SIGCONT: the skewed worker joins now; names the runs executing at that moment."""
        assert self.skewed is not None
        rows = await self.q("SELECT id, status, lease_owner FROM run")
        live = [r for r, status, owner in rows if str(status).upper() == "RUNNING" and owner]
        signal_group(self.skewed, signal.SIGCONT)
        if not live:
            self.record.problems.append("no run was executing when the skewed worker joined")
        pids = children_of(self.skewed.pid)
        self.record.injected = (f"a preprod worker under faketime -f {SKEW} (pid {pids}, "
                                f"frozen since its first poll) joined while runs {live} "
                                f"executed; stopped after {seconds:g}s")  # fmt: skip

    async def heal(self) -> None:
        if self.name == "db-restart" and self.pg is not None:
            await asyncio.to_thread(self.pg.start)
        elif self.name == "db-hang" and self.pg is not None:
            self.pg.resume()
        elif self.name == "slack-outage":
            self.standin.end_outage()
        elif self.name == "disk-full" and self.disk is not None:
            self.disk.release()
        elif self.name == "clock-skew" and self.skewed is not None and self.procs is not None:
            self.stopping |= {self.skewed.pid, *children_of(self.skewed.pid)}
            await asyncio.to_thread(self.procs.stop, self.skewed)
        self.sampling = True
