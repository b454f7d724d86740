"""What a repository needs of the store: a function run with a session in a worker
thread. The audit trail's repository (``audit.py``) takes this rather than
:class:`bot.store.runs.RunStore`, which appends through it: ``runs.py`` imports
``audit.py``, never the other way round (an import-linter contract keeps it so)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from sqlmodel import Session

T = TypeVar("T")


class SessionCalls(Protocol):
    """Anything that runs ``fn`` with a session off the event loop (``RunStore``)."""

    async def call(self, fn: Callable[[Session], T]) -> T: ...
