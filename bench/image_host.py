"""The host side of ``bench/image.sh``: a Slack stand-in and a throw-away PostgreSQL on
127.0.0.1 for the image under test (it runs on the host's network), until SIGTERM.

``python -m bench.image_host FILE`` writes FILE, one ``NAME=value`` a line (the settings
the container needs: ``SLACK_API_URL``, ``SLACK_BOT_TOKEN``, ``SLACK_SIGNING_SECRET``,
``POSTGRES_URL``), once both answer; on SIGTERM or SIGINT it stops both."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from slack_standin import SlackStandIn
from tests.support.postgres import running_postgres
from tests.support.workspace import CHANNEL, USERS


def settings_text(api_url: str, token: str, secret: str, postgres_url: str) -> str:
    """The lines image.sh reads (no value holds a newline or an ``=`` in its name)."""
    values = {
        "SLACK_API_URL": api_url,
        "SLACK_BOT_TOKEN": token,
        "SLACK_SIGNING_SECRET": secret,
        "POSTGRES_URL": postgres_url,
    }
    return "".join(f"{name}={value}\n" for name, value in values.items())


async def serve(out: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    standin = SlackStandIn(users=USERS, channels={CHANNEL: "releases"})
    await standin.start()
    try:
        with running_postgres() as postgres_url:
            text = settings_text(
                standin.api_url, standin.token, standin.signing_secret, postgres_url
            )
            part = out.with_suffix(".part")
            part.write_text(text)
            part.rename(out)  # whole or absent: image.sh waits for the file
            await stop.wait()
    finally:
        await standin.stop()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m bench.image_host SETTINGS_FILE", file=sys.stderr)
        return 2
    asyncio.run(serve(Path(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
