"""``preprod request`` and ``preprod wait``: a pipeline step asks the gate's HTTP API
(``/api/v1``) for a release's go/no-go and waits for it, with an exit code per outcome.

The waiting survives restarts and replica changes of the bot: connection errors, 429 and
502/503/504 are retried (capped exponential backoff with jitter, ``Retry-After``
honoured) and the wait resumes on the same run id; only ``--retry-for`` without any
answer gives up. The decisions (exit codes, CI environment, lines, backoff) are pure, in
``bot/cli/pipeline_wait.py``. httpx is imported inside the commands, not at CLI start."""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.console import Console

from bot.cli import pipeline_wait as pw
from bot.cli.common import run_number, say
from bot.cli.safe_text import printable
from checks.units import format_duration, parse_duration

if TYPE_CHECKING:
    import httpx

TOKEN_ENV, URL_ENV = "PREPROD_TOKEN", "PREPROD_URL"
MIN_POLL_INTERVAL = 1.0
"""Seconds between two polls when the server answers a long poll early without news."""
CONNECT_TIMEOUT, READ_SLACK = 10.0, 15.0


class GateError(Exception):
    """The command ends with ``exit`` and a one-line ``message`` (``code`` for --json)."""

    def __init__(self, exit: int, code: str, message: str) -> None:
        super().__init__(message)
        self.exit, self.code, self.message = exit, code, message


