"""Working hours, such as ``mon-fri 09:00-18:00``: when people may be nudged or DMed.

Several spans may be given, separated by commas: ``mon-fri 09:00-18:00, sat 10:00-12:00``.
Times are in the config's time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(
    r"^\s*(?P<days>[a-z]{3}(?:\s*-\s*[a-z]{3})?)\s+"
    r"(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$"
)
EXAMPLE = "mon-fri 09:00-18:00"


@dataclass(frozen=True)
class Span:
    days: frozenset[int]
    """Weekdays, Monday = 0."""
    start: time
    end: time

    def contains(self, local: datetime) -> bool:
        return local.weekday() in self.days and self.start <= local.time() < self.end


@dataclass(frozen=True)
class WorkingHours:
    spans: tuple[Span, ...]
    text: str

    def contains(self, local: datetime) -> bool:
        """True when ``local`` (a time in the config's zone) is inside working hours."""
        return any(span.contains(local) for span in self.spans)


def _clock(value: str) -> time:
    hours, minutes = (int(part) for part in value.split(":"))
    if hours == 24 and minutes == 0:
        return time.max
    if hours > 23 or minutes > 59:
        raise ValueError(f"{value!r} is not a time of day (00:00 to 24:00)")
    return time(hours, minutes)


def _days(value: str) -> frozenset[int]:
    first, _, last = (part.strip() for part in value.partition("-"))
    for day in (first, last or first):
        if day not in WEEKDAYS:
            raise ValueError(f"{day!r} is not a weekday; expected one of {', '.join(WEEKDAYS)}")
    start, end = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
    if end < start:
        return frozenset([*range(start, 7), *range(end + 1)])
    return frozenset(range(start, end + 1))


def parse_working_hours(text: str) -> WorkingHours:
    """Read ``mon-fri 09:00-18:00`` (or several such spans, comma-separated)."""
    spans = []
    for part in text.lower().split(","):
        match = _SPAN.match(part)
        if match is None:
            raise ValueError(f"expected working hours such as {EXAMPLE!r}, got {part.strip()!r}")
        start, end = _clock(match["start"]), _clock(match["end"])
        if end <= start:
            raise ValueError(f"{part.strip()!r} ends before it starts")
        spans.append(Span(_days(match["days"]), start, end))
    return WorkingHours(tuple(spans), text)
