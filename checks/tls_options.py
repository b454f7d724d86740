"""The ``tls`` kind's options, light (pydantic only) so that loading a plan imports no
HTTP client (checks/registry.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from checks.base import CheckOptions
from checks.quantities import Duration


class TlsOptions(CheckOptions):
    min_version: Literal["TLSv1.2", "TLSv1.3"] = "TLSv1.2"
    min_days_valid: int = Field(default=14, ge=0)
    ca_bundle: Path | None = None
    """Trust this CA bundle instead of the environment's (or the system's)."""
    host: str | None = None
    """Connect here instead of the base URL's host (also the name that is verified)."""
    port: int | None = Field(default=None, ge=1, le=65535)
    check_hostname: bool = True
    connect_timeout: Duration = 10.0
