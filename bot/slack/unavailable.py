"""The honest answer to a Slack request the database could not serve.

A command or click that cannot be recorded (the database stopped, full, read-only, hung)
is still answered within Slack's 3 s, privately and in plain words that name the action:
"Could not record your approval: the bot's database is unavailable. Nothing was
recorded; try again in a minute." One log line says why (no traceback).

The replay guard in front of Bolt (bot/web/dedupe.py) claims a request's ids before the
handlers run; :func:`watching` lets it learn that the request was answered this way, so
it lets the claim go and the retry is not taken for a replay.

After the ack (a started run opening its thread, a re-run, a cancel), a database failure
is told in the same plain words, saying what the record made before the ack still does
(:class:`AfterAck`); never "something went wrong"."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from bot.slack.actions import (
    APPROVE,
    ATTEST,
    ATTEST_MODAL,
    REJECT,
    REJECT_MODAL,
    WAIVE,
    WAIVE_MODAL,
)
from bot.slack.blocks import Message, notice
from bot.slack.commands import (
    Cancel,
    Command,
    Help,
    ListRuns,
    RecordOutcome,
    Report,
    Rerun,
    Start,
    Status,
    UsageError,
    parse,
)
from bot.store.faults import cause, is_database_fault

log = logging.getLogger(__name__)

UNAVAILABLE = "the bot's database is unavailable"
NOTHING = "Nothing was recorded"


@dataclass(frozen=True)
class Attempt:
    """What the person tried, as the sentence names it, and whether it would have
    recorded something ("Nothing was recorded" is said only then)."""

    what: str
    records: bool = True

    def sentence(self) -> str:
        if self.records:
            return f"Could not {self.what}: {UNAVAILABLE}. {NOTHING}; try again in a minute."
        return f"Could not {self.what}: {UNAVAILABLE}; try again in a minute."

    def message(self) -> Message:
        """The private reply; the service and version people typed are escaped."""
        return notice(self.sentence())


CLICKS = {
    APPROVE: Attempt("record your approval"),
    REJECT: Attempt("open the rejection form", records=False),
    WAIVE: Attempt("open the waiver form", records=False),
    ATTEST: Attempt("open the attestation form", records=False),
}
SUBMISSIONS = {
    REJECT_MODAL: Attempt("record your rejection"),
    WAIVE_MODAL: Attempt("record your waiver"),
    ATTEST_MODAL: Attempt("record your tick"),
}
SOMETHING = Attempt("record this action")


def of_command(command: Command) -> Attempt:
    match command:
        case Start(service=service, version=version, environment=environment):
            return Attempt(f"start the validation of {service} {version} on {environment}")
        case Cancel(run_id=run_id):
            return Attempt(f"cancel run #{run_id}")
        case Rerun(run_id=run_id):
            return Attempt(f"re-run run #{run_id}")
        case RecordOutcome(run_id=run_id):
            return Attempt(f"record the production outcome of run #{run_id}")
        case Status():
            return Attempt("show the status", records=False)
        case ListRuns():
            return Attempt("list the runs", records=False)
        case Report(run_id=run_id):
            return Attempt(f"find run #{run_id}", records=False)
        case Help():
            return Attempt("answer", records=False)
    raise AssertionError(f"unhandled command {command!r}")


def of_payload(payload: dict[str, Any]) -> Attempt:
    """What a raw command or interaction payload tried (for the replay guard, which
    answers before Bolt routes it)."""
    if "command" in payload:
        text = payload.get("text")
        try:
            return of_command(parse(text if isinstance(text, str) else ""))
        except UsageError:
            return SOMETHING
    actions = payload.get("actions")
    if isinstance(actions, list) and actions and isinstance(actions[0], dict):
        return CLICKS.get(str(actions[0].get("action_id")), SOMETHING)
    view = payload.get("view")
    if isinstance(view, dict):
        return SUBMISSIONS.get(str(view.get("callback_id")), SOMETHING)
    return SOMETHING


@dataclass
class Unrecorded:
    """Set when a request was answered "the database is unavailable"."""

    cause: str | None = None


_WATCHED: ContextVar[Unrecorded | None] = ContextVar("preprod_unrecorded", default=None)


@contextmanager
def watching() -> Iterator[Unrecorded]:
    """Within: a request whose handlers may answer :func:`failed` (the listeners Bolt
    starts inherit the context, and with it this one object)."""
    seen = Unrecorded()
    token = _WATCHED.set(seen)
    try:
        yield seen
    finally:
        _WATCHED.reset(token)


def let_go(why: str) -> None:
    """The request recorded nothing and the person is asked to try again (a refusal for
    slowness, Slack's directory down): its claim must not stand either."""
    if (seen := _WATCHED.get()) is not None:
        seen.cause = why


def failed(attempt: Attempt, user: str, exc: BaseException) -> Message:
    """Log the cause once, mark the request unrecorded, and return the private answer."""
    why = cause(exc)
    log.warning("could not %s for %s: %s (%s)", attempt.what, user, UNAVAILABLE, why)
    if (seen := _WATCHED.get()) is not None:
        seen.cause = why
    return attempt.message()


@dataclass(frozen=True)
class AfterAck:
    """What the person is told when the database fails after the ack said the work
    began: what the ack's record (made before it) still does, and what may be undone."""

    what: str
    """For the log line: ``start run #7``."""
    sentence: str

    def failed(self, user: str, exc: BaseException) -> str:
        """Log the cause once; the private answer (no user text in it but numbers)."""
        log.warning("could not %s for %s after the ack: %s (%s)", self.what, user, UNAVAILABLE,
                    cause(exc))  # fmt: skip
        return self.sentence


def started_after_ack(run_id: int) -> AfterAck:
    """The run was stored before the ack: a worker may execute it already; if not, like
    a run whose process died, it is resumed once the database answers (its lease expires
    and a process claims it)."""
    return AfterAck(
        f"start run #{run_id}",
        f"Run #{run_id} is stored, but {UNAVAILABLE} while starting it: the run starts or "
        "goes on by itself when the database answers, and its thread shows it then.",
    )


def rerun_after_ack(run_id: int) -> AfterAck:
    return AfterAck(
        f"re-run run #{run_id}",
        f"Could not re-run run #{run_id}: {UNAVAILABLE}. What was recorded before it "
        f"failed runs when the database answers; see `/preprod status {run_id}` in a "
        "minute and re-run again if nothing was queued.",
    )


def cancel_after_ack(run_id: int) -> AfterAck:
    return AfterAck(
        f"cancel run #{run_id}",
        f"Run #{run_id} was stopped, but {UNAVAILABLE}: its thread says so when the "
        f"database answers; see `/preprod status {run_id}` in a minute and cancel it "
        "again if it still runs.",
    )


def is_unavailable(exc: BaseException) -> bool:
    """The database failed, or did not answer within the ack budget."""
    return isinstance(exc, TimeoutError) or is_database_fault(exc)
