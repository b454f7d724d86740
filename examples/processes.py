"""Helper processes for the demos and benchmarks: started in the background with their
output in a log file, stopped on exit, and waited for until they answer HTTP."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def ports_in_use(ports: dict[str, int], host: str = "127.0.0.1") -> list[str]:
    """One line per port that cannot be listened on (``port 3000 is in use (the bot)``),
    checked before anything starts so a clash is named at once, not after a timeout."""
    problems: list[str] = []
    seen: dict[int, str] = {}
    for what, port in ports.items():
        if port in seen:
            problems.append(f"port {port} is given twice ({seen[port]} and {what})")
            continue
        seen[port] = what
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
            try:
                sock.bind((host, port))
            except OSError as exc:
                why = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be used: {exc}"
                problems.append(f"port {port} {why} ({what})")
    return problems


@contextmanager
def background(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` from the repository root until the block ends (terminate, then kill)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_http(
    url: str,
    timeout: float = 30.0,
    hint: str = "",
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    """Until ``url`` answers 200; SystemExit (with ``hint``) if it does not in time, or at
    once, with the end of its ``log``, if ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-15:] if log else []
            where = f"; the end of {log}:\n  " + "\n  ".join(tail) if tail else hint
            raise SystemExit(f"exited with code {proc.returncode} before {url} answered{where}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not come up{hint}")
