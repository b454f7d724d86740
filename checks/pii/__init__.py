"""The ``pii_scan`` check kind: personal data and secrets in the service's answers."""

from checks.pii.check import AllowEntry, PiiScanCheck, PiiScanOptions

__all__ = ["AllowEntry", "PiiScanCheck", "PiiScanOptions"]
