"""What does a digest cost in Web API calls, with 500 runs awaiting 200 people?

500 finished runs (each with its thread in the local Slack stand-in, which enforces
Slack's rate tiers) await four roles of 50 people each. The bot's digest job runs twice:
cold (it opens every person's DM channel: ``conversations.open`` is Tier 3, 50 a minute,
so this takes minutes) and warm (the next day: the DM channels are known). Prints the
calls per method, the bound ``people + channel messages + permalinks`` (+ opens, cold),
any 429 and the wall time of each.

    .venv/bin/python bench/digest.py [--runs 500] [--people 200]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import time_machine  # noqa: E402

from bot.config.loader import load_config  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store.models import Run, RunStatus, SlackThread  # noqa: E402
from bot.store.runs import RunStore  # noqa: E402
from bot.web.bot import build_bot  # noqa: E402
from checks.base import CheckResult, Status  # noqa: E402
from slack_standin import SlackStandIn  # noqa: E402
from slack_standin.server import RecordedCall  # noqa: E402
from slack_standin.webapi import post  # noqa: E402

CHANNEL = "C0RELEASES"
ROLES = ("sre", "security", "compliance", "qa")
CONFIG = """\
channel: C0RELEASES
timezone: UTC
roles:
{roles}
policy: {{signoff_deadline: 7d, requester_may_sign: false}}
schedule: {{digest: "0 9 * * *", working_hours: null, nudge_after: null}}
environments:
  staging: {{base_url: "http://127.0.0.1:1", plan: p}}
plans:
  p: {{checks: [{{id: smoke, type: http, requests: [{{path: /}}]}}]}}
"""


def people(count: int) -> list[str]:
    return [f"U0P{i:04d}" for i in range(count)]


async def seed(store: RunStore, standin: SlackStandIn, runs: int) -> None:
    """Finished runs awaiting every role, each with a parent message in the channel."""
    channel = standin.channel(CHANNEL)
    for number in range(runs):
        run = await store.create_run(
            Run(
                service=f"svc-{number}",
                version="1.0.0",
                environment="staging",
                plan="p",
                base_url="http://127.0.0.1:1",
                requester="U0RM",
                source="slack",
            ),
            [("smoke", "http", True)],
        )
        assert run.id is not None
        await store.save_result(
            run.id, CheckResult(check_id="smoke", status=Status.PASSED, summary="ok")
        )
        await store.finish_run(run.id, RunStatus.FINISHED)
        parent = post(standin.workspace, channel, f"Pre-production validation {number}", [])
        await store.save_thread(SlackThread(run_id=run.id, channel=CHANNEL, parent_ts=parent.ts))


async def measure(runs: int, count: int) -> None:
    users = people(count)
    standin = SlackStandIn(
        users={u: u.lower() for u in [*users, "U0RM"]},
        channels={CHANNEL: "releases"},
        enforce_rate_limits=True,
    )
    await standin.start()
    per_role = max(count // len(ROLES), 1)
    roles = "\n".join(
        f"  {role}: {{members: [{', '.join(users[i * per_role : (i + 1) * per_role])}]}}"
        for i, role in enumerate(ROLES)
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "preprod.yml"
        path.write_text(CONFIG.format(roles=roles))
        settings = Settings(
            bot_token=standin.token,
            signing_secret=standin.signing_secret,
            api_url=standin.api_url,
            config_path=str(path),
            database_url=f"sqlite:///{tmp}/bench.db",
        )
        bot = build_bot(settings, load_config(path))
        started = time.perf_counter()
        await seed(bot.store, standin, runs)
        print(f"seeded {runs} runs awaiting {len(ROLES)} roles of {per_role} people "
              f"in {time.perf_counter() - started:.1f}s")  # fmt: skip
        day = datetime.now(UTC).replace(hour=9, minute=0, second=5, microsecond=0)
        try:
            for label, when in (("cold", day), ("warm, next day", day + timedelta(days=1))):
                before = len(standin.calls)
                with time_machine.travel(when, tick=True):
                    started = time.perf_counter()
                    sent = await bot.reminders.digest()
                    wall = time.perf_counter() - started
                calls = standin.calls[before:]
                report(label, calls, sent.messages, wall, per_role * len(ROLES))
        finally:
            await bot.aclose()
            await standin.stop()


def report(label: str, calls: list[RecordedCall], messages: int, wall: float, awaited: int) -> None:
    methods = Counter(c.method for c in calls)
    limited = sum(1 for c in calls if c.status == 429)
    permalinks = methods["chat.getPermalink"]
    bound = awaited + 1 + permalinks + methods["conversations.open"]
    print(f"\n{label}: {messages} messages sent in {wall:.1f}s, {limited} answered 429")
    for method, number in sorted(methods.items()):
        print(f"  {method:24} {number}")
    print(f"  total {sum(methods.values())}; bound people + channel + permalinks"
          f" (+ DM opens) = {awaited} + 1 + {permalinks} + {methods['conversations.open']}"
          f" = {bound}")  # fmt: skip
    if sum(methods.values()) > bound or limited:
        print("  OVER THE BOUND or rate limited")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--people", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(measure(args.runs, args.people))


if __name__ == "__main__":
    main()
