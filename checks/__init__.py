"""The validation catalog: one module per kind of check, a shared result type, a registry.

The names below load on first use (PEP 562), so that importing a light module such as
``checks.units`` does not pull in httpx and pydantic: the CLI's ``--help`` stays instant."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from checks.base import Check, CheckOptions, CheckResult, Status
    from checks.context import CheckContext, ProgressEvent, RunInfo, Target

_HOMES = {
    "Check": "checks.base",
    "CheckOptions": "checks.base",
    "CheckResult": "checks.base",
    "Status": "checks.base",
    "CheckContext": "checks.context",
    "ProgressEvent": "checks.context",
    "RunInfo": "checks.context",
    "Target": "checks.context",
}

__all__ = [
    "Check",
    "CheckContext",
    "CheckOptions",
    "CheckResult",
    "ProgressEvent",
    "RunInfo",
    "Status",
    "Target",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'checks' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
