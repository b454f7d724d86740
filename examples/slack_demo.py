"""`make demo-slack`: the whole Slack flow in a browser, without a Slack workspace.

Starts the example target, the local Slack stand-in (with a web view of the channel, a
user switcher and the bot's buttons) and `preprod serve`, then waits until Ctrl-C.
`--once` drives one run through it and exits (a smoke test of the set-up).
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from examples.processes import background, wait_http  # noqa: E402
from examples.target.launch import start_target  # noqa: E402

STATE = ROOT / ".preprod" / "slack-demo"
USERS = ["U0RM=rita (release manager)", "U0SRE1=sam (SRE)", "U0SRE2=sue (SRE)",
         "U0SEC1=sid (security)", "U0CMP1=casey (compliance)"]  # fmt: skip
SECRET, TOKEN = "demo-signing-secret", "xoxb-demo-token"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=3001, help="the stand-in's web view")
    parser.add_argument("--bot-port", type=int, default=3000)
    parser.add_argument("--once", action="store_true", help="run one validation and exit")
    args = parser.parse_args()
    STATE.mkdir(parents=True, exist_ok=True)
    standin, bot = f"http://127.0.0.1:{args.port}", f"http://127.0.0.1:{args.bot_port}"
    with ExitStack() as stack:
        target = stack.enter_context(start_target(state_dir=STATE / "target"))
        users = [arg for user in USERS for arg in ("--user", user.split(" (")[0])]
        stack.enter_context(background(
            [sys.executable, "-m", "slack_standin", "--port", str(args.port), "--signing-secret",
             SECRET, "--token", TOKEN, "--bot-url", f"{bot}/slack/events", *users],
            {}, STATE / "standin.log"))  # fmt: skip
        stack.enter_context(background(
            [sys.executable, "-m", "bot.cli", "serve", "--port", str(args.bot_port)],
            {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
             "SLACK_API_URL": f"{standin}/api/", "PREPROD_CONFIG": str(HERE / "preprod.yml"),
             "DATABASE_URL": f"sqlite:///{STATE}/preprod.db", "PREPROD_PUBLIC_URL": bot,
             "TARGET_HTTPS_URL": target.https_url, "TARGET_CA_BUNDLE": str(target.ca_bundle),
             "TARGET_TOKEN": target.token},
            STATE / "bot.log"))  # fmt: skip
        wait_http(f"{bot}/healthz", hint=f"; see the logs in {STATE}")
        wait_http(f"{standin}/", hint=f"; see the logs in {STATE}")
        if args.once:
            return smoke(standin)
        print(f"Open {standin}/ in a browser. Act as rita and type:\n"
              "    /preprod start checkout-api 2.14.0 staging\n"
              "then switch to sam, sid and casey to tick, waive and sign off.\n"
              f"Reports: {bot}/runs    Logs: {STATE}    Ctrl-C stops everything.")  # fmt: skip
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("\nstopped")
    return 0


def smoke(standin: str) -> int:
    """Type the start command as rita and wait for the sign-off panel."""
    form = {"as": "U0RM", "in": "C0RELEASES", "text": "start checkout-api 2.14.0 staging"}
    httpx.post(f"{standin}/ui/command", data=form, timeout=10)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        page = httpx.get(f"{standin}/", params={"as": "U0SRE1"}, timeout=10).text
        if "Approve" in page:
            print("ok: the run finished and the sign-off panel is in the thread")
            return 0
        time.sleep(1)
    print("the sign-off panel did not appear; see the logs in", STATE)
    return 1


if __name__ == "__main__":
    sys.exit(main())
