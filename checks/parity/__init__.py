"""The ``parity`` kind: does the environment mirror production?

Its names are imported on first use, so that loading a plan reads the options module
without the check's implementation (checks/registry.py)."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from checks.parity.check import ParityCheck as ParityCheck
    from checks.parity.options import ParityOptions as ParityOptions

_WHERE = {
    "ParityCheck": "checks.parity.check",
    "ParityOptions": "checks.parity.options",
}
__all__ = ["ParityCheck", "ParityOptions"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
