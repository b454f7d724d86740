"""Running a drill's script: its own session (so its whole process group can be killed),
a clean environment, output captured up to a bound, and a hard timeout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

MAX_OUTPUT = 64 * 1024
"""Bytes of output kept (the first half and the last half of a longer stream)."""
GRACE_S = 2.0
"""Between SIGTERM and SIGKILL of a script that ran out of time."""
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SYSTEMROOT")
"""The only variables of preprod's own environment a script inherits: the bot's tokens
are no business of a drill."""


@dataclass(frozen=True)
class ScriptRun:
    exit_code: int | None
    """None when the script was killed at its timeout."""
    output: str
    seconds: float
    timed_out: bool = False
    truncated: bool = False


class _Tail:
    """The first and last ``MAX_OUTPUT / 2`` bytes of a stream."""

    def __init__(self) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def feed(self, chunk: bytes) -> None:
        room = MAX_OUTPUT // 2 - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        if len(self.tail) > MAX_OUTPUT // 2:
            cut = len(self.tail) - MAX_OUTPUT // 2
            self.dropped += cut
            del self.tail[:cut]

    def text(self) -> str:
        middle = f"\n[... {self.dropped} bytes of output left out ...]\n" if self.dropped else ""
        return (bytes(self.head).decode(errors="replace") + middle
                + bytes(self.tail).decode(errors="replace"))  # fmt: skip


def script_environment(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in PASSED_THROUGH}
    return {**env, **extra}


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _drain(stream: asyncio.StreamReader, sink: _Tail) -> None:
    while chunk := await stream.read(65536):
        sink.feed(chunk)


async def run_script(
    argv: list[str], *, env: dict[str, str], cwd: Path | None, timeout: float
) -> ScriptRun:
    """Run ``argv`` to its end or its timeout; raises OSError when it cannot start. Its
    process group is killed on the way out whatever happens (a timeout, a cancelled
    check, or leftover background children of a script that exited)."""
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    sink = _Tail()
    assert proc.stdout is not None
    reader = asyncio.create_task(_drain(proc.stdout, sink))
    timed_out = False
    try:
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            timed_out = True
            kill_group(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), GRACE_S)
            except TimeoutError:
                kill_group(proc.pid)
                await proc.wait()
    finally:
        kill_group(proc.pid)
        if proc.returncode is None:
            await asyncio.shield(proc.wait())
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(reader, GRACE_S)  # a child in another session may hold the pipe
    seconds = time.monotonic() - started
    code = None if timed_out else proc.returncode
    return ScriptRun(code, sink.text(), seconds, timed_out, sink.dropped > 0)
