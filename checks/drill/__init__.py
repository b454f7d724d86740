"""The ``drill`` kind: deploy, rollback, blue/green, failover and backup-restore drills."""

from checks.drill.check import DrillCheck
from checks.drill.options import DrillOptions

__all__ = ["DrillCheck", "DrillOptions"]
