"""The processes and the clicker of bench/pipelines.py: the Slack stand-in (in this
process, one channel per environment), optionally the GitHub stand-in, one real
``preprod serve --workers N`` configured for both, its peak RSS, and the signed clicks
that decide a run once its sign-off panel shows its buttons.

Why one channel per environment: the bot posts at Slack's pace of about one message a
second per channel, and a run costs five posts, so 500 runs in one channel would take
over forty minutes of posting alone. The config gives each of ``environments``
environments its own channel (``environments.<name>.channel``); Slack's own limits are
untouched in the bot and the stand-in (``chat.update``, Tier 3, is workspace-wide:
about 50 calls a minute; the updates trail behind the runs, nothing waits on them)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from contextlib import suppress
from pathlib import Path

import httpx

from bench.chaos_tally import message_key
from bench.pipelines_figures import children, peak_rss_kib
from bot.github.settings import API_URL_ENV, APP_ID_ENV, PRIVATE_KEY_ENV, WEBHOOK_SECRET_ENV
from bot.slack.actions import APPROVE, REASON_BLOCK, REASON_INPUT, REJECT, REJECT_MODAL
from examples.target.launch import RunningTarget
from github_standin import GitHubStandIn
from slack_standin import Message, SlackStandIn
from tests.support.processes import alive, free_port, preprod_command, stop
from tests.support.workspace import CHANNEL, USERS

SIGNER = "U0SRE1"
REPOSITORY = ("acme", "checkout")
HEAD = """\
channel: {channel}
roles:
  sre: {{label: SRE, members: [U0SRE1]}}
policy: {{required_signoffs: [sre]}}
plans:
  light:
    checks:
      - {{id: health, type: http, requests: [{{path: /healthz}}]}}
environments:
"""


def environment(n: int) -> str:
    return f"staging-{n}"


def channel_of(n: int) -> str:
    """Environment ``n``'s channel (the first one is the release channel)."""
    return CHANNEL if n == 0 else f"C0PIPE{n:03d}"


def github_environment(n: int) -> str:
    return f"production-{n}"


def config_text(url: str, environments: int, github: bool) -> str:
    """preprod.yml: ``environments`` environments, each in its own channel, and with
    ``github`` the repository's environments ``production-N`` mapped onto them."""
    lines = [HEAD.format(channel=CHANNEL)]
    for n in range(environments):
        lines.append(
            f'  {environment(n)}: {{base_url: "{url}", plan: light, channel: {channel_of(n)}}}\n'
        )
    if github:
        lines.append(
            f"github:\n  repositories:\n    {'/'.join(REPOSITORY)}:\n      environments:\n"
        )
        for n in range(environments):
            target = f"{{service: checkout-api, environment: {environment(n)}}}"
            lines.append(f"        {github_environment(n)}: {target}\n")
    return "".join(lines)


