"""The ``findings`` check kind: SARIF, Trivy and Grype reports gated by severity."""

from checks.findings.check import FindingsCheck, FindingsOptions
from checks.findings.parsers import Finding, Severity, parse
from checks.findings.policy import AllowEntry

__all__ = ["AllowEntry", "Finding", "FindingsCheck", "FindingsOptions", "Severity", "parse"]
