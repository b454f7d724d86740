"""The ``pii_scan`` kind's options, light (pydantic only) so that loading a plan imports
no HTTP client (checks/registry.py)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, model_validator

from checks._http_options import HttpCheckOptions, RelativePath
from checks.pii.detectors import KINDS, Hit, Kind


class AllowEntry(BaseModel):
    """A known fixture that may appear: an exact ``value`` or a regular expression
    ``pattern`` (matched in full), optionally only for one ``kind``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: str | None = None
    pattern: str | None = None
    kind: Kind | None = None
    reason: str = ""

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: object) -> object:
        return {"value": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _one(self) -> AllowEntry:
        if (self.value is None) == (self.pattern is None):
            raise ValueError("give either value or pattern")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern is not a regular expression: {exc}") from None
        return self

    def allows(self, hit: Hit) -> bool:
        if self.kind is not None and self.kind != hit.kind:
            return False
        if self.value is not None:
            return hit.value == self.value
        return re.fullmatch(self.pattern or "", hit.value) is not None


class PiiScanOptions(HttpCheckOptions):
    paths: list[RelativePath] = Field(min_length=1, max_length=100)
    follow_links: int = Field(default=0, ge=0, le=5)
    """Also scan the pages these link to, this many links deep (same base URL only)."""
    max_pages: int = Field(default=50, ge=1, le=1000)
    kinds: list[Kind] = Field(default_factory=lambda: list(KINDS), min_length=1)
    allow: list[AllowEntry] = Field(default_factory=list, max_length=500)
    with_credentials: bool = True
    """Send the environment's headers: personal data hides behind a login."""