class Serve:
    """The stand-ins and one ``preprod serve`` configured for them; stopped by pid."""

    def __init__(
        self,
        tmp: Path,
        database_url: str,
        target: RunningTarget,
        *,
        workers: int = 2,
        environments: int = 1,
        github: bool = False,
    ) -> None:
        self.tmp, self.database_url, self.target = tmp, database_url, target
        self.workers, self.environments = workers, environments
        channels = {channel_of(n): f"releases-{n}" for n in range(environments)}
        self.standin = SlackStandIn(users=USERS, channels=channels)
        self.github = GitHubStandIn() if github else None
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.token = ""
        self.env: dict[str, str] = {}
        self.rss_kib: dict[str, int] = {}
        self.pids: list[int] = []

    async def start(self) -> None:
        await self.standin.start()
        config = self.tmp / "preprod.yml"
        config.write_text(
            config_text(self.target.http_url, self.environments, self.github is not None)
        )
        self.env = {
            **os.environ,
            "SLACK_BOT_TOKEN": self.standin.token,
            "SLACK_SIGNING_SECRET": self.standin.signing_secret,
            "SLACK_API_URL": self.standin.api_url,
            "PREPROD_CONFIG": str(config),
            "DATABASE_URL": self.database_url,
        }
        if self.github is not None:
            await self.github.start()
            key = self.tmp / "app.pem"
            key.write_text(self.github.app_info.private_key_pem)
            self.env |= {
                APP_ID_ENV: str(self.github.app_info.app_id),
                PRIVATE_KEY_ENV: str(key),
                WEBHOOK_SECRET_ENV: self.github.app_info.webhook_secret,
                API_URL_ENV: self.github.url,
            }
        await self.cli_once("db", "upgrade")
        created = await self.cli_once(
            "tokens", "create", "bench", "--service", "*", "--environment", "*"
        )
        self.token = created.strip().splitlines()[-1]
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.standin.bot_url = f"{self.url}/slack/events"
        if self.github is not None:
            self.github.hooks.url = f"{self.url}/github/webhook"
        with (self.tmp / "serve.log").open("wb") as log:
            self.process = subprocess.Popen(
                preprod_command("serve", "--port", str(port), "--workers", str(self.workers)),
                cwd=self.tmp,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        async with httpx.AsyncClient(timeout=2) as http:
            deadline = time.monotonic() + 180  # a shared, busy machine starts slowly
            while time.monotonic() < deadline and self.process.poll() is None:
                with suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        tail = (self.tmp / "serve.log").read_text(errors="replace").splitlines()[-15:]
        raise SystemExit("preprod serve did not come up:\n" + "\n".join(tail))

    async def cli_once(self, *args: str) -> str:
        done = await asyncio.to_thread(
            subprocess.run,
            preprod_command(*args),
            cwd=self.tmp,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise SystemExit(f"preprod {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def sample_rss(self) -> None:
        if self.process is None:
            return
        pids = {"serve": self.process.pid}
        pids |= {f"worker {n}": p for n, p in enumerate(sorted(children(self.process.pid)), 1)}
        for name, pid in pids.items():
            if pid not in self.pids:
                self.pids.append(pid)
            self.rss_kib[name] = max(self.rss_kib.get(name, 0), peak_rss_kib(pid))

    async def watch_rss(self) -> None:
        while True:
            self.sample_rss()
            await asyncio.sleep(1)

    async def stop(self) -> None:
        if self.process is not None:
            self.sample_rss()
            workers = children(self.process.pid)
            await asyncio.to_thread(stop, self.process)  # SIGTERM; its workers stop with it
            deadline = time.monotonic() + 15
            while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            for pid in workers:  # by pid, only if one outlived its grace
                if alive(pid):
                    with suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        if self.github is not None:
            await self.github.stop()
        await self.standin.stop()

    # -- what Slack shows, and the clicks ---------------------------------------------

    def by_key(self) -> dict[str, tuple[str, Message]]:
        """Every channel's messages (and replies) by outbox key, with their channel."""
        found: dict[str, tuple[str, Message]] = {}
        for n in range(self.environments):
            channel = channel_of(n)
            for message in self.standin.channel(channel).all_messages:
                if (key := message_key(message)) is not None:
                    found.setdefault(key, (channel, message))
        return found

    def announcements(self, run_id: int) -> list[str]:
        """The channel of each announcement of run ``run_id``'s decision."""
        key = f"run:{run_id}:decision"
        return [
            channel_of(n)
            for n in range(self.environments)
            for m in self.standin.channel(channel_of(n)).all_messages
            if message_key(m) == key
        ]

    def panels(self) -> dict[int, tuple[str, Message]]:
        """Run id -> its sign-off panel, for the panels that show their buttons."""
        found = {}
        for key, (channel, message) in self.by_key().items():
            parts = key.split(":")
            is_panel = len(parts) == 3 and parts[2] == "panel" and parts[1].isdigit()
            if is_panel and "Approve" in message.button_labels():
                found[int(parts[1])] = (channel, message)
        return found

    async def decide(self, channel: str, panel: Message, intent: str) -> tuple[float, float, str]:
        """Approve (``go``) or reject with a reason; the deciding moment (the click, or
        the modal's submission), the seconds its ack took, and a problem ('' if none)."""
        block = "signoff:sre"
        if intent == "go":
            clicked = time.monotonic()
            answer = await self.standin.click(SIGNER, panel.ts, channel, APPROVE, block_id=block)
        else:
            await self.standin.click(SIGNER, panel.ts, channel, REJECT, block_id=block)
            deadline = time.monotonic() + 10
            while not self.standin.modals(SIGNER) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if not self.standin.modals(SIGNER):
                return time.monotonic(), 0.0, "no reject modal within 10 s"
            clicked = time.monotonic()
            reason = {REASON_BLOCK: {REASON_INPUT: "rejected by the bench"}}
            answer = await self.standin.submit_view(SIGNER, REJECT_MODAL, reason)
        problem = "" if answer.status_code == 200 else f"the click answered {answer.status_code}"
        return clicked, time.monotonic() - clicked, problem
