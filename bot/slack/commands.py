"""``/preprod`` command text -> a typed command. Pure: no Slack, no database."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from bot.input_limits import (
    CHECK_ID,
    ENVIRONMENT,
    MAX_COMMAND,
    PLAN,
    SERVICE,
    VERSION,
    Name,
    is_run_id,
    shown,
)


@dataclass(frozen=True)
class Start:
    service: str
    version: str
    environment: str
    plan: str | None = None
    only: tuple[str, ...] = ()
    keep_going: bool = False
    """``keep-going``: run every stage even after a stage's blocking failure."""


@dataclass(frozen=True)
class Status:
    run_id: int | None = None


@dataclass(frozen=True)
class ListRuns:
    pass


@dataclass(frozen=True)
class Cancel:
    run_id: int


@dataclass(frozen=True)
class Rerun:
    run_id: int
    check_id: str | None = None


@dataclass(frozen=True)
class Report:
    run_id: int


@dataclass(frozen=True)
class RecordOutcome:
    run_id: int
    result: str


@dataclass(frozen=True)
class Help:
    pass


Command = Start | Status | ListRuns | Cancel | Rerun | Report | RecordOutcome | Help
OUTCOMES = ("success", "rolled-back")


class UsageError(ValueError):
    """What was wrong with the command; the reply adds the usage text."""


def parse(text: str) -> Command:
    if len(text) > MAX_COMMAND:
        raise UsageError(
            f"the command is {len(text):,} characters long; at most {MAX_COMMAND:,} are accepted"
        )
    words = text.split()
    if not words or words[0] in ("help", "-h", "--help"):
        return Help()
    verb, args = words[0].lower(), words[1:]
    if verb == "start":
        return _start(args)
    if verb == "status":
        _at_most(verb, args, 1)
        return Status(_run_id(args[0]) if args else None)
    if verb == "list":
        _at_most(verb, args, 0)
        return ListRuns()
    if verb == "rerun":
        _between(verb, args, 1, 2)
        return Rerun(_run_id(args[0]), _name(CHECK_ID, args[1]) if len(args) > 1 else None)
    if verb in ("cancel", "report"):
        _between(verb, args, 1, 1)
        return Cancel(_run_id(args[0])) if verb == "cancel" else Report(_run_id(args[0]))
    if verb == "outcome":
        _between(verb, args, 2, 2)
        if args[1].lower() not in OUTCOMES:
            raise UsageError("`outcome` is `success` or `rolled-back`")
        return RecordOutcome(_run_id(args[0]), args[1].lower())
    close = difflib.get_close_matches(verb, VERBS, n=1, cutoff=0.6)
    hint = f" (did you mean `{close[0]}`?)" if close else ""
    raise UsageError(f"unknown command `{shown(verb)}`{hint}")


KEEP_GOING = "keep-going"
VERBS = ("start", "status", "list", "rerun", "cancel", "report", "outcome", "help")


def _start(args: list[str]) -> Start:
    keep_going = any(a.lower() == KEEP_GOING for a in args)
    args = [a for a in args if a.lower() != KEEP_GOING]
    positional = [a for a in args if "=" not in a]
    options = dict(a.split("=", 1) for a in args if "=" in a)
    if len(positional) != 3:
        raise UsageError("`start` needs a service, a version and an environment")
    if unknown := sorted(set(options) - {"plan", "only"}):
        option = shown(unknown[0])
        raise UsageError(f"unknown option `{option}=`; options are `plan=` and `only=`")
    only = tuple(_name(CHECK_ID, c) for c in options.get("only", "").split(",") if c)
    if "only" in options and not only:
        raise UsageError("`only=` needs at least one check id")
    service, version, environment = positional
    plan = _name(PLAN, options["plan"]) if options.get("plan") else None
    return Start(
        _name(SERVICE, service),
        _name(VERSION, version),
        _name(ENVIRONMENT, environment),
        plan,
        only,
        keep_going,
    )


def _name(kind: Name, word: str) -> str:
    """``word`` when it is a sensible ``kind`` of name (see bot/input_limits.py)."""
    if problem := kind.problem(word):
        raise UsageError(problem)
    return word


def _run_id(word: str) -> int:
    cleaned = word.removeprefix("#")
    if not cleaned.isascii() or not cleaned.isdigit() or not is_run_id(int(cleaned)):
        raise UsageError(f"`{shown(word)}` is not a run number")
    return int(cleaned)


def _at_most(verb: str, args: list[str], most: int) -> None:
    _between(verb, args, 0, most)


def _between(verb: str, args: list[str], least: int, most: int) -> None:
    if not least <= len(args) <= most:
        wanted = "a run number" if least == most == 1 else "a run number and an optional check"
        if least == most == 2:
            wanted = "a run number and `success` or `rolled-back`"
        if most == 0:
            wanted = "no arguments"
        elif least == 0:
            wanted = "an optional run number"
        raise UsageError(f"`{verb}` takes {wanted}")
