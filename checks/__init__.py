"""The validation catalog: one module per kind of check, a shared result type, a registry."""

from checks.base import Check, CheckOptions, CheckResult, Status
from checks.context import CheckContext, ProgressEvent, RunInfo, Target

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
