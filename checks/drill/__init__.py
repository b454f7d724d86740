"""The ``drill`` kind: deploy, rollback, blue/green, failover and backup-restore drills.

Its names are imported on first use, so that loading a plan reads the options module
without the check's implementation (checks/registry.py)."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from checks.drill.check import DrillCheck as DrillCheck
    from checks.drill.options import DrillOptions as DrillOptions

_WHERE = {
    "DrillCheck": "checks.drill.check",
    "DrillOptions": "checks.drill.options",
}
__all__ = ["DrillCheck", "DrillOptions"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
