"""``authz``: who may do what. A matrix of identities (each a set of headers, usually
``${VAR}`` secrets) by paths and methods, each cell expected allowed or denied; catches a
normal user reaching an admin route, not only an anonymous one (``auth_required``)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from checks._http import (
    evidence_redactor,
    first_and_more,
    or_list,
    strip_credentials,
    timed_send,
    unreachable,
)
from checks.authz_options import AuthzOptions as AuthzOptions
from checks.authz_options import Rule as Rule
from checks.base import Check, CheckResult
from checks.context import CheckContext


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
