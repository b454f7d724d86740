"""`make demo-pipeline`: a GitHub deploy job waits on preprod's gate, without any account.

Starts the example target, the Slack stand-in (web view), the GitHub stand-in (web view
of the waiting jobs, served from this process) and a real `preprod serve` configured as
the GitHub App, then has the GitHub stand-in send the signed `deployment_protection_rule`
`requested` webhook of a job of acme/checkout for environment `production` on tag
v2.14.0. The checks run, the sign-offs are clicked in the Slack stand-in's view (by you,
or by `--auto`), and GitHub records `approved` or `rejected`. What happens is printed as
it happens, followed through the gate's pipeline API with a token the demo creates.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
from collections.abc import Coroutine
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bot.github.settings import (  # noqa: E402
    API_URL_ENV,
    APP_ID_ENV,
    PRIVATE_KEY_ENV,
    RECONCILE_ENV,
    WEBHOOK_SECRET_ENV,
)
from bot.store.runs import RunStore  # noqa: E402
from bot.store.tokens import Tokens  # noqa: E402
from examples.pipeline_watch import Watch  # noqa: E402
from examples.processes import ports_in_use, start_slack_side, stop_on_sigterm  # noqa: E402
from examples.slack_demo import sign_off  # noqa: E402
from examples.target.defects import DEFECTS, UnknownDefectError, parse_defects  # noqa: E402
from examples.target.launch import start_target  # noqa: E402
from github_standin import GitHubStandIn  # noqa: E402
from slack_standin.webclient import WebView  # noqa: E402

STATE = ROOT / ".preprod" / "pipeline-demo"
REPO, ENVIRONMENT, TAG, WORKFLOW_RUN = "acme/checkout", "production", "refs/tags/v2.14.0", 4242
QUICK = ("smoke", "tls", "headers")
"""The checks of the standard plan that make the plan ``quick`` (a second or two)."""
REASON = "canary error rate too high in eu-west"
T = TypeVar("T")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=3001, help="the Slack stand-in's web view")
    parser.add_argument("--bot-port", type=int, default=3000, help="preprod serve")
    parser.add_argument("--github-port", type=int, default=3002, help="the GitHub stand-in")
    parser.add_argument(
        "--defect",
        action="append",
        default=[],
        metavar="NAME[,NAME...]",
        help=f"defects to plant in the target (default none): {', '.join(DEFECTS)}",
    )
    parser.add_argument(
        "--plan",
        choices=["standard", "quick"],
        default="standard",
        help="standard: the full plan of examples/preprod.yml (about 40 s of checks); "
        f"quick: its {', '.join(QUICK)} checks only, without response-time limits",
    )
    parser.add_argument("--auto", action="store_true", help="click the sign-offs and exit")
    parser.add_argument("--reject", action="store_true", help="with --auto: reject (NO-GO)")
    parser.add_argument(
        "--timeout", type=float, default=240, help="--auto gives up after this many seconds"
    )
    parser.add_argument("--state-dir", type=Path, default=STATE, help="logs, database, keys")
    args = parser.parse_args(argv)
    if args.reject and not args.auto:
        parser.error("--reject goes with --auto (interactive: click Reject yourself)")
    if args.timeout <= 0:
        parser.error("--timeout: expected a number of seconds above 0")
    names = [] if args.defect == ["none"] else args.defect
    try:
        args.defects = list(parse_defects(names)) if names else []
    except UnknownDefectError as exc:
        parser.error(str(exc))
    return args


def demo_config(plan: str) -> dict[str, Any]:
    """examples/preprod.yml, plus the ``quick`` plan and the ``github:`` mapping of
    acme/checkout's ``production`` to checkout-api on ``staging`` with ``plan``. Pure."""
    config: dict[str, Any] = yaml.safe_load((HERE / "preprod.yml").read_text())
    standard = config["plans"]["standard"]
    checks = [dict(c) for c in standard["checks"] if c["id"] in QUICK]
    for check in checks:  # no response-time limits: a busy machine must not fail the flow
        if "requests" in check:
            check["requests"] = [
                {k: v for k, v in r.items() if k != "max_ms"} for r in check["requests"]
            ]
    config["plans"]["quick"] = {
        "description": "A few light checks of the standard plan, for a demo in seconds.",
        "checks": checks,
    }
    mapped = {"service": "checkout-api", "environment": "staging", "plan": plan}
    config["github"] = {"repositories": {REPO: {"environments": {ENVIRONMENT: mapped}}}}
    return config


