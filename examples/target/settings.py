"""What one target process serves: its token, version and defects."""

from __future__ import annotations

from dataclasses import dataclass

SERVICE = "checkout-api"
DEFAULT_TOKEN = "demo-token"
DEFAULT_VERSION = "2.14.0"


@dataclass(frozen=True)
class Settings:
    """The target's configuration, fixed at start."""

    token: str = DEFAULT_TOKEN
    app_version: str = DEFAULT_VERSION
    defects: tuple[str, ...] = ()
    state_dir: str = ""
    """Where the scan report and the audit log are written ("" keeps them in memory)."""

    def has(self, defect: str) -> bool:
        """Whether the defect switch ``defect`` is on."""
        return defect in self.defects
