"""`make demo-slack`: the whole Slack flow in a browser, without a Slack workspace.

Starts the example target (with the `contention` defect, so the non-critical load check
fails and can be waived), the local Slack stand-in with a web view of the channel, and
`preprod serve`, then waits until Ctrl-C. `--once` plays one run to GO through the web
view's HTTP endpoints and exits (a smoke test of the set-up).
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from examples.processes import ports_in_use, start_slack_side, stop_on_sigterm  # noqa: E402
from examples.target.defects import DEFECTS, UnknownDefectError, parse_defects  # noqa: E402
from examples.target.launch import start_target  # noqa: E402
from slack_standin.webclient import WebView  # noqa: E402

STATE = ROOT / ".preprod" / "slack-demo"
DEFAULT_DEFECTS = "contention"
SIGNERS = (("U0SRE1", "sre"), ("U0CMP1", "compliance"), ("U0SEC1", "security"))
"""Who approves for which role in examples/preprod.yml (sam, casey, sid), in order."""
START = "/preprod start checkout-api 2.14.0 staging"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=3001, help="the stand-in's web view")
    parser.add_argument("--bot-port", type=int, default=3000, help="preprod serve")
    parser.add_argument(
        "--defect",
        action="append",
        default=[],
        metavar="NAME[,NAME...]",
        help=f"defects to plant in the target (default {DEFAULT_DEFECTS}; 'none' for a "
        f"healthy target): {', '.join(DEFECTS)}",
    )
    parser.add_argument("--once", action="store_true", help="play one run to GO and exit")
    parser.add_argument("--state-dir", type=Path, default=STATE, help="logs, database, certs")
    args = parser.parse_args(argv)
    names = args.defect or [DEFAULT_DEFECTS]
    try:
        args.defects = [] if names == ["none"] else list(parse_defects(names))
    except UnknownDefectError as exc:
        parser.error(str(exc))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    clash = ports_in_use({"the bot, BOT_PORT": args.bot_port, "the web view, WEB_PORT": args.port})
    if clash:
        print("\n".join(clash), file=sys.stderr)
        print("Stop what uses it, or choose other ports: make demo-slack BOT_PORT=3100 "
              "WEB_PORT=3101", file=sys.stderr)  # fmt: skip
        return 2
    state: Path = args.state_dir
    state.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        target = stack.enter_context(start_target(*args.defects, state_dir=state / "target"))
        side = start_slack_side(stack, port=args.port, bot_port=args.bot_port, state=state,
                                target=target, config=HERE / "preprod.yml")  # fmt: skip
        standin, bot = side.standin, side.bot
        if args.once:
            return play(WebView(standin), state)
        planted = ", ".join(args.defects) or "none"
        print(f"Open {standin}/ in a browser. Acting as rita, type:\n"
              f"    {START}\n"
              "The checks take about 20 s. Then, in the run's thread:\n"
              "  - as sam (SRE): tick 'On-call rotation staffed', Waive the failed load check "
              "(a justification is asked), Approve for SRE\n"
              "  - as casey (compliance): tick 'DPIA approved', Approve for Compliance\n"
              "  - as sid (security): Approve for Security -> the bot announces GO\n"
              f"Target defects: {planted}.  Dashboard: {bot}/runs (sign in as anyone: the "
              f"stand-in asks who you are)  Logs: {state}\n"
              "Ctrl-C stops everything.", flush=True)  # fmt: skip
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("\nstopped")
    return 0


def play(view: WebView, state: Path, timeout: float = 120) -> int:
    """The banner's steps, through the web view: start, tick, waive, approve, GO."""
    view.send("U0RM", START)
    panel = view.wait_for_button("U0SRE1", "Approve", timeout)
    print(f"ok: the checks finished and the sign-off panel is in the thread ({panel.text!r})")
    sign_off(view)
    if view.wait_for_text("U0RM", "✅ GO", 20):
        print("ok: GO announced")
        return 0
    print("the run did not reach GO; see the logs in", state)
    return 1


def sign_off(view: WebView) -> float:
    """Once the sign-off panel is in the thread: tick the plan's items, waive a failed
    non-critical check, and approve as each role (a step the run does not offer, such as
    a tick on a plan without attestations, is left out). Returns the monotonic time just
    before the deciding click (the last approval)."""
    steps = [
        ("U0SRE1", "Tick", "oncall", "on-call: sam and sue"),
        ("U0SRE1", "Waive", "load", "known: items cache warms up after deploy"),
        ("U0CMP1", "Tick", "dpia", "DPIA-2024-17"),
    ]
    for user, label, subject, text in steps:
        if view.find_button(user, label, subject) is None:
            if label == "Waive":
                print("note: no failed non-critical check to waive (healthy target)")
            continue
        view.click(user, label, subject)
        view.submit(user, view.wait_for_modal(user, 10), text)
    for user, role in SIGNERS[:-1]:
        view.click(user, "Approve", role)
    user, role = SIGNERS[-1]
    deciding = time.monotonic()
    view.click(user, "Approve", role)
    return deciding


if __name__ == "__main__":
    sys.exit(main())
