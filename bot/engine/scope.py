"""What an execution's checks share, made once an execution and not once a check: a
redactor, the target and the run's folder were made again by every check, and the
config's text masked again at every run's start (a millisecond for ten kilobytes);
bench/engine.py, tests/test_engine_own_cost.py."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from checks.context import RunInfo, Target
from checks.redact import Redactor
from checks.transport import SharedTransport


@functools.lru_cache(maxsize=8)
def redacted_config(text: str, secrets: frozenset[str]) -> str:
    """The config's text as a run keeps it (secrets masked), once a text and secrets."""
    return Redactor(secrets)(text)


@dataclass(frozen=True)
class Scope:
    """One execution's: its run, redactor, target, folder and connection pool."""

    info: RunInfo
    redact: Redactor
    target: Target
    folder: Path
    pool: SharedTransport
    left: list[int] = field(default_factory=lambda: [0])
    """Checks of the current batch still to run (its last result is not kept waiting)."""
