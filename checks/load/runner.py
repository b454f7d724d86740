"""Run Locust as subprocesses (never inside the engine's event loop: gevent must not
patch it): headless, one master plus N local workers when distributed, each process in
its own session so a cancel kills whole process groups. The monitor in the generated
locustfile writes a timeline the runner tails and hands to a callback, which may ask to
stop early; the final statistics come from Locust's own ``--json-file`` and
``_failures.csv``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checks.load import children
from checks.load.logs import summarize_errors
from checks.load.stats import Sample, parse_sample

POLL_S = 0.25
STOP_GRACE_S = 5.0
"""After SIGTERM, how long Locust gets to write its final statistics before SIGKILL."""


@dataclass
class RunSpec:
    """Everything needed to start Locust for one test."""

    locustfiles: list[Path]
    host: str
    workdir: Path
    env: dict[str, str]
    users: int | None = None
    spawn_rate: float | None = None
    run_time_s: float | None = None
    workers: int = 0
    expect_workers: int = 0
    master_bind: str | None = None
    expect_workers_timeout: float = 60.0
    deadline_s: float = 600.0
    """Hard limit from start to finish; past it the run is stopped."""

    @property
    def prefix(self) -> Path:
        return self.workdir / "locust"

    @property
    def timeline(self) -> Path:
        return self.workdir / "timeline.jsonl"

    @property
    def stop_file(self) -> Path:
        """Its presence asks the generated monitor to quit the test gracefully."""
        return self.workdir / "timeline.jsonl.stop"

    @property
    def errors(self) -> Path:
        """Written by the generated support code once Locust has its final figures."""
        return self.workdir / "timeline.jsonl.errors.json"


@dataclass
class RunOutput:
    returncode: int | None
    entries: list[dict[str, Any]] | None
    failures: list[dict[str, Any]]
    log_lines: list[str]
    stop_reason: str | None
    samples_seen: int
    elapsed_s: float
    timed_out: bool = False
    commands: list[list[str]] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _split_bind(bind: str | None) -> tuple[str, int | None]:
    if not bind:
        return "127.0.0.1", None
    host, sep, port = bind.rpartition(":")
    if sep and port.isdigit() and host:
        return host, int(port)
    return bind, None


def locust_command() -> list[str]:
    return [sys.executable, "-m", "locust"]


def build_commands(spec: RunSpec) -> tuple[list[str], list[list[str]]]:
    """The master (or single) command and one command per local worker."""
    files = ",".join(str(f) for f in spec.locustfiles)
    base = [*locust_command(), "-f", files, "--host", spec.host]
    main = [
        *base,
        "--headless",
        "--only-summary",
        "--json-file",
        str(spec.prefix),
        "--exit-code-on-error",
        "0",
        "--stop-timeout",
        "1",
    ]
    if spec.users is not None:
        main += ["--users", str(spec.users), "--spawn-rate", f"{spec.spawn_rate or 1:g}"]
    if spec.run_time_s is not None:
        main += ["--run-time", f"{max(1, round(spec.run_time_s))}s"]
    workers: list[list[str]] = []
    expected = max(spec.expect_workers, spec.workers)
    if expected:
        host, port = _split_bind(spec.master_bind)
        port = port or _free_port()
        main += [
            "--master",
            "--master-bind-host",
            host,
            "--master-bind-port",
            str(port),
            "--expect-workers",
            str(expected),
            "--expect-workers-max-wait",
            f"{max(1, round(spec.expect_workers_timeout))}",
        ]
        connect = "127.0.0.1" if host in ("*", "0.0.0.0", "::", "") else host
        for _ in range(spec.workers):
            workers.append(
                [*base, "--worker", "--master-host", connect, "--master-port", str(port)]
            )
    return main, workers


class LocustProcesses:
    """The master (or single) process and the local workers, each a process-group leader."""

    def __init__(self) -> None:
        self.procs: list[asyncio.subprocess.Process] = []
        self._files: list[Any] = []

    async def spawn(self, cmd: list[str], env: dict[str, str], log: Path) -> None:
        out = open(log, "wb")  # noqa: SIM115 - closed in close()
        self._files.append(out)
        proc = await asyncio.create_subprocess_exec(
            *children.launched(cmd),  # dies with this process, even on SIGKILL
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            env=children.owner_environment(env),
            cwd=str(log.parent),
            start_new_session=True,
        )
        children.track(proc.pid)
        self.procs.append(proc)

    @property
    def master(self) -> asyncio.subprocess.Process:
        return self.procs[0]

    def signal_all(self, sig: int) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)

    def terminate_master(self) -> None:
        """Graceful stop: Locust's SIGTERM handler writes the final statistics, and a
        master tells its workers to quit."""
        if self.procs and self.master.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.master.pid, signal.SIGTERM)

    async def wait_all(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in self.procs)), timeout=timeout)
            return True
        except TimeoutError:
            return False

    async def shutdown(self, grace: float) -> None:
        """SIGTERM every group, then SIGKILL what is left, and reap everything."""
        if any(p.returncode is None for p in self.procs):
            self.signal_all(signal.SIGTERM)
            await self.wait_all(grace)
        self.kill_now()
        await self.wait_all(5.0)

    def kill_now(self) -> None:
        """SIGKILL every group (idempotent; a finished group is simply gone)."""
        self.signal_all(signal.SIGKILL)

    def close(self) -> None:
        for proc in self.procs:
            children.untrack(proc.pid)
        for f in self._files:
            f.close()
        self._files.clear()


class TimelineReader:
    """Reads the complete JSON lines appended to the timeline since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.buffer = b""

    def read(self) -> list[Sample]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(chunk)
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        samples = []
        for line in lines:
            if line.strip():
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    samples.append(parse_sample(json.loads(line)))
        return samples


