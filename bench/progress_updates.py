"""How many ``chat.update`` calls does a run with many progress events cost?

One run whose single check reports 50 progress events over a few seconds is streamed to
the local Slack stand-in through the real publisher and coalescer. Prints the number of
events, the calls that reached the stand-in, and the bound the coalescing interval sets.

    .venv/bin/python bench/progress_updates.py [--events 50] [--seconds 5] [--interval 1.5]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.config.loader import load_config  # noqa: E402
from bot.engine.request import RunRequest  # noqa: E402
from bot.engine.runner import Engine  # noqa: E402
from bot.slack.client import SlackClient  # noqa: E402
from bot.slack.coalesce import Coalescer  # noqa: E402
from bot.slack.publisher import ThreadPublisher  # noqa: E402
from bot.slack.state import RunState  # noqa: E402
from bot.store.runs import RunStore  # noqa: E402
from checks import registry  # noqa: E402
from checks.base import Check, CheckOptions, CheckResult  # noqa: E402
from checks.context import CheckContext  # noqa: E402
from slack_standin import SlackStandIn  # noqa: E402


class ChattyOptions(CheckOptions):
    events: int = 50
    seconds: float = 5.0


class ChattyCheck(Check[ChattyOptions]):
    """Reports progress ``events`` times, evenly over ``seconds``, like a load test."""

    type_name = "chatty"
    Options = ChattyOptions

    async def run(self, ctx: CheckContext) -> CheckResult:
        for i in range(self.options.events):
            ctx.progress(f"{i + 1} of {self.options.events}", step=i + 1)
            await asyncio.sleep(self.options.seconds / self.options.events)
        return CheckResult.passed("done")


async def measure(events: int, seconds: float, interval: float) -> None:
    registry.register(ChattyCheck.type_name, ChattyCheck)
    tmp = Path(tempfile.mkdtemp(prefix="preprod-bench-"))
    config_path = tmp / "preprod.yml"
    config_path.write_text(
        "environments: {staging: {base_url: 'http://127.0.0.1:9', plan: p}}\n"
        f"plans: {{p: {{checks: [{{id: chatty, type: chatty, events: {events}, "
        f"seconds: {seconds}}}]}}}}\n"
    )
    config = load_config(config_path)
    async with SlackStandIn() as standin:
        slack = SlackClient(standin.token, base_url=standin.api_url)
        coalescer = Coalescer.for_messages(slack, interval=interval)
        engine = Engine(config, RunStore(f"sqlite:///{tmp}/bench.db"))
        request = RunRequest("svc", "1.0", "staging")
        run = await engine.start(request)
        publisher = ThreadPublisher(slack, coalescer, engine.store, RunState.from_run(run),
                                    "C0RELEASES")  # fmt: skip
        await publisher.open()
        engine.listeners.append(publisher)
        started = time.perf_counter()
        await engine.execute(run, request)
        await publisher.close()
        elapsed = time.perf_counter() - started
        await coalescer.aclose()
        await slack.aclose()
        updates = [call for call in standin.calls_to("chat.update") if call.ok]
    bound = math.ceil(elapsed / interval) + 1
    print(f"progress events      {events + 2} ({events} progress + start + finish)")
    print(f"run length           {elapsed:.1f} s, coalescing interval {interval:g} s")
    print(f"chat.update calls    {len(updates)} (bound by the interval: {bound})")
    print(f"updates per event    {len(updates) / (events + 2):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--interval", type=float, default=1.5)
    args = parser.parse_args()
    asyncio.run(measure(args.events, args.seconds, args.interval))


if __name__ == "__main__":
    main()
