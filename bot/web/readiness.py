"""Whether this process is ready, decided from what the probe found: pure.

Four parts, each ``ok``, ``failing`` or ``unknown`` with a reason:

- ``database``: the probe's read and write answered within the bound;
- ``schema``: the database's revision is this code's head;
- ``outbox``: the oldest message owed to Slack waits less than the bound;
- ``slack``: the Web API answered (not N failed attempts in a row over M seconds).

Only ``database`` and ``schema`` make the process not ready (503): without them it can
neither record a click nor start a run. ``outbox`` and ``slack`` make it ``degraded``
(200, named in the body): both are shared by every replica, so a 503 would take them all
out of the load balancer at once, and the clicks and commands they still record would be
refused too (see docs/ARCHITECTURE.md, "Health")."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from bot.slack.reachability import SlackSeen
from bot.store.health import DatabaseFacts

State = Literal["ok", "failing", "unknown"]
BLOCKING = ("database", "schema")
"""The parts whose failure is a 503."""
REASON_LIMIT = 200

_URL_PASSWORD = re.compile(r"(\w[\w+.-]*://[^:/@\s]*:)[^@\s]*@")
_PASSWORD_PARAM = re.compile(r"(password\s*=\s*)\S+", re.IGNORECASE)


@dataclass(frozen=True)
class Bounds:
    outbox_age: float = 600.0
    slack_failures: int = 3
    slack_seconds: float = 60.0


@dataclass(frozen=True)
class DatabaseOutcome:
    """The probe's answer: ``facts``, or ``error`` (already redacted) when it failed."""

    seconds: float
    facts: DatabaseFacts | None = None
    error: str | None = None


@dataclass(frozen=True)
class Part:
    state: State
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        reason = {"reason": self.reason} if self.reason else {}
        return {"state": self.state, **reason, **self.details}


@dataclass(frozen=True)
class Readiness:
    parts: dict[str, Part]

    @property
    def failing(self) -> list[str]:
        return [name for name, part in self.parts.items() if part.state != "ok"]

    @property
    def ready(self) -> bool:
        return all(self.parts[name].state == "ok" for name in BLOCKING)

    @property
    def status(self) -> str:
        if not self.ready:
            return "not ready"
        return "degraded" if self.failing else "ready"

    @property
    def http_status(self) -> int:
        return 200 if self.ready else 503

    def body(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "failing": self.failing,
            "parts": {name: part.body() for name, part in self.parts.items()},
        }


def judge(
    db: DatabaseOutcome,
    head: str,
    slack: SlackSeen,
    bounds: Bounds,
    now: datetime,
    clock_now: float,
) -> Readiness:
    """The parts from the probe's outcome, this code's schema head, Slack's recent
    answers, at ``now`` (UTC, for the outbox's age) and ``clock_now`` (the Slack
    recorder's clock)."""
    return Readiness(
        {
            "database": _database(db),
            "schema": _schema(db.facts, head),
            "outbox": _outbox(db.facts, bounds, now),
            "slack": _slack(slack, bounds, clock_now),
        }
    )


def _database(db: DatabaseOutcome) -> Part:
    took = {"seconds": round(db.seconds, 3)}
    if db.facts is None:
        return Part("failing", db.error or "no answer", took)
    return Part("ok", None, took)


def _schema(facts: DatabaseFacts | None, head: str) -> Part:
    if facts is None:
        return Part("unknown", "the database did not answer", {"expected": head})
    details = {"revision": facts.revision, "expected": head}
    if facts.revision != head:
        return Part("failing", f"the schema is at {facts.revision}, this code needs {head}",
                    details)  # fmt: skip
    return Part("ok", None, details)


def _outbox(facts: DatabaseFacts | None, bounds: Bounds, now: datetime) -> Part:
    if facts is None:
        return Part("unknown", "the database did not answer")
    age = max((now - facts.oldest).total_seconds(), 0.0) if facts.oldest else None
    details = {
        "backlog": facts.backlog,
        "oldest_seconds": round(age, 1) if age is not None else None,
        "bound_seconds": bounds.outbox_age,
    }
    if age is not None and age > bounds.outbox_age:
        return Part("failing", f"{facts.backlog} message(s) owed to Slack, the oldest for "
                    f"{age:.0f}s (bound {bounds.outbox_age:.0f}s)", details)  # fmt: skip
    return Part("ok", None, details)


def _slack(seen: SlackSeen, bounds: Bounds, clock_now: float) -> Part:
    lasted = clock_now - seen.failing_since if seen.failing_since is not None else 0.0
    details: dict[str, Any] = {"consecutive_failures": seen.consecutive_failures}
    if seen.failing_since is not None:
        details["failing_seconds"] = round(lasted, 1)
    if seen.consecutive_failures >= bounds.slack_failures and lasted >= bounds.slack_seconds:
        reason = f"{seen.consecutive_failures} Web API attempts failed in a row over " \
                 f"{lasted:.0f}s; last: {seen.last_error}"  # fmt: skip
        return Part("failing", reason, details)
    return Part("ok", None, details)


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """An error's first line, bounded, without passwords: URL passwords, ``password=``
    parameters and any of ``secrets`` (the database URL's password) are masked."""
    line = (text.strip().splitlines() or [""])[0]
    for secret in secrets:
        if secret:
            line = line.replace(secret, "***")
    line = _PASSWORD_PARAM.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", line))
    return line if len(line) <= REASON_LIMIT else line[: REASON_LIMIT - 3] + "..."
