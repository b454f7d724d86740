"""Separation of duties under a race: two real `preprod serve` replicas on one database,
the same person's actions sent to both at the same moment.

Two kinds of round, each on a run of its own requested by rita (U0RM, in SRE):

- **two roles**: sue (U0SRE2, in SRE and Security) approves SRE and Security at once,
  one action on each replica, mixing signed Slack `block_actions` (through the stand-in's
  signed sender) and dashboard `POST /runs/N/act` (a signed-in session). A violation is a
  run with two sign-offs by sue.
- **requester**: rita approves SRE, waives the failed check and ticks the on-call item at
  once (Slack and the dashboard, both replicas). A violation is any row of hers stored.

    python bench/sod_race.py --rounds 200 --database both

prints, per database and kind: rounds, actions sent, stored, refused, violations (must be
0) and the time. tests/test_sod_race.py runs a few rounds of each on both databases."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.config.loader import load_config  # noqa: E402
from bot.engine.request import RunRequest  # noqa: E402
from bot.engine.runner import Engine  # noqa: E402
from bot.gate.view import Target  # noqa: E402
from bot.slack.actions import APPROVE, ATTEST, WAIVE  # noqa: E402
from bot.store.audit_log import AuditLog  # noqa: E402
from bot.store.runs import RunStore  # noqa: E402
from examples.processes import wait_http  # noqa: E402
from examples.target.launch import RunningTarget, start_target  # noqa: E402
from slack_standin import SlackStandIn  # noqa: E402
from tests.support.postgres import PostgresUnavailable, running_postgres  # noqa: E402
from tests.support.processes import Bot, Bots, free_port, until  # noqa: E402
from tests.support.signin import signed_in  # noqa: E402
from tests.support.workspace import CHANNEL, USERS  # noqa: E402

RITA, SUE = "U0RM", "U0SRE2"
JUSTIFICATION = "the missing page is a known gap, fixed next sprint"
CONFIG = """\
channel: C0RELEASES
roles:
  sre: {{label: SRE, members: [U0SRE1, U0SRE2, U0RM]}}
  security: {{label: Security, members: [U0SRE2, U0SEC1]}}
policy:
  required_signoffs: [sre, security]
  waivers_by: [sre]
  one_role_per_person: true
environments:
  staging: {{base_url: {url}, plan: standard}}
plans:
  standard:
    checks:
      - {{id: smoke, type: http, requests: [{{path: /healthz}}]}}
      - {{id: missing, type: http, critical: false, requests: [{{path: /no-such-page}}]}}
    attestations:
      - {{id: oncall, text: On-call rotation staffed, role: sre}}
"""
PAIRINGS = (("slack", "web"), ("web", "slack"), ("slack", "slack"), ("web", "web"))
"""How sue's two approvals travel (SRE's, Security's), round after round."""


@dataclass
class Figures:
    kind: str
    database: str
    rounds: int = 0
    sent: int = 0
    stored: int = 0
    refused: int = 0
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"{self.database:10} {self.kind:10} rounds={self.rounds} sent={self.sent} "
            f"stored={self.stored} refused={self.refused} "
            f"violations={len(self.violations)} time={self.seconds:.1f}s"
        )


@dataclass(frozen=True)
class Outcome:
    verified: bool
    """The audit trail still verifies."""
    tracebacks: int
    """Tracebacks in the replicas' logs (must be 0)."""


