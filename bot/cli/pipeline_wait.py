"""The decisions of ``preprod request`` / ``preprod wait``, pure: the exit code a run's
view means, what the CI environment says about the request (source, commit, idempotency
key), the progress and verdict lines, and how long to wait before retrying. No I/O: the
loop in ``bot/cli/request_gate.py`` feeds these answers from the gate's HTTP API.

A release gate's waiter tells outcomes apart (``/work/shared/PIPELINES.md``): a pipeline
must know "NO-GO" from "the gate was down" from "I stopped waiting"."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

EXIT_GO, EXIT_NO_GO, EXIT_USAGE, EXIT_ENDED = 0, 1, 2, 3
EXIT_UNAUTHORISED, EXIT_UNREACHABLE, EXIT_TIMEOUT = 4, 5, 124

PIPELINE_EXIT_CODES = """exit codes:
  0    GO
  1    NO-GO
  2    usage or configuration error (also a request the gate refused as bad input, an
       unknown run)
  3    expired, cancelled or superseded by a newer request
  4    not authorised: PREPROD_TOKEN missing, wrong or revoked, or out of its scope
  5    the gate could not be reached (after retrying for --retry-for)
  124  --timeout passed: the run goes on; `preprod wait RUN` resumes waiting"""

DECISION_EXITS: dict[str, int] = {
    "go": EXIT_GO,
    "no-go": EXIT_NO_GO,
    "expired": EXIT_ENDED,
    "cancelled": EXIT_ENDED,
    "superseded": EXIT_ENDED,
}

MAX_IDEMPOTENCY_KEY = 200
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


class BadAnswer(ValueError):
    """The server's answer is not a RunView of the contract (a proxy's page, say)."""


# -- the run's view ------------------------------------------------------------------


def decision_of(view: Mapping[str, Any]) -> str:
    """The run's decision word; :class:`BadAnswer` when the answer has none."""
    decision = view.get("decision")
    if not isinstance(decision, str) or not isinstance(view.get("id"), int):
        raise BadAnswer("the answer is not a run (no id or decision)")
    return decision


def exit_code(view: Mapping[str, Any]) -> int | None:
    """The exit code a run's view means, or None while it is still pending. A decision this
    client does not know is treated as pending rather than guessed at."""
    return DECISION_EXITS.get(decision_of(view))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _link(view: Mapping[str, Any]) -> str:
    links = view.get("links")
    if not isinstance(links, Mapping):
        return ""
    return _text(links.get("thread")) or _text(links.get("report")) or _text(links.get("self"))


def _release(view: Mapping[str, Any]) -> str:
    service, version = _text(view.get("service")), _text(view.get("version"))
    environment = _text(view.get("environment"))
    return f"run #{view.get('id')} {service} {version} to {environment}"


def progress_line(view: Mapping[str, Any]) -> str:
    """One line of progress for stderr: checks done, who is awaited, where to look. The
    loop prints it only when it differs from the last one printed."""
    parts = [_release(view)]
    checks = view.get("checks")
    if isinstance(checks, Mapping) and isinstance(checks.get("total"), int):
        failed = checks.get("failed")
        failed_text = f" ({failed} failed)" if isinstance(failed, int) and failed else ""
        parts.append(f"checks {checks.get('done', 0)}/{checks['total']}{failed_text}")
    awaiting = view.get("awaiting")
    if isinstance(awaiting, list) and awaiting:
        names = [
            _text(a.get("label")) or _text(a.get("role"))
            for a in awaiting
            if isinstance(a, Mapping)
        ]
        parts.append("awaiting " + ", ".join(n for n in names if n))
    elif view.get("status") == "running":
        parts.append("checks running")
    link = _link(view)
    line = ": ".join(parts[:2]) + "".join(f"; {p}" for p in parts[2:])
    return f"{line} {link}".rstrip()


def verdict_line(view: Mapping[str, Any]) -> str:
    """The one human line on stdout once the run is decided (or still pending)."""
    decision = decision_of(view)
    word = {"go": "GO", "no-go": "NO-GO"}.get(decision, decision.upper())
    line = f"{word}: {_release(view)}"
    reasons = view.get("reasons")
    if decision != "go" and isinstance(reasons, list) and reasons:
        line += " (" + "; ".join(_text(r) for r in reasons) + ")"
    superseded = view.get("superseded_by")
    if decision == "superseded" and isinstance(superseded, int):
        line += f", by run #{superseded}"
    link = _link(view)
    return f"{line} {link}".rstrip()


def timeout_line(view: Mapping[str, Any] | None, run_id: int | None, waited: str) -> str:
    """What ``--timeout`` means to say: we stopped, the run did not."""
    if run_id is None:
        return f"timed out after {waited} before the gate accepted the request"
    what = _release(view) if view is not None else f"run #{run_id}"
    return (
        f"timed out after {waited}: {what} is still pending and goes on; "
        f"`preprod wait {run_id}` resumes waiting"
    )


# -- the CI environment --------------------------------------------------------------


def ci_kind(env: Mapping[str, str]) -> str:
    """Which CI system runs us: ``github``, ``gitlab``, ``jenkins``, else ``cli``."""
    if env.get("GITHUB_ACTIONS") == "true":
        return "github"
    if env.get("GITLAB_CI") == "true":
        return "gitlab"
    if env.get("JENKINS_URL") or env.get("BUILD_TAG", "").startswith("jenkins-"):
        return "jenkins"
    return "cli"


