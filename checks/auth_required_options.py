"""The ``auth_required`` kind's options, light (pydantic only) so that loading a plan
imports no HTTP client (checks/registry.py)."""

from __future__ import annotations

from pydantic import Field, field_validator

from checks._http_options import HttpCheckOptions, RelativePath


class AuthRequiredOptions(HttpCheckOptions):
    paths: list[RelativePath] = Field(min_length=1)
    method: str = Field(default="GET", pattern=r"^[A-Za-z]+$")
    expect_status: list[int] = Field(default_factory=lambda: [401, 403], min_length=1)
    with_credentials: bool = False
    """Also request each path with the environment's credentials and require a 2xx,
    proving the refusal is about credentials rather than a broken route."""

    @field_validator("method")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()
