"""``preprod schedule`` and ``preprod digest --dry-run``: what the reminder jobs will do,
for people testing their config, without Slack and without sending anything."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TYPE_CHECKING

from rich.console import Console

from bot.cli.common import EXIT_OK, EXIT_USAGE, config_arg, database_arg, say
from bot.config.paths import resolve_config_path

if TYPE_CHECKING:  # the config, the gate and the store load when a command runs
    from bot.config.schema import Config
    from bot.schedule.due import Awaited, PendingRun

FIRES = 5
STAMP = "%a %Y-%m-%d %H:%M %Z"


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    schedule = commands.add_parser(
        "schedule",
        help="list the reminder jobs and their next fire times",
        description="List each scheduled job (digest, reminders, deadlines) with its cron "
        f"expression and its next {FIRES} fire times in the config's time zone.",
    )
    config_arg(schedule)
    dry = commands.add_parser(
        "digest",
        help="show what the next digest and its DMs would say (--dry-run)",
        description="Print the next digest and the DMs that would go with it, from the runs "
        "in the database, without sending anything. Usergroup members are not looked up "
        "(that needs Slack): a usergroup is shown as itself.",
    )
    dry.add_argument("--dry-run", action="store_true", help="print, send nothing (required)")
    config_arg(dry)
    database_arg(dry)


def schedule(args: argparse.Namespace, out: Console) -> int:
    from bot.config.loader import load_config
    from bot.schedule.jobs import upcoming
    from bot.store.models import utcnow

    config = load_config(resolve_config_path(args.config))
    say(out, f"time zone {config.timezone}")
    for job, fires in upcoming(config, utcnow(), FIRES):
        say(out, f"{job.name}  ({job.cron}): {job.what}")
        for fire in fires:
            say(out, f"  {fire.strftime(STAMP)}")
    return EXIT_OK


async def dry_run(args: argparse.Namespace, out: Console, err: Console) -> int:
    from bot.config.cron import cron_trigger, next_fires
    from bot.config.loader import load_config
    from bot.gate.actions import Gate
    from bot.gate.roles import RoleDirectory
    from bot.schedule.due import digest
    from bot.schedule.pending import pending_runs
    from bot.store.models import utcnow
    from bot.store.runs import RunStore

    if not args.dry_run:
        say(err, "preprod digest: only --dry-run is available; the bot posts digests itself")
        return EXIT_USAGE
    config = load_config(resolve_config_path(args.config))
    if config.schedule.digest is None:
        say(out, "schedule.digest is null: no digest is posted")
        return EXIT_OK
    [slot] = next_fires(cron_trigger(config.schedule.digest, config.zone), utcnow(), 1)
    store = RunStore(args.database)
    gate = Gate(config, store, RoleDirectory(config, _no_usergroups))
    runs = digest(slot, await pending_runs(gate)).runs
    say(out, f"Next digest: {slot.strftime(STAMP)} in channel {config.channel or '(none set)'}")
    if not runs and not config.schedule.post_empty_digest:
        say(out, "Nothing is awaiting sign-off now: no digest would be posted.")
        return EXIT_OK
    say(out, f"{len(runs)} release(s) awaiting sign-off (ages as of that digest):")
    for run in runs:
        say(out, "  " + _line(run, slot))
    _direct_messages(config, runs, slot, out)
    return EXIT_OK


def _direct_messages(
    config: Config, runs: tuple[PendingRun, ...], slot: datetime, out: Console
) -> None:
    from bot.schedule.due import by_person, working

    if not working(config.schedule.hours, slot):
        say(out, f"No DMs: {slot.strftime(STAMP)} is outside schedule.working_hours.")
        return
    groups = by_person(runs)
    say(out, f"DMs ({len(groups)}):")
    for person, items in groups.items():
        say(out, f"  {person}: {len(items)} sign-off(s)")
        for item in items:
            run = item.run
            say(out, f"    {item.role.label}: {run.service} {run.version} (run #{run.run_id})")


def _line(run: PendingRun, slot: datetime) -> str:
    hours_old = run.age(slot).total_seconds() / 3600
    hours_left = run.left(slot).total_seconds() / 3600
    missing = "; ".join(_who(role) for role in run.awaited)
    return (
        f"#{run.run_id} {run.service} {run.version} on {run.environment}: "
        f"{hours_old:.1f}h old then, {hours_left:.1f}h left then; missing {missing}"
    )


def _who(role: Awaited) -> str:
    people = [*role.people, *([f"usergroup {role.usergroup}"] if role.usergroup else [])]
    return f"{role.label} ({', '.join(people) or 'nobody can sign it'})"


async def _no_usergroups(usergroup: str) -> list[str]:
    from bot.gate.roles import DirectoryUnavailable

    raise DirectoryUnavailable(f"usergroup {usergroup} is not looked up in a dry run")
