"""Helper processes for the demos and benchmarks: started in the background with their
output in a log file, stopped on exit, and waited for until they answer HTTP; and the
Slack side the Slack and pipeline demos share (the stand-in, and `preprod serve` set up
for it and for the example target)."""

from __future__ import annotations

import errno
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from examples.target.launch import RunningTarget
from slack_standin.oidc import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from slack_standin.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
SLACK_SECRET, SLACK_TOKEN = "demo-signing-secret", "xoxb-demo-token"


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


def stop_on_sigterm() -> None:
    """``kill PID`` stops a demo as Ctrl-C does: the handler raises KeyboardInterrupt, so
    every ``with`` block on the way out stops its process. Without it, SIGTERM ended the
    demo at once and left the target, the stand-in and the bot holding their ports."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


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


@dataclass(frozen=True)
class SlackSide:
    """The running Slack stand-in (``standin``: its web view and API) and bot (``bot``)."""

    standin: str
    bot: str
    logs: dict[str, Path]


def start_slack_side(
    stack: ExitStack,
    *,
    port: int,
    bot_port: int,
    state: Path,
    target: RunningTarget,
    config: Path,
    env: dict[str, str] | None = None,
) -> SlackSide:
    """The Slack stand-in on ``port`` and ``preprod serve`` on ``bot_port`` (its database
    in ``state``, checking ``target`` with ``config``; ``env`` adds settings), until
    ``stack`` closes; returns once both answer HTTP."""
    standin, bot = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bot_port}"
    logs = {"standin": state / "standin.log", "bot": state / "bot.log"}
    standin_proc = stack.enter_context(background(
        [sys.executable, "-m", "slack_standin", "--port", str(port), "--signing-secret",
         SLACK_SECRET, "--token", SLACK_TOKEN, "--bot-url", f"{bot}/slack/events"],
        {}, logs["standin"]))  # fmt: skip
    bot_proc = stack.enter_context(background(
        [sys.executable, "-m", "bot.cli", "serve", "--port", str(bot_port)],
        {"SLACK_BOT_TOKEN": SLACK_TOKEN, "SLACK_SIGNING_SECRET": SLACK_SECRET,
         "SLACK_API_URL": f"{standin}/api/", "PREPROD_CONFIG": str(config),
         "DATABASE_URL": f"sqlite:///{state}/preprod.db", "PREPROD_PUBLIC_URL": bot,
         "TARGET_HTTPS_URL": target.https_url, "TARGET_CA_BUNDLE": str(target.ca_bundle),
         "TARGET_TOKEN": target.token, "PRODUCTION_URL": target.production_url,
         "TARGET_SCAN_REPORT": str(target.ca_bundle.parent / "trivy.json"),
         # Sign in with Slack for the pages: the stand-in is the OpenID provider
         "PREPROD_OIDC_ISSUER": standin, "PREPROD_SLACK_CLIENT_ID": DEFAULT_CLIENT_ID,
         "PREPROD_SLACK_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
         "PREPROD_SLACK_TEAM_ID": Workspace.team_id,
         # serve refuses sign-in without its own cookie key: a fresh one per demo
         "PREPROD_SESSION_SECRET": secrets.token_hex(32), **(env or {})},
        logs["bot"]))  # fmt: skip
    wait_http(f"{bot}/healthz", proc=bot_proc, log=logs["bot"])
    wait_http(f"{standin}/", proc=standin_proc, log=logs["standin"])
    return SlackSide(standin, bot, logs)
