"""The ``authz`` kind's options, light (pydantic only) so that loading a plan imports no
HTTP client (checks/registry.py)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from checks._http_options import HttpCheckOptions

_NAME = r"^[A-Za-z][A-Za-z0-9_.-]{0,39}$"


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class Rule(BaseModel):
    """One row of the matrix: a path, its methods, who is allowed and who is denied."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    path: str = Field(pattern=r"^/")
    methods: list[str] = Field(default_factory=lambda: ["GET"], min_length=1)
    allow: list[str] = Field(default_factory=list)
    deny: list[str] = Field(default_factory=list)
    json_body: object = Field(default=None, alias="json")
    """Sent with every request of this row (a POST needs a body to be judged fairly)."""

    @field_validator("methods")
    @classmethod
    def _methods(cls, value: list[str]) -> list[str]:
        upper = [m.upper() for m in value]
        for method in upper:
            if method not in _METHODS:
                raise ValueError(f"unknown HTTP method {method!r}; use {', '.join(_METHODS)}")
        return upper

    @model_validator(mode="after")
    def _someone(self) -> Rule:
        if not self.allow and not self.deny:
            raise ValueError("name identities under allow, deny or both")
        if both := sorted(set(self.allow) & set(self.deny)):
            raise ValueError(f"identity {both[0]!r} is both allowed and denied")
        return self


class AuthzOptions(HttpCheckOptions):
    identities: dict[str, dict[str, str]] = Field(min_length=1, max_length=20)
    """Name -> headers sent as that identity (``{}`` is anonymous). The environment's
    credential headers are never added: each identity brings its own."""
    rules: list[Rule] = Field(min_length=1, max_length=200)
    denied_status: list[int] = Field(default_factory=lambda: [401, 403, 404], min_length=1)
    """Answers that count as "denied"; allowed means a 2xx."""

    @field_validator("identities")
    @classmethod
    def _names(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for name in value:
            if not re.match(_NAME, name):
                raise ValueError(f"identity name {name!r}: letters, digits, _ . - (max 40)")
        return value

    @model_validator(mode="after")
    def _known(self) -> AuthzOptions:
        for index, rule in enumerate(self.rules):
            for name in [*rule.allow, *rule.deny]:
                if name not in self.identities:
                    known = ", ".join(sorted(self.identities))
                    raise ValueError(f"rules[{index}] names identity {name!r}; identities: {known}")
        return self