def ci_source(env: Mapping[str, str]) -> dict[str, str]:
    """The request's ``source``: the CI system, the URL of its run, who triggered it and
    the job's name (fields the environment does not give are left out)."""
    kind = ci_kind(env)
    source: dict[str, str] = {"kind": kind}
    if kind == "github":
        server, repo, run = (
            env.get(k, "") for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
        )
        if server and repo and run:
            source["url"] = f"{server}/{repo}/actions/runs/{run}"
        source["triggered_by"] = env.get("GITHUB_ACTOR", "")
        source["name"] = " / ".join(
            v for v in (env.get("GITHUB_WORKFLOW", ""), env.get("GITHUB_JOB", "")) if v
        )
    elif kind == "gitlab":
        source["url"] = env.get("CI_JOB_URL", "")
        source["triggered_by"] = env.get("GITLAB_USER_LOGIN", "")
        source["name"] = " / ".join(
            v for v in (env.get("CI_PROJECT_PATH", ""), env.get("CI_JOB_NAME", "")) if v
        )
    elif kind == "jenkins":
        source["url"] = env.get("BUILD_URL", "")
        source["triggered_by"] = env.get("BUILD_USER_ID", "")
        source["name"] = env.get("JOB_NAME", "")
    else:
        source["triggered_by"] = env.get("USER", "") or env.get("LOGNAME", "")
    return {k: v for k, v in source.items() if v}


def ci_commit(env: Mapping[str, str]) -> str | None:
    """The commit being released, as the CI system names it."""
    for name in ("GITHUB_SHA", "CI_COMMIT_SHA", "GIT_COMMIT"):
        if env.get(name):
            return env[name]
    return None


def ci_idempotency_key(
    env: Mapping[str, str], service: str, version: str, environment: str
) -> str | None:
    """A key that is the same when CI retries this step, so the retry resumes the run it
    started rather than starting a second one; None outside a known CI system. The
    release is part of it, so one job may ask for several releases."""
    kind = ci_kind(env)
    if kind == "github" and env.get("GITHUB_RUN_ID"):
        job = f"{env['GITHUB_RUN_ID']}-{env.get('GITHUB_RUN_ATTEMPT', '1')}"
        job += f"-{env.get('GITHUB_JOB', '')}"
        prefix = "github"
    elif kind == "gitlab" and env.get("CI_JOB_ID"):
        job, prefix = env["CI_JOB_ID"], "gitlab"
    elif env.get("BUILD_TAG"):
        job, prefix = env["BUILD_TAG"], "jenkins"
    else:
        return None
    release = hashlib.sha256(f"{service}\0{version}\0{environment}".encode()).hexdigest()[:16]
    key = f"{prefix}-{job}-{release}"
    if len(key) > MAX_IDEMPOTENCY_KEY:  # a very long job name: keep it unique, and bounded
        key = f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()}"
    return key


def key_problem(key: str) -> str | None:
    """Why an ``--idempotency-key`` cannot be sent, or None."""
    if not key.strip():
        return "the idempotency key is empty"
    if len(key) > MAX_IDEMPOTENCY_KEY:
        return f"the idempotency key has {len(key)} characters (at most {MAX_IDEMPOTENCY_KEY})"
    if not key.isascii() or not key.isprintable():
        return "the idempotency key must be printable ASCII (it is sent as an HTTP header)"
    return None


# -- retrying ------------------------------------------------------------------------

BACKOFF_BASE, BACKOFF_CAP = 0.5, 30.0


def backoff(
    attempt: int, jitter: float, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP
) -> float:
    """Seconds before retry number ``attempt`` (0 for the first): exponential, capped, and
    spread by ``jitter`` (0 to 1) over its upper half, so that many pipelines cut off by
    the same restart do not come back in step."""
    ceiling = min(cap, base * 2.0 ** min(attempt, 32))
    return ceiling / 2 + ceiling / 2 * min(max(jitter, 0.0), 1.0)


def retry_after(value: str | None, cap: float = 300.0) -> float | None:
    """Seconds from a ``Retry-After`` header given in seconds (an HTTP date or garbage is
    ignored: the backoff applies), bounded by ``cap``."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if seconds != seconds or seconds < 0:  # NaN or negative
        return None
    return min(seconds, cap)


def retry_delay(attempt: int, jitter: float, retry_after_header: str | None) -> float:
    """The wait before the next try: the server's ``Retry-After`` when it gave one, else
    the backoff."""
    asked = retry_after(retry_after_header)
    return asked if asked is not None else backoff(attempt, jitter)


def retry_line(problem: str, delay: float, first: bool) -> str:
    """The stderr line before a retry; the first of an outage says the gate was lost."""
    lost = "lost the gate: " if first else ""
    return f"preprod: {lost}{problem}; retrying in {delay:.1f}s"


def regained_line(outage: float, retries: int) -> str:
    """The stderr line when the gate answers again after an outage (the wait goes on)."""
    tries = "retry" if retries == 1 else "retries"
    return f"preprod: regained the gate after {outage:.1f}s ({retries} {tries})"


def error_message(status: int, body: Any) -> str:
    """The server's one-line reason for an error answer, or its status."""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            code = error.get("code")
            prefix = f"{code}: " if isinstance(code, str) and code else ""
            return f"{prefix}{error['message']}".replace("\n", " ")
    return f"HTTP {status}"


def status_exit(status: int) -> int:
    """The exit code of a final (not retried) error answer: 401 and 403 (out of the
    token's scope) are not authorised; other 4xx are bad input or an unknown run (usage);
    5xx the gate failing."""
    if status in (401, 403):
        return EXIT_UNAUTHORISED
    if 400 <= status < 500:
        return EXIT_USAGE
    return EXIT_UNREACHABLE
