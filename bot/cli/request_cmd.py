"""``preprod request`` and ``preprod wait``: a pipeline step asks the gate's HTTP API
(``/api/v1``) for a release's go/no-go and waits for it, with an exit code per outcome.

The waiting survives restarts and replica changes of the bot: the HTTP conversation
(``bot/cli/request_gate.py``) retries through outages and resumes on the same run id;
only ``--retry-for`` without any answer gives up. The decisions (exit codes, CI
environment, lines, backoff) are pure, in ``bot/cli/pipeline_wait.py``. This module is
the command: its arguments, the request it sends, and the verdict it prints."""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from collections.abc import Mapping
from typing import Any

from rich.console import Console

from bot.cli import pipeline_wait as pw
from bot.cli.common import run_number, say
from bot.cli.request_gate import (
    MIN_POLL_INTERVAL,
    Gate,
    GateError,
    TimedOut,
    refused,
    view_of,
    wait_for_decision,
)
from bot.cli.safe_text import printable
from checks.units import format_duration, parse_duration

__all__ = ["MIN_POLL_INTERVAL", "Gate", "add_parsers", "run"]

TOKEN_ENV, URL_ENV = "PREPROD_TOKEN", "PREPROD_URL"


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
            raise GateError(pw.EXIT_UNAUTHORISED, "unauthorized", f"${TOKEN_ENV} is not set")
        if not (token.isascii() and token.isprintable()):
            raise GateError(
                pw.EXIT_UNAUTHORISED,
                "unauthorized",
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
                    raise refused(response, "the gate refused the request")
                view = view_of(response)
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
            code = wait_for_decision(gate, run_id, view, args.poll_wait, err, seen)
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
