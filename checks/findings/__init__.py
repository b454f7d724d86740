"""The ``findings`` check kind: SARIF, Trivy and Grype reports gated by severity.

Its names are imported on first use, so that loading a plan reads the options module
without the check's implementation (checks/registry.py)."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from checks.findings.check import FindingsCheck as FindingsCheck
    from checks.findings.options import FindingsOptions as FindingsOptions
    from checks.findings.parsers import Finding as Finding
    from checks.findings.parsers import Severity as Severity
    from checks.findings.parsers import parse as parse
    from checks.findings.policy import AllowEntry as AllowEntry

_WHERE = {
    "AllowEntry": "checks.findings.policy",
    "Finding": "checks.findings.parsers",
    "FindingsCheck": "checks.findings.check",
    "FindingsOptions": "checks.findings.options",
    "Severity": "checks.findings.parsers",
    "parse": "checks.findings.parsers",
}
__all__ = ["AllowEntry", "Finding", "FindingsCheck", "FindingsOptions", "Severity", "parse"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
