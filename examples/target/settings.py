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
        """Whether the defect switch ``defect`` is on (``regress`` for ``regress=15``)."""
        return any(d.partition("=")[0] == defect for d in self.defects)

    def amount(self, defect: str) -> float:
        """The number given with a switch (15 for ``regress=15``); 0 when it is off."""
        for d in self.defects:
            name, _, value = d.partition("=")
            if name == defect and value:
                return float(value.rstrip("%"))
        return 0.0