class Race:
    """Two replicas, a stand-in Slack, a session per person on each replica."""

    def __init__(self, group: Bots, replicas: list[Bot], anchor: str) -> None:
        self.group = group
        self.replicas = replicas
        self.anchor = anchor
        """A sign-off panel in the channel: clicks carry their own run in their value."""
        self.web: dict[tuple[str, int], tuple[httpx.AsyncClient, str]] = {}

    async def sign_in(self, users: list[str], run_id: int) -> None:
        for user in users:
            for index, replica in enumerate(self.replicas):
                client = await signed_in(replica.url, self.group.standin, user)
                page = (await client.get(f"/runs/{run_id}")).text
                token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
                self.web[(user, index)] = (client, token)

    async def close(self) -> None:
        for client, _ in self.web.values():
            await client.aclose()

    async def click(self, replica: int, user: str, action: str, target: Target) -> str:
        """A signed ``block_actions`` to one replica. The stand-in reads its ``bot_url``
        before its first await, so setting it here picks the replica of this click."""
        standin = self.group.standin
        standin.bot_url = self.replicas[replica].events_url
        answer = await standin.click(user, self.anchor, CHANNEL, action, value=target.encode())
        return f"slack {answer.status_code}"

    async def post(
        self, replica: int, user: str, action: str, target: Target, text: str = ""
    ) -> str:
        client, token = self.web[(user, replica)]
        form = {"csrf": token, "action": action, "subject": target.subject,
                "generation": str(target.generation), "text": text}  # fmt: skip
        answer = await client.post(f"/runs/{target.run_id}/act", data=form)
        return f"web {answer.status_code}"

    def rows(self, run_id: int, user: str) -> dict[str, int]:
        counts = {}
        for table in ("signoff", "waiver", "attestationtick"):
            sql = f"SELECT count(*) FROM {table} WHERE run_id = {run_id} AND \"user\" = '{user}'"
            counts[table] = int(self.group.query(sql)[0][0])
        return counts

    async def two_roles(self, run_id: int, n: int, figures: Figures) -> None:
        """Sue approves SRE and Security at once, one on each replica."""
        sre, security = Target(run_id, 1, "sre"), Target(run_id, 1, "security")
        ways = PAIRINGS[n % len(PAIRINGS)]
        first = n % 2  # which replica takes SRE's
        sends: list[Awaitable[str]] = []
        for (way, target), replica in zip(((ways[0], sre), (ways[1], security)),
                                          (first, 1 - first), strict=True):  # fmt: skip
            if way == "slack":
                sends.append(self.click(replica, SUE, APPROVE, target))
            else:
                sends.append(self.post(replica, SUE, "approve", target))
        await asyncio.gather(*sends)
        stored = self.rows(run_id, SUE)["signoff"]
        figures.rounds += 1
        figures.sent += 2
        figures.stored += stored
        figures.refused += 2 - stored
        if stored > 1:
            figures.violations.append(f"run {run_id}: sue signed {stored} roles")

    async def requester(self, run_id: int, n: int, figures: Figures) -> None:
        """Rita approves, waives and ticks her own run at once, on both replicas."""
        a, b = n % 2, 1 - n % 2
        sre, check, item = (Target(run_id, 1, s) for s in ("sre", "missing", "oncall"))
        sends = [
            self.click(a, RITA, APPROVE, sre),
            self.post(b, RITA, "approve", sre),
            self.post(a, RITA, "waive", check, JUSTIFICATION),
            self.post(b, RITA, "tick", item, "PD-4711"),
            self.click(b, RITA, WAIVE, check),  # would open the waiver's modal
            self.click(a, RITA, ATTEST, item),  # would open the tick's modal
        ]
        await asyncio.gather(*sends)
        stored = sum(self.rows(run_id, RITA).values())
        figures.rounds += 1
        figures.sent += len(sends)
        figures.stored += stored
        figures.refused += len(sends) - stored
        if stored:
            figures.violations.append(f"run {run_id}: the requester's {stored} actions stored")


def write_config(tmp: Path, target: RunningTarget) -> Path:
    path = tmp / "preprod.yml"
    path.write_text(CONFIG.format(url=target.http_url))
    return path


async def make_runs(config_path: Path, database_url: str, tmp: Path, count: int) -> list[int]:
    """``count`` finished runs requested by rita, awaiting sign-offs (stored by the real
    engine before the replicas start, so no replica claims one half-done)."""
    config = load_config(config_path)
    store = RunStore(database_url)
    engine = Engine(config, store, tmp / "work")
    made = []
    for n in range(count):
        request = RunRequest(f"svc-{n}", "1.0.0", "staging", requester=RITA, source="slack")
        report = await engine.run(request)
        assert report.run_id is not None
        made.append(report.run_id)
    store.engine.dispose()
    return made


