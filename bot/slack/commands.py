"""``/preprod`` command text -> a typed command. Pure: no Slack, no database."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Start:
    service: str
    version: str
    environment: str
    plan: str | None = None
    only: tuple[str, ...] = ()


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
        return Rerun(_run_id(args[0]), args[1] if len(args) > 1 else None)
    if verb in ("cancel", "report"):
        _between(verb, args, 1, 1)
        return Cancel(_run_id(args[0])) if verb == "cancel" else Report(_run_id(args[0]))
    if verb == "outcome":
        _between(verb, args, 2, 2)
        if args[1].lower() not in OUTCOMES:
            raise UsageError("`outcome` is `success` or `rolled-back`")
        return RecordOutcome(_run_id(args[0]), args[1].lower())
    raise UsageError(f"unknown command `{verb}`")


def _start(args: list[str]) -> Start:
    positional = [a for a in args if "=" not in a]
    options = dict(a.split("=", 1) for a in args if "=" in a)
    if len(positional) != 3:
        raise UsageError("`start` needs a service, a version and an environment")
    if unknown := sorted(set(options) - {"plan", "only"}):
        raise UsageError(f"unknown option `{unknown[0]}=`; options are `plan=` and `only=`")
    only = tuple(c for c in options.get("only", "").split(",") if c)
    if "only" in options and not only:
        raise UsageError("`only=` needs at least one check id")
    service, version, environment = positional
    return Start(service, version, environment, options.get("plan") or None, only)


def _run_id(word: str) -> int:
    cleaned = word.removeprefix("#")
    if not cleaned.isdigit():
        raise UsageError(f"`{word}` is not a run number")
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
