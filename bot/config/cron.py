"""Cron expressions as the config writes them, read into APScheduler 3 triggers.

APScheduler 3 numbers weekdays from Monday = 0, crontab from Sunday = 0 (its own docs
call this a historical mistake), so numeric weekdays are rewritten as names first:
``1-5`` means Monday to Friday here, as it does in crontab."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo

from apscheduler.triggers.cron import CronTrigger

DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NUMBER = re.compile(r"\d+")
LOOKBACK = timedelta(days=8)
"""How far back a missed fire time is looked for: a weekly cron fires within it."""


def _day(token: str) -> str:
    number = int(token)
    if number > 7:
        raise ValueError(f"day of week {number} is out of range 0-7 (0 and 7 are Sunday)")
    return DAYS[number % 7]


def _weekdays(field: str) -> str:
    """Numeric crontab weekdays (0 or 7 = Sunday) as names APScheduler reads the same way."""
    parts = []
    for part in field.split(","):
        head, slash, step = part.partition("/")
        start, dash, end = head.partition("-")
        if dash and start.isdigit() and end.isdigit():
            first, last = int(start), int(end)
            if first == 0 and last < 7:  # sun-… wraps in APScheduler: Sunday on its own
                parts.append("sun")
                if last >= 1:
                    parts.append(f"mon-{_day(end)}" if last > 1 else "mon")
                continue
            head = f"{_day(start)}-{_day(end)}" if last != 7 else f"{_day(start)}-sun"
        elif head.isdigit():
            head = _day(head)
        parts.append(head + slash + step)
    return ",".join(parts)


def cron_trigger(expression: str, zone: tzinfo) -> CronTrigger:
    """A trigger for a five-field cron expression in ``zone``; ValueError saying what is
    wrong otherwise (daylight-saving changes are the trigger's business)."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            "expected five cron fields (minute hour day month weekday) such as "
            f"'0 9 * * mon-fri', got {len(fields)} in {expression!r}"
        )
    try:
        fields[4] = _weekdays(fields[4])
        return CronTrigger(
            minute=fields[0],
            hour=fields[1],
            day=fields[2],
            month=fields[3],
            day_of_week=fields[4],
            timezone=zone,
        )
    except ValueError as exc:
        raise ValueError(f"not a valid cron expression {expression!r}: {exc}") from None


def next_fires(trigger: CronTrigger, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times strictly after ``after``."""
    found: list[datetime] = []
    previous: datetime | None = None
    now = after + timedelta(microseconds=1)
    while len(found) < count:
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None:
            break
        found.append(fire)
        previous, now = fire, fire + timedelta(microseconds=1)
    return found


def latest_fire(
    trigger: CronTrigger, now: datetime, within: timedelta = LOOKBACK
) -> datetime | None:
    """The last fire time at or before ``now`` and no older than ``within``."""
    fire: datetime | None = trigger.get_next_fire_time(None, now - within)
    latest = None
    while fire is not None and fire <= now:
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return latest
