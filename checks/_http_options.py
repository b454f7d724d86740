"""Options every HTTP-based kind shares, light (pydantic only) so that loading a plan
imports no HTTP client (checks/registry.py)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from checks.base import CheckOptions
from checks.quantities import ByteSize

DEFAULT_MAX_BODY = 1024 * 1024
"""Bytes of a body kept for expectations and evidence unless the plan says ``max_body``."""


def _relative_path(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"path {path!r} must start with / (it is relative to base_url)")
    return path


RelativePath = Annotated[str, AfterValidator(_relative_path)]
"""A path on the environment, joined to its ``base_url``."""


class HttpCheckOptions(CheckOptions):
    """Options every HTTP-based kind shares."""

    max_body: ByteSize = Field(default=DEFAULT_MAX_BODY, ge=0)
    """Bytes of each response body kept for expectations and evidence (``1MB``,
    ``512KB``); the rest is never read into memory."""
