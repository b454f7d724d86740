"""The ``ops_readiness`` kind: health, metrics, alert rules and runbooks."""

from checks.ops.check import OpsReadinessCheck, OpsReadinessOptions

__all__ = ["OpsReadinessCheck", "OpsReadinessOptions"]
