"""``authz``: who may do what. A matrix of identities (each a set of headers, usually
``${VAR}`` secrets) by paths and methods, each cell expected allowed or denied; catches a
normal user reaching an admin route, not only an anonymous one (``auth_required``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from checks._http import (
    HttpCheckOptions,
    evidence_redactor,
    first_and_more,
    or_list,
    strip_credentials,
    timed_send,
    unreachable,
)
from checks.base import Check, CheckResult
from checks.context import CheckContext

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


@dataclass(frozen=True)
class Cell:
    identity: str
    method: str
    path: str
    expected: str  # "allowed" | "denied"
    status: int

    def outcome(self, denied: list[int]) -> str:
        if 200 <= self.status < 300:
            return "allowed"
        return "denied" if self.status in denied else "unexpected"

    def problem(self, denied: list[int]) -> str | None:
        got = self.outcome(denied)
        if got == self.expected:
            return None
        if self.expected == "denied" and got == "allowed":
            request = f"{self.method} {self.path}"
            return f"{self.identity} reached {request} ({self.status}; expected denied)"
        wanted = "a 2xx" if self.expected == "allowed" else or_list(denied)
        return (
            f"{self.identity} got {self.status} on {self.method} {self.path} "
            f"(expected {self.expected}: {wanted})"
        )


class AuthzCheck(Check[AuthzOptions]):
    type_name = "authz"
    Options = AuthzOptions

    async def run(self, ctx: CheckContext) -> CheckResult:
        o = self.options
        secrets = [v for headers in o.identities.values() for v in headers.values()]
        secrets += [part for v in secrets for part in v.split()[1:]]  # "Bearer <token>"
        redact = evidence_redactor(ctx).with_secrets(secrets)
        cells: list[Cell] = []
        async with ctx.http_client(with_credentials=False) as client:
            strip_credentials(client)
            for rule in o.rules:
                expected = {name: "allowed" for name in rule.allow}
                expected.update({name: "denied" for name in rule.deny})
                for method in rule.methods:
                    for name, outcome in expected.items():
                        request = client.build_request(
                            method, rule.path, headers=o.identities[name], json=rule.json_body
                        )
                        try:
                            exchange = await timed_send(client, request, max_body=o.max_body)
                        except httpx.HTTPError as exc:
                            return unreachable(ctx, request.url, exc)
                        cell = Cell(name, method, rule.path, outcome, exchange.response.status_code)
                        cells.append(cell)
                        ctx.progress(f"{name}: {method} {rule.path} -> {cell.status}")
        problems = [p for cell in cells if (p := cell.problem(o.denied_status))]
        metrics = {
            "requests": float(len(cells)),
            "problems": float(len(problems)),
            "escalations": float(
                sum(
                    c.expected == "denied" and c.outcome(o.denied_status) == "allowed"
                    for c in cells
                )
            ),
        }
        evidence = redact("\n".join(_matrix(cells, o.denied_status)))
        if problems:
            return CheckResult.failed(
                redact(first_and_more(problems)), metrics=metrics, evidence=evidence
            )
        names = len(o.identities)
        summary = f"{len(cells)} requests by {names} identities as expected ({len(o.rules)} rules)"
        return CheckResult.passed(summary, metrics=metrics, evidence=evidence)


def _matrix(cells: list[Cell], denied: list[int]) -> list[str]:
    rows = [f"{'identity':<16} {'request':<36} {'expected':<8} {'got':<16} ok"]
    for c in cells:
        got = f"{c.outcome(denied)} ({c.status})"
        request = f"{c.method} {c.path}"
        mark = "ok" if c.problem(denied) is None else "FAIL"
        rows.append(f"{c.identity[:16]:<16} {request:<36.36} {c.expected:<8} {got:<16} {mark}")
    return rows
