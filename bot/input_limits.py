"""What people may type into preprod, in one place: the names in a command (service,
version, environment, plan, check) and free text (reasons, justifications, notes).

Without bounds a 5 MB service name was accepted, stored and shown on every page. The
slash-command parser, the modals (``max_length``) and the gate all read these numbers,
so the limit a user meets is the same wherever they type. Pure: no Slack, no database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "CHECK_ID",
    "ENVIRONMENT",
    "MAX_COMMAND",
    "MAX_RUN_ID",
    "MAX_TEXT",
    "MIN_REASON",
    "PLAN",
    "SERVICE",
    "VERSION",
    "Name",
    "is_run_id",
    "shown",
    "text_problem",
]

MIN_REASON = 10
"""Characters a reject reason or a waiver justification needs (the modal checks too)."""

MAX_COMMAND = 1000
"""Characters in a whole ``/preprod`` command: far more than any real one needs."""
MAX_TEXT = 2000
"""Characters in a reason, justification or note (a modal's ``max_length``). The minimum
for a reason (:data:`MIN_REASON`) is a policy rule and lives in ``bot.gate.policy``."""
MAX_RUN_ID = 2**31 - 1
"""The largest run number: ``run.id`` is a 32-bit ``integer`` on PostgreSQL (SQLite's
goes to 2**63-1), so a larger number is no run on either database. Asking a database
for one was a 500 (PostgreSQL: integer out of range; SQLite: Python int too large)."""
SHOWN = 40
"""Characters of a user's word quoted back in an error, so a huge word is not echoed."""


@dataclass(frozen=True)
class Name:
    """A name typed in a command: its bound and the characters it may use."""

    what: str
    max_length: int
    pattern: re.Pattern[str]
    allowed: str

    def problem(self, value: str) -> str | None:
        """Why ``value`` is not acceptable, in the user's terms; None when it is."""
        if not value:
            return f"the {self.what} is empty"
        if len(value) > self.max_length:
            return (
                f"the {self.what} is {len(value):,} characters long; "
                f"at most {self.max_length} are allowed"
            )
        if not self.pattern.fullmatch(value):
            return f"the {self.what} `{shown(value)}` may only contain {self.allowed}"
        return None


_IDENT = "letters, digits and `. _ -`, starting with a letter or digit"
SERVICE = Name(
    "service",
    100,
    re.compile(r"[A-Za-z0-9][A-Za-z0-9._/@+-]*"),
    "letters, digits and `. _ - / @ +`, starting with a letter or digit",
)
VERSION = Name(
    "version",
    64,
    re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*"),
    "letters, digits and `. _ - +`, starting with a letter or digit",
)
ENVIRONMENT = Name("environment", 64, re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*"), _IDENT)
PLAN = Name("plan", 64, re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*"), _IDENT)
CHECK_ID = Name("check id", 64, re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*"), _IDENT)


def is_run_id(number: int) -> bool:
    """Whether ``number`` can name a run (1 to :data:`MAX_RUN_ID`); anything else is "no
    such run" without asking the database."""
    return 1 <= number <= MAX_RUN_ID


def text_problem(what: str, value: str) -> str | None:
    """Why a reason, justification or note is too long, as a sentence; None when it fits."""
    if len(value) > MAX_TEXT:
        return f"The {what} is {len(value):,} characters long; at most {MAX_TEXT:,} are allowed."
    return None


def shown(word: str) -> str:
    """A user's word as quoted back in an error: cut, so a huge word is not echoed."""
    return word if len(word) <= SHOWN else f"{word[: SHOWN - 1]}…"
