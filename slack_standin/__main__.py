"""``python -m slack_standin --port P --bot-url URL --signing-secret S``: a local Slack
for the demo. The bot is pointed at ``http://127.0.0.1:P/api/`` (``SLACK_API_URL``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from slack_standin.server import DEFAULT_SECRET, DEFAULT_TOKEN, SlackStandIn

DEMO_USERS = ["U0RM=rita", "U0SRE1=sam", "U0SRE2=sue", "U0SEC1=sid", "U0CMP1=casey"]
"""Without ``--user``: a release manager and the members of examples/preprod.yml's roles
(sre: sam, sue; security: sid; compliance: casey), so its runs can reach GO."""


def _pairs(items: list[str]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in items)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m slack_standin", description=__doc__)
    p.add_argument("--port", type=int, default=3001, help="0 picks a free port")
    p.add_argument("--bot-url", default="", help="the bot's events URL (POST /slack/events)")
    p.add_argument("--signing-secret", default=DEFAULT_SECRET)
    p.add_argument("--token", default=DEFAULT_TOKEN, help="the bot token to accept")
    p.add_argument("--user", action="append", default=None, metavar="ID=NAME")
    p.add_argument("--usergroup", action="append", default=[], metavar="ID=U1,U2")
    p.add_argument("--channel", action="append", default=["C0RELEASES=releases"], metavar="ID=NAME")
    p.add_argument("--enforce-rate-limits", action="store_true")
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    """Serve until interrupted (uvicorn turns Ctrl-C into a clean exit)."""
    standin = SlackStandIn(
        signing_secret=args.signing_secret,
        bot_url=args.bot_url,
        token=args.token,
        users=_pairs(args.user or DEMO_USERS),
        usergroups={k: v.split(",") for k, v in _pairs(args.usergroup).items()},
        channels=_pairs(args.channel),
        enforce_rate_limits=args.enforce_rate_limits,
    )
    await standin.start(args.port)
    print(f"slack stand-in: SLACK_API_URL={standin.api_url} token={standin.token}", flush=True)
    try:
        await standin.server.wait()
    finally:
        await standin.stop()


def main(argv: list[str] | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl-C after its clean exit
        asyncio.run(run(parse(argv)))


if __name__ == "__main__":
    main()
