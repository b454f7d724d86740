"""The HTTP conversation of ``preprod request`` / ``preprod wait`` with the gate's API:
every call retried through outages (connection errors, 429, 502/503/504: capped
exponential backoff with jitter, ``Retry-After`` honoured) until ``--retry-for`` passes
without an answer, and the long-poll loop that waits for a run's decision. stderr says
when the gate is lost and when it is regained. What the answers mean is decided in
``bot/cli/pipeline_wait.py``; the command (arguments, output) is ``bot/cli/request_cmd.py``.
httpx is imported inside the calls, not at CLI start."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.console import Console

from bot.cli import pipeline_wait as pw
from bot.cli.common import say
from checks.units import format_duration

if TYPE_CHECKING:
    import httpx

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
        """One API call, retried through outages; the first answer that is not an outage.
        stderr says when the gate is lost and, once it answers again, that it is regained."""
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
                    if outage_since is not None:
                        outage = self.clock() - outage_since
                        say(self.err, pw.regained_line(outage, attempt))
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
            say(self.err, pw.retry_line(problem, delay, first=attempt == 0))
            left = self.remaining()
            if left is not None and left <= delay:
                self.sleep(max(0.0, left))
                raise TimedOut
            self.sleep(delay)
            attempt += 1


def body_of(response: httpx.Response) -> Any:
    """The answer's JSON, or None: a proxy's HTML page is not an error of ours to raise."""
    try:
        return response.json()
    except ValueError:
        return None


def view_of(response: httpx.Response) -> dict[str, Any]:
    """The RunView of a 200/201 answer; a clear error when it is something else."""
    body = body_of(response)
    if not isinstance(body, dict):
        raise GateError(
            pw.EXIT_UNREACHABLE, "bad_answer", "the URL did not answer as preprod's API does"
        )
    try:
        pw.decision_of(body)
    except pw.BadAnswer as exc:
        raise GateError(pw.EXIT_UNREACHABLE, "bad_answer", str(exc)) from None
    return body


def refused(response: httpx.Response, what: str) -> GateError:
    """A final error answer as the command's error: the API's code and one-line reason."""
    body = body_of(response)
    code = "http_error"
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = str(body["error"].get("code") or code)
    message = pw.error_message(response.status_code, body)
    return GateError(pw.status_exit(response.status_code), code, f"{what}: {message}")


def wait_for_decision(
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
            raise refused(response, f"reading run #{run_id}")
        before = None if view is None else view.get("decision")
        view = view_of(response)
        quick = MIN_POLL_INTERVAL - (gate.clock() - started)
        if quick > 0 and view.get("decision") == before:  # an early answer without news
            left = gate.remaining()
            gate.sleep(quick if left is None else max(0.0, min(quick, left)))
