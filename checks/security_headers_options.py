"""The ``security_headers`` kind's options, light (pydantic only) so that loading a plan
imports no HTTP client (checks/registry.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from checks._http_options import HttpCheckOptions

Requirement = Literal[
    "hsts", "csp", "content_type_options", "frame_protection", "referrer_policy", "cookies"
]


ALL_REQUIREMENTS: tuple[Requirement, ...] = (
    "hsts",
    "csp",
    "content_type_options",
    "frame_protection",
    "referrer_policy",
    "cookies",
)


class SecurityHeadersOptions(HttpCheckOptions):
    path: str = Field(default="/", pattern=r"^/")
    require: list[Requirement] = Field(default_factory=lambda: list(ALL_REQUIREMENTS))
    hsts_min_max_age: int = Field(default=15552000, ge=0)
    """Seconds; 180 days by default, the usual floor for HSTS preload-style policies."""
    warn_on_disclosure: bool = True
