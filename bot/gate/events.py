"""What the gate tells its listeners, the way the engine tells them about checks.

The gate decides and records; whoever shows a run (the Slack thread, the web pages, an
audit trail) listens. A listener that raises is logged and ignored: the facts are
already stored, and the periodic refresh shows them again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.gate.view import GateView


@dataclass(frozen=True)
class PanelChanged:
    """Something on the run's sign-off panel changed (or it is shown for the first time)."""

    view: GateView


@dataclass(frozen=True)
class RunDecided:
    """The run reached a final decision, recorded once; announce it once."""

    view: GateView


GateEvent = PanelChanged | RunDecided
GateListener = Callable[[GateEvent], Awaitable[None]]