class GitHubThread:
    """The GitHub stand-in, served by an event loop of its own in a thread of this process,
    so that the demo reads its jobs directly while the main thread clicks."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.gh = GitHubStandIn()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def call(self, work: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def __enter__(self) -> GitHubThread:
        self.thread.start()
        try:
            self.call(self.gh.start(self.port))
        except BaseException:
            self._end()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.call(self.gh.stop(), 10)
        finally:
            self._end()

    def _end(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def create_token(state: Path) -> str:
    """A pipeline token of the demo's own (its database is the serve's)."""
    store = RunStore(f"sqlite:///{state}/preprod.db")

    async def create() -> str:
        return await Tokens(store).create("pipeline-demo", "checkout-api", "staging", "demo")

    try:
        return asyncio.run(create())
    finally:
        store.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    try:
        return play(args)
    except KeyboardInterrupt:  # Ctrl-C: the ExitStack has stopped everything on its way out
        print("\nstopped", flush=True)
        return 130 if args.auto else 0


def play(args: argparse.Namespace) -> int:
    """Start everything, send the webhook, then follow (and with ``--auto`` click)."""
    clash = ports_in_use({"the bot, BOT_PORT": args.bot_port, "the Slack view, WEB_PORT":
                          args.port, "the GitHub view, GITHUB_PORT": args.github_port})  # fmt: skip
    if clash:
        print("\n".join(clash), file=sys.stderr)
        print("Stop what uses it, or choose other ports: make demo-pipeline BOT_PORT=3100 "
              "WEB_PORT=3101 GITHUB_PORT=3102", file=sys.stderr)  # fmt: skip
        return 2
    state: Path = args.state_dir
    state.mkdir(parents=True, exist_ok=True)
    for old in state.glob("preprod.db*"):  # each demo is a fresh gate: run 1, one token
        old.unlink()
    settings = demo_config(args.plan)
    labels = {role: r.get("label", role) for role, r in settings["roles"].items()}
    config = state / "preprod.yml"
    config.write_text(yaml.safe_dump(settings, sort_keys=False))
    with ExitStack() as stack:
        github = stack.enter_context(GitHubThread(args.github_port))
        gh = github.gh
        key = state / "github-app.pem"
        key.touch(mode=0o600)
        key.chmod(0o600)  # the App's private key: the owner's only
        key.write_text(gh.app_info.private_key_pem)
        target = stack.enter_context(start_target(*args.defects, state_dir=state / "target"))
        app = {APP_ID_ENV: str(gh.app_info.app_id), PRIVATE_KEY_ENV: str(key),
               WEBHOOK_SECRET_ENV: gh.app_info.webhook_secret, API_URL_ENV: gh.url,
               RECONCILE_ENV: "5"}  # fmt: skip
        side = start_slack_side(stack, port=args.port, bot_port=args.bot_port, state=state,
                                target=target, config=config, env=app)  # fmt: skip
        gh.hooks.url = f"{side.bot}/github/webhook"
        token = create_token(state)
        print(f"GitHub stand-in (jobs waiting):  {gh.url}/\n"
              f"Slack stand-in (sign-offs):      {side.standin}/\n"
              f"preprod serve:                   {side.bot}/runs   logs: {state}",
              flush=True)  # fmt: skip
        demo = Demo(github, stack, side.bot, token, labels, side.logs["bot"])
        watch = demo.send_job(WORKFLOW_RUN)
        if watch is None:
            return 1
        if args.auto:
            return auto(watch, WebView(side.standin), args.reject, args.timeout)
        return interactive(demo, side.standin, args.plan)


@dataclass
class Demo:
    """What sending a deploy job needs once everything runs."""

    github: GitHubThread
    stack: ExitStack
    bot: str
    token: str
    labels: dict[str, str]
    bot_log: Path

    def send_job(self, workflow_run: int) -> Watch | None:
        """A deploy job of workflow run ``workflow_run`` reaches ``production`` and waits:
        GitHub's webhook to the bot, then a watcher of the run it started (None, with why,
        if the bot refused the webhook)."""
        gh = self.github.gh
        owner, repo = REPO.split("/")
        job = gh.add_job(owner, repo, workflow_run, ENVIRONMENT, ref=TAG)
        delivery = self.github.call(gh.request_review(job))
        if not delivery.ok:
            print(f"the bot refused the webhook: {delivery.status_code} "
                  f"{delivery.response_body}; see {self.bot_log}", file=sys.stderr)  # fmt: skip
            return None
        run_id = int(json.loads(delivery.response_body)["run"])
        watch = Watch(self.bot, self.token, run_id, job, self.labels)
        watch.say("waiting", f"GitHub: deploy job of {REPO} (workflow run {workflow_run}, "
                  f"{TAG.rsplit('/', 1)[-1]}) waits on environment {ENVIRONMENT}; webhook "
                  f"answered {delivery.status_code} in {delivery.duration:.2f} s: "
                  f"preprod run #{run_id}")  # fmt: skip
        watcher = threading.Thread(target=watch.loop, daemon=True)
        watcher.start()
        self.stack.callback(watcher.join, 5)
        self.stack.callback(watch.stop.set)
        return watch


def auto(watch: Watch, view: WebView, reject: bool, timeout: float) -> int:
    """Scripted clicks: all approve (GO) or SRE rejects (NO-GO); 0 if GitHub took the
    expected answer within ``timeout`` seconds of the webhook."""
    deadline = watch.started + timeout
    expected = "rejected" if reject else "approved"
    while view.find_button("U0SRE1", "Approve") is None:  # the sign-off panel
        if watch.answered_at is not None:  # decided without people (a critical check failed)
            print(f"GitHub recorded {watch.job.state} before any sign-off, expected "
                  f"{expected}", file=sys.stderr)  # fmt: skip
            return 1
        if time.monotonic() > deadline:
            print(f"no sign-off panel within {timeout:g} s", file=sys.stderr)
            return 1
        time.sleep(0.5)
    if reject:
        view.click("U0SRE1", "Reject", "sre")
        modal = view.wait_for_modal("U0SRE1", 10)
        watch.deciding_click = time.monotonic()
        view.submit("U0SRE1", modal, REASON)
    else:
        watch.deciding_click = sign_off(view)
    while watch.answered_at is None:
        if time.monotonic() > deadline:
            print(f"GitHub got no answer within {timeout:g} s", file=sys.stderr)
            return 1
        time.sleep(0.1)
    if watch.job.state != expected:
        print(f"GitHub recorded {watch.job.state}, expected {expected}", file=sys.stderr)
        return 1
    print(f"ok: GitHub recorded {expected}")
    return 0


def interactive(demo: Demo, standin: str, plan: str) -> NoReturn:
    """Print what to click, then follow; Enter sends another deploy job, Ctrl-C ends."""
    wait = "about 40 s" if plan == "standard" else "a few seconds"
    ticks = (
        "tick 'On-call rotation staffed' (and Waive a failed load check, if any), "
        if plan == "standard"
        else ""
    )
    print(f"Open both views. In the Slack one ({standin}/), once the checks are done "
          f"({wait}):\n"
          f"  - as sam (SRE): {ticks}Approve for SRE, or Reject (a reason is asked)\n"
          + ("  - as casey (compliance): tick 'DPIA approved', Approve for Compliance\n"
             if plan == "standard" else "  - as casey (compliance): Approve for Compliance\n")
          + "  - as sid (security): Approve for Security -> GitHub releases the job\n"
          "Enter sends another deploy job (a new workflow run: a new preprod run). "
          "Ctrl-C stops everything.", flush=True)  # fmt: skip
    workflow_run = WORKFLOW_RUN
    while True:
        try:
            input()
        except EOFError:  # no terminal to read: Ctrl-C (SIGINT) alone ends the demo
            while True:
                time.sleep(3600)
        workflow_run += 1
        demo.send_job(workflow_run)


if __name__ == "__main__":
    sys.exit(main())