OnSample = Callable[[Sample], str | None]


async def run_locust(spec: RunSpec, on_sample: OnSample) -> RunOutput:
    """Run the test to its end (or until ``on_sample`` returns a stop reason, or the
    deadline passes). On cancellation every Locust process group is killed and the
    CancelledError re-raised: no orphan survives."""
    spec.workdir.mkdir(parents=True, exist_ok=True)
    for stale in (spec.timeline, Path(f"{spec.prefix}.json"), spec.errors, spec.stop_file):
        stale.unlink(missing_ok=True)
    main_cmd, worker_cmds = build_commands(spec)
    procs = LocustProcesses()
    reader = TimelineReader(spec.timeline)
    stop_reason: str | None = None
    timed_out = False
    seen = 0
    sent_term = False
    started = time.monotonic()
    try:
        await procs.spawn(main_cmd, spec.env, spec.workdir / "master.log")
        for i, cmd in enumerate(worker_cmds):
            await procs.spawn(cmd, spec.env, spec.workdir / f"worker-{i}.log")
        stopping_since: float | None = None
        while True:
            done = procs.master.returncode is not None
            if not done:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(procs.master.wait(), timeout=POLL_S)
                done = procs.master.returncode is not None
            for sample in reader.read():
                seen += 1
                reason = on_sample(sample)
                if reason and stop_reason is None:
                    stop_reason = reason
                    stopping_since = time.monotonic()
                    spec.stop_file.touch()
            if done:
                break
            now = time.monotonic()
            if stop_reason is None and now - started > spec.deadline_s:
                timed_out = True
                stop_reason = f"stopped after the {spec.deadline_s:.0f} s deadline"
                stopping_since = now
                spec.stop_file.touch()
            if stopping_since is not None and now - stopping_since > STOP_GRACE_S:
                if not sent_term:  # the monitor did not react: Locust's own SIGTERM path
                    sent_term = True
                    stopping_since = now
                    procs.terminate_master()
                else:
                    break
        await procs.shutdown(grace=2.0)
    except asyncio.CancelledError:
        procs.kill_now()
        with contextlib.suppress(BaseException):
            await asyncio.shield(procs.wait_all(5.0))
        raise
    finally:
        procs.kill_now()
        procs.close()
    return RunOutput(
        returncode=procs.master.returncode if procs.procs else None,
        entries=_read_json(Path(f"{spec.prefix}.json")),
        failures=_read_failures(spec.errors),
        log_lines=_log_lines(spec.workdir),
        stop_reason=stop_reason,
        samples_seen=seen,
        elapsed_s=time.monotonic() - started,
        timed_out=timed_out,
        commands=[main_cmd, *worker_cmds],
    )


def _read_json(path: Path) -> list[dict[str, Any]] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return [e for e in data if isinstance(e, dict)] if isinstance(data, list) else None


def _read_failures(path: Path) -> list[dict[str, Any]]:
    """Locust's error table: method, name, error, occurrences (most frequent first)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    rows = [row for row in data if isinstance(row, dict)] if isinstance(data, list) else []
    return sorted(rows, key=lambda row: -int(row.get("occurrences") or 0))


def _log_lines(workdir: Path, limit: int = 40) -> list[str]:
    """Locust's own errors from every process's log, summarised (see checks/load/logs)."""
    logs: list[tuple[str, str]] = []
    for log in sorted(workdir.glob("*.log")):
        try:
            logs.append((log.stem, log.read_text(errors="replace")))
        except OSError:
            continue
    return summarize_errors(logs, limit)


def tail(path: Path, lines: int = 15) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return []