async def serve(group: Bots) -> Bot:
    """A ``preprod serve`` replica whose public URL is its own (Sign in with Slack returns
    to it)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    bot = group.spawn("serve", "--port", str(port), env={**group.env, "PREPROD_PUBLIC_URL": url})
    bot.url = url
    await asyncio.to_thread(wait_http, f"{url}/healthz", 30, proc=bot.proc, log=bot.log)
    return bot


async def anchor_panel(group: Bots, replica: Bot) -> str:
    """Start one run from Slack and wait for its sign-off panel (the message clicked)."""
    group.standin.bot_url = replica.events_url
    ack = await group.command(replica, "start anchor 1.0.0 staging", user="U0SRE1")
    assert "Starting the validation" in ack, ack

    def panel() -> str | None:
        for parent in group.parents():
            for message in group.standin.thread(CHANNEL, parent.ts):
                if message.button_labels():
                    return message.ts
        return None

    await until(lambda: panel() is not None, timeout=60, message="no sign-off panel")
    found = panel()
    assert found is not None
    return found


async def play(the_race: Race, runs: list[int], rounds: int, name: str) -> list[Figures]:
    """``rounds`` of sue's two roles on the first runs, then of the requester's own run."""
    two, own = Figures("two roles", name), Figures("requester", name)
    started = time.monotonic()
    for n, run_id in enumerate(runs[:rounds]):
        await the_race.two_roles(run_id, n, two)
    two.seconds = time.monotonic() - started
    started = time.monotonic()
    for n, run_id in enumerate(runs[rounds:]):
        await the_race.requester(run_id, n, own)
    own.seconds = time.monotonic() - started
    return [two, own]


async def race(
    database_url: str, tmp: Path, target: RunningTarget, rounds: int, name: str
) -> tuple[list[Figures], Outcome]:
    """``rounds`` of each kind on ``database_url``; the figures, whether the audit trail
    still verifies and the tracebacks the replicas logged."""
    config = write_config(tmp, target)
    runs = await make_runs(config, database_url, tmp, 2 * rounds)
    standin = SlackStandIn(users=USERS, channels={CHANNEL: "releases"})
    await standin.start()
    env = {
        "PREPROD_OIDC_ISSUER": standin.url,
        "PREPROD_SLACK_CLIENT_ID": standin.oidc.client_id,
        "PREPROD_SLACK_CLIENT_SECRET": standin.oidc.client_secret,
        "PREPROD_SLACK_TEAM_ID": standin.workspace.team_id,
        "PREPROD_SESSION_SECRET": "sod-race-session-secret",
    }
    group = Bots(standin, config, tmp, database_url, None, **env)
    try:
        replicas = [await serve(group), await serve(group)]
        the_race = Race(group, replicas, await anchor_panel(group, replicas[0]))
        try:
            await the_race.sign_in([SUE, RITA], runs[0])
            figures = await play(the_race, runs, rounds, name)
        finally:
            await the_race.close()
        store = RunStore(database_url)
        verified = (await AuditLog(store).verify()).ok
        store.engine.dispose()
        return figures, Outcome(verified, group.logs().count("Traceback"))
    finally:
        await asyncio.to_thread(group.stop_all)
        await standin.stop()


@contextmanager
def temp_dir(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sod-race-"))
    try:
        yield path
    finally:
        if keep:
            print(f"kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="rounds of each kind")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds >= 1")
    lines, failed = [], False
    with ExitStack() as stack:
        tmp = stack.enter_context(temp_dir(args.keep))
        target = stack.enter_context(start_target(state_dir=tmp / "target"))
        chosen = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
        for name in chosen:
            if name == "sqlite":
                url = f"sqlite:///{tmp / 'sqlite' / 'bot.db'}"
            else:
                try:
                    url = stack.enter_context(running_postgres())
                except PostgresUnavailable as exc:
                    raise SystemExit(f"no PostgreSQL: {exc}") from None
            work = tmp / name
            work.mkdir(exist_ok=True)
            figures, outcome = asyncio.run(race(url, work, target, args.rounds, name))
            for each in figures:
                lines.append(each.line())
                lines += [f"  violation: {v}" for v in each.violations[:10]]
                failed |= bool(each.violations)
            lines.append(
                f"{name:10} audit trail verifies: {outcome.verified}; "
                f"tracebacks logged: {outcome.tracebacks}"
            )
            failed |= not outcome.verified or outcome.tracebacks > 0
    print("\n".join(lines))
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
