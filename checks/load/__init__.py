"""The ``load`` check kind: load, stress, soak and spike tests on Locust (run as a
subprocess), with thresholds, live progress, distributed workers and a capacity verdict.

Its names are imported on first use, so that loading a plan reads the options module
without the check's implementation (checks/registry.py)."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from checks.load.check import LoadCheck as LoadCheck
    from checks.load.options import Capacity as Capacity
    from checks.load.options import LoadOptions as LoadOptions
    from checks.load.options import Task as Task
    from checks.load.options import Wait as Wait
    from checks.load.thresholds import Threshold as Threshold
    from checks.load.thresholds import parse_threshold as parse_threshold

_WHERE = {
    "LoadCheck": "checks.load.check",
    "Capacity": "checks.load.options",
    "LoadOptions": "checks.load.options",
    "Task": "checks.load.options",
    "Wait": "checks.load.options",
    "Threshold": "checks.load.thresholds",
    "parse_threshold": "checks.load.thresholds",
}
__all__ = ["Capacity", "LoadCheck", "LoadOptions", "Task", "Threshold", "Wait", "parse_threshold"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
