"""The ``ops_readiness`` kind: health, metrics, alert rules and runbooks.

Its names are imported on first use, so that loading a plan reads the options module
without the check's implementation (checks/registry.py)."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from checks.ops.check import OpsReadinessCheck as OpsReadinessCheck
    from checks.ops.options import OpsReadinessOptions as OpsReadinessOptions

_WHERE = {
    "OpsReadinessCheck": "checks.ops.check",
    "OpsReadinessOptions": "checks.ops.options",
}
__all__ = ["OpsReadinessCheck", "OpsReadinessOptions"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
