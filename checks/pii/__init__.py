"""The ``pii_scan`` check kind: personal data and secrets in the service's answers.

Its names are imported on first use, so that loading a plan reads the options module
without the check's implementation (checks/registry.py)."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from checks.pii.check import PiiScanCheck as PiiScanCheck
    from checks.pii.options import AllowEntry as AllowEntry
    from checks.pii.options import PiiScanOptions as PiiScanOptions

_WHERE = {
    "AllowEntry": "checks.pii.options",
    "PiiScanCheck": "checks.pii.check",
    "PiiScanOptions": "checks.pii.options",
}
__all__ = ["AllowEntry", "PiiScanCheck", "PiiScanOptions"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
