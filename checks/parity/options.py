"""The ``parity`` kind's options, light (pydantic only) so that loading a plan imports no
HTTP client (checks/registry.py)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ConfigDict, Field

from checks._http_options import HttpCheckOptions
from checks.base import CheckOptions
from checks.quantities import Duration


class JsonEndpoint(CheckOptions):
    path: str = Field(pattern=r"^/")
    ignore: list[str] = Field(default_factory=list, max_length=200)
    """Key paths not compared (``build.time``); a key covers everything under it."""
    expect_differences: list[str] = Field(default_factory=list, max_length=200)
    """Key paths that must differ, such as the version being released."""


class HeaderSpec(CheckOptions):
    path: str = Field(default="/", pattern=r"^/")
    names: list[str] = Field(min_length=1, max_length=100)


class ParityOptions(HttpCheckOptions):
    json_endpoints: list[JsonEndpoint] = Field(default_factory=list, alias="json", max_length=100)
    headers: HeaderSpec | None = None
    tls: bool = True
    """Compare the negotiated protocol and the certificate issuer (both https)."""
    routes: list[str] = Field(default_factory=list, max_length=500)
    """Paths whose answering (or not) must be the same on both."""
    with_credentials: bool = False
    """Send the environment's headers to the environment (never to production)."""
    production_headers: dict[str, str] = Field(default_factory=dict, max_length=50)
    production_ca_bundle: Path | None = None
    """CA file production's certificate is verified with; default the environment's."""
    request_timeout: Duration = Field(default=10.0, gt=0, le=120)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
