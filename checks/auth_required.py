"""``auth_required``: protected paths must refuse anonymous requests. An admin page
that answers 200 to anyone is the classic pre-production slip, so every path is
requested with no credentials at all and no redirect following."""

from __future__ import annotations

import httpx

from checks._http import (
    evidence_redactor,
    exchange_evidence,
    first_and_more,
    has_credentials,
    or_list,
    strip_credentials,
    timed_send,
    unreachable,
)
from checks.auth_required_options import AuthRequiredOptions as AuthRequiredOptions
from checks.base import Check, CheckResult
from checks.context import CheckContext


class AuthRequiredCheck(Check[AuthRequiredOptions]):
    """Fails on any anonymous answer outside ``expect_status``: a 2xx (the hole), a 3xx
    (a login redirect hides whether the API itself is protected) or anything else."""

    type_name = "auth_required"
    Options = AuthRequiredOptions

    async def run(self, ctx: CheckContext) -> CheckResult:
        options = self.options
        redact = evidence_redactor(ctx)
        if options.with_credentials and not has_credentials(httpx.Headers(ctx.target.headers)):
            return CheckResult.error(
                f"with_credentials is set but environment {ctx.target.name} "
                "has no credential headers configured"
            )
        expected = or_list(options.expect_status)
        problems: list[str] = []
        lines: list[str] = []
        latencies: list[float] = []
        unprotected = 0
        async with (
            ctx.http_client(with_credentials=False) as anonymous,
            ctx.http_client(with_credentials=True) as authed,
        ):
            strip_credentials(anonymous)
            for path in options.paths:
                passes = [(anonymous, False)]
                if options.with_credentials:
                    passes.append((authed, True))
                for client, credentialed in passes:
                    request = client.build_request(options.method, path)
                    try:
                        exchange = await timed_send(client, request, max_body=options.max_body)
                    except httpx.HTTPError as exc:
                        return unreachable(ctx, request.url, exc, evidence=redact("\n".join(lines)))
                    response, elapsed_ms = exchange.response, exchange.elapsed_ms
                    latencies.append(elapsed_ms)
                    status = response.status_code
                    how = "with" if credentialed else "without"
                    ctx.progress(
                        f"{options.method} {path} {how} credentials -> {status}",
                        latency_ms=elapsed_ms,
                    )
                    if credentialed:
                        problem = (
                            None
                            if response.is_success
                            else f"{path} answered {status} with credentials (expected 2xx)"
                        )
                    else:
                        problem = _judge_anonymous(path, response, options.expect_status, expected)
                        unprotected += int(response.is_success)
                    found = [problem] if problem else []
                    problems.extend(found)
                    entry = exchange_evidence(
                        exchange,
                        problems=found,
                        response_headers=bool(found),
                        body=bool(found),
                    )
                    entry[0] += f" ({how} credentials)"
                    if not credentialed:  # show what was sent: names only, no values
                        entry.insert(1, f"  sent headers: {', '.join(sorted(request.headers))}")
                    lines.extend(entry)
        metrics: dict[str, float] = {
            "paths": float(len(options.paths)),
            "unprotected": float(unprotected),
            "problems": float(len(problems)),
            "latency_ms_max": max(latencies),
        }
        evidence = redact("\n".join(lines))
        if problems:
            return CheckResult.failed(
                redact(first_and_more(problems)), metrics=metrics, evidence=evidence
            )
        count = len(options.paths)
        summary = f"{count} path{'s' if count != 1 else ''} refuse anonymous requests ({expected})"
        if options.with_credentials:
            summary += " and accept credentials"
        return CheckResult.passed(summary, metrics=metrics, evidence=evidence)


def _judge_anonymous(
    path: str, response: httpx.Response, allowed: list[int], expected: str
) -> str | None:
    status = response.status_code
    if status in allowed:
        return None
    if response.is_redirect:
        location = response.headers.get("location", "?")
        return (
            f"{path} answered {status} without credentials, redirecting to {location} "
            f"(expected {expected})"
        )
    return f"{path} answered {status} without credentials (expected {expected})"