class TimedOut(Exception):
    """``--timeout`` passed."""


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _poll_wait(text: str) -> int:
    try:
        seconds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= seconds <= 60:
        raise argparse.ArgumentTypeError("the poll wait is 0 to 60 seconds")
    return seconds


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url", help=f"the bot's base URL (default ${URL_ENV}); the token is ${TOKEN_ENV}"
    )
    parser.add_argument(
        "--timeout",
        type=_duration,
        metavar="D",
        help="stop waiting after D (30s, 10m, 2h) and exit 124; the run goes on "
        "(default: wait until it is decided or expires)",
    )
    parser.add_argument(
        "--retry-for",
        type=_duration,
        default=300.0,
        metavar="D",
        help="give up (exit 5) after D without any answer from the gate (default 5m)",
    )
    parser.add_argument(
        "--poll-wait",
        type=_poll_wait,
        default=25,
        metavar="S",
        help="seconds each long poll asks the gate to hold the answer (0-60, default 25)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON verdict on stdout: the run plus exit"
    )


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    request = commands.add_parser(
        "request",
        help="ask the gate for a release's go/no-go (from a pipeline), optionally wait",
        description="Ask the bot's gate to validate and decide a release, as a pipeline "
        f"step. The token comes from ${TOKEN_ENV}. In GitHub Actions, GitLab CI and "
        "Jenkins the idempotency key, commit and source come from the CI environment, so a "
        "retried step resumes the run it started.",
        epilog=pw.PIPELINE_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    request.add_argument("service", help="the service being released")
    request.add_argument("version", help="the version being released")
    request.add_argument("environment", help="the environment it is deployed to")
    request.add_argument("--plan", help="plan to run instead of the environment's own")
    request.add_argument(
        "--commit", help="commit being released (default $GITHUB_SHA, $CI_COMMIT_SHA, $GIT_COMMIT)"
    )
    request.add_argument(
        "--wait", action="store_true", help="wait for the decision and exit with its code"
    )
    request.add_argument(
        "--idempotency-key",
        metavar="K",
        help="the same key gives the same run (default: derived from the CI job, else random "
        "and printed on stderr)",
    )
    _common(request)
    wait = commands.add_parser(
        "wait",
        help="wait for a requested run's go/no-go",
        description=f"Wait for the decision of a run (token from ${TOKEN_ENV}).",
        epilog=pw.PIPELINE_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    wait.add_argument("run", type=run_number, help="the run's number")
    _common(wait)


@dataclass
class Gate:
    """The gate's API seen through retries: every call is retried while the gate cannot
    answer, until ``retry_for`` passes without an answer (exit 5) or ``deadline`` (the
    monotonic time of ``--timeout``) comes."""

    client: httpx.Client
    err: Console
    retry_for: float
    deadline: float | None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = field(default_factory=lambda: random.SystemRandom().random)

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - self.clock()

    def call(self, method: str, path: str, hold: float = 0.0, **kwargs: Any) -> httpx.Response:
        """One API call, retried through outages; the first answer that is not an outage."""
        import httpx

        outage_since: float | None = None
        attempt = 0
        while True:
            left = self.remaining()
            if left is not None and left <= 0:
                raise TimedOut
            read = hold + READ_SLACK if left is None else min(hold + READ_SLACK, left + 0.5)
            timeout = httpx.Timeout(read, connect=min(CONNECT_TIMEOUT, read))
            asked: str | None = None
            try:
                response = self.client.request(method, path, timeout=timeout, **kwargs)
            except (
                httpx.TimeoutException,
                httpx.NetworkError,
                httpx.RemoteProtocolError,
                httpx.ProxyError,
            ) as exc:  # the gate or the way to it is down or restarting: try again
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            except httpx.HTTPError as exc:  # this request cannot be sent: retrying won't help
                raise GateError(pw.EXIT_USAGE, "usage", f"cannot send the request: {exc}") from None
            else:
                if response.status_code not in pw.RETRYABLE_STATUSES:
                    return response
                problem, asked = f"HTTP {response.status_code}", response.headers.get("retry-after")
            now = self.clock()
            outage_since = now if outage_since is None else outage_since
            if now - outage_since >= self.retry_for:
                raise GateError(
                    pw.EXIT_UNREACHABLE,
                    "unreachable",
                    f"the gate did not answer for {format_duration(now - outage_since)} "
                    f"({problem}); giving up",
                )
            delay = pw.retry_delay(attempt, self.jitter(), asked)
            delay = min(delay, max(0.0, outage_since + self.retry_for - now))
            say(self.err, f"preprod: {problem}; retrying in {delay:.1f}s")
            left = self.remaining()
            if left is not None and left <= delay:
                self.sleep(max(0.0, left))
                raise TimedOut
            self.sleep(delay)
            attempt += 1


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _view(response: httpx.Response) -> dict[str, Any]:
    """The RunView of a 200/201 answer; a clear error when it is something else."""
    body = _body(response)
    if not isinstance(body, dict):
        raise GateError(
            pw.EXIT_UNREACHABLE, "bad_answer", "the URL did not answer as preprod's API does"
        )
    try:
        pw.decision_of(body)
    except pw.BadAnswer as exc:
        raise GateError(pw.EXIT_UNREACHABLE, "bad_answer", str(exc)) from None
    return body


def _refused(response: httpx.Response, what: str) -> GateError:
    body = _body(response)
    code = "http_error"
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = str(body["error"].get("code") or code)
    message = pw.error_message(response.status_code, body)
    return GateError(pw.status_exit(response.status_code), code, f"{what}: {message}")


def _request_body(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "service": args.service,
        "version": args.version,
        "environment": args.environment,
        "source": pw.ci_source(env),
    }
    if args.plan:
        body["plan"] = args.plan
    commit = args.commit or pw.ci_commit(env)
    if commit:
        body["commit"] = commit
    return body


def _key(args: argparse.Namespace, env: Mapping[str, str], err: Console) -> str:
    key: str | None = args.idempotency_key
    if key is None:
        key = pw.ci_idempotency_key(env, args.service, args.version, args.environment)
    if key is None:
        key = f"cli-{uuid.uuid4()}"
        say(err, f"preprod: idempotency key {key} (pass --idempotency-key {key} to retry)")
    problem = pw.key_problem(key)
    if problem:
        raise GateError(pw.EXIT_USAGE, "usage", problem)
    return key


def _wait(
    gate: Gate,
    run_id: int,
    view: dict[str, Any] | None,
    poll_wait: int,
    err: Console,
    seen: list[dict[str, Any]],
) -> int:
    """Poll until the run is decided; its exit code. ``seen`` holds the last view."""
    shown = ""
    while True:
        if view is not None:
            seen[:] = [view]
            line = pw.progress_line(view)
            if line != shown:
                say(err, line)
                shown = line
            code = pw.exit_code(view)
            if code is not None:
                return code
        left = gate.remaining()
        hold = poll_wait if left is None else max(0, min(poll_wait, int(left)))
        hold = hold if view is not None else 0  # `preprod wait`: show where it stands first
        started = gate.clock()
        response = gate.call("GET", f"/api/v1/runs/{run_id}", hold, params={"wait": hold})
        if response.status_code == 404:
            raise GateError(
                pw.EXIT_USAGE,
                "not_found",
                f"run #{run_id}: no such run (or out of the token's scope)",
            )
        if response.status_code != 200:
            raise _refused(response, f"reading run #{run_id}")
        before = None if view is None else view.get("decision")
        view = _view(response)
        quick = MIN_POLL_INTERVAL - (gate.clock() - started)
        if quick > 0 and view.get("decision") == before:  # an early answer without news
            left = gate.remaining()
            gate.sleep(quick if left is None else max(0.0, min(quick, left)))


def _finish(
    out: Console,
    err: Console,
    args: argparse.Namespace,
    code: int,
    view: Mapping[str, Any] | None,
    line: str,
    error: str = "",
    run_id: int | None = None,
) -> int:
    """Print the outcome: errors (a timeout included) on stderr; the verdict on stdout, as
    one JSON document (the last RunView seen plus ``exit``) with ``--json``."""
    if error:
        say(err, f"preprod: {line}")
    if args.json:
        verdict: dict[str, Any] = dict(view) if view is not None else {"id": run_id}
        if error:
            verdict["error"] = {"code": error, "message": line}
        verdict["exit"] = code
        # Written as is, not through Rich, which would turn ":warning:" in a reason into an
        # emoji; json.dumps escapes every control and non-ASCII character already.
        out.file.write(printable(json.dumps(verdict, sort_keys=True)) + "\n")
        out.file.flush()
    elif not error:
        say(out, line)
    return code


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``preprod request`` or ``preprod wait``; the exit code of the outcome."""
    import httpx

    env = os.environ
    started = time.monotonic()
    deadline = None if args.timeout is None else started + args.timeout
    run_id: int | None = getattr(args, "run", None)
    seen: list[dict[str, Any]] = []
    try:
        url = (args.url or env.get(URL_ENV, "")).rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise GateError(pw.EXIT_USAGE, "usage", f"--url or ${URL_ENV}: expected an http(s) URL")
        token = env.get(TOKEN_ENV, "").strip()  # a secret read from a file ends in a newline
        if not token:
            raise GateError(pw.EXIT_UNAUTHORISED, "unauthorised", f"${TOKEN_ENV} is not set")
        if not (token.isascii() and token.isprintable()):
            raise GateError(
                pw.EXIT_UNAUTHORISED,
                "unauthorised",
                f"${TOKEN_ENV} holds characters a token cannot have (it is not printed)",
            )
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        try:
            client = httpx.Client(base_url=url, headers=headers, follow_redirects=False)
        except (httpx.InvalidURL, ValueError) as exc:
            raise GateError(pw.EXIT_USAGE, "usage", f"--url or ${URL_ENV}: {exc}") from None
        with client:
            gate = Gate(client, err, args.retry_for, deadline)
            view: dict[str, Any] | None = None
            if args.command == "request":
                key = _key(args, env, err)
                response = gate.call(
                    "POST",
                    "/api/v1/requests",
                    json=_request_body(args, env),
                    headers={"Idempotency-Key": key},
                )
                if response.status_code not in (200, 201):
                    raise _refused(response, "the gate refused the request")
                view = _view(response)
                run_id = int(view["id"])
                seen[:] = [view]
                if not args.wait:
                    code = pw.exit_code(view)
                    line = (
                        pw.verdict_line(view)
                        if code is not None
                        else (
                            f"requested: {pw.progress_line(view)}; "
                            f"`preprod wait {run_id}` waits for it"
                        )
                    )
                    return _finish(out, err, args, code or 0, view, line)
            assert run_id is not None
            code = _wait(gate, run_id, view, args.poll_wait, err, seen)
            return _finish(out, err, args, code, seen[0], pw.verdict_line(seen[0]))
    except TimedOut:
        waited = format_duration(time.monotonic() - started)
        last = seen[0] if seen else None
        return _finish(
            out,
            err,
            args,
            pw.EXIT_TIMEOUT,
            last,
            pw.timeout_line(last, run_id, waited),
            "timeout",
            run_id,
        )
    except GateError as exc:
        last = seen[0] if seen else None
        return _finish(out, err, args, exc.exit, last, exc.message, exc.code, run_id)
    except KeyboardInterrupt:
        what = f"run #{run_id} goes on" if run_id is not None else "nothing was requested"
        say(err, f"preprod: interrupted; {what}")
        return 130
