"""``http``: smoke requests against the environment, each judged on status, JSON, body
text and latency. The first line of defence of every plan, so its summaries must say
exactly which request broke and how."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from contextlib import AsyncExitStack
from typing import Any

import httpx

from checks._body import TruncatedBody
from checks._http import (
    Exchange,
    evidence_redactor,
    exchange_evidence,
    first_and_more,
    or_list,
    strip_credentials,
    timed_send,
    unreachable,
)
from checks.base import Check, CheckResult, Status
from checks.comparing import against_baseline
from checks.context import CheckContext
from checks.guidance import RunFigures
from checks.http_options import HttpOptions as HttpOptions
from checks.http_options import RequestSpec as RequestSpec
from checks.regression import (
    Distribution,
    histogram,
    percentile,
)

_MAX_MISMATCHES = 20
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class HttpCheck(Check[HttpOptions]):
    """Sends the requests in order (a POST may prepare what a later GET reads) and
    reports every problem; the first unreachable request ends the check with ``error``."""

    type_name = "http"
    Options = HttpOptions

    def natural_timeout(self) -> float:
        """The default minute for each round the check sends."""
        return self.default_timeout * self.options.repeat

    async def run(self, ctx: CheckContext) -> CheckResult:
        redact = evidence_redactor(ctx)
        problems: list[str] = []
        evidence: list[str] = []
        latencies: list[float] = []
        by_request: dict[str, list[float]] = {}
        failing = 0
        async with AsyncExitStack() as stack:
            clients: dict[bool, httpx.AsyncClient] = {}
            for round_no in range(self.options.repeat):
                for spec in self.options.requests:
                    if spec.with_credentials not in clients:
                        client = ctx.http_client(with_credentials=spec.with_credentials)
                        if not spec.with_credentials:
                            strip_credentials(client)
                        clients[spec.with_credentials] = await stack.enter_async_context(client)
                    client = clients[spec.with_credentials]
                    request = _build(client, spec)
                    try:
                        exchange = await timed_send(client, request, max_body=self.options.max_body)
                    except httpx.HTTPError as exc:
                        shown = redact("\n".join(evidence))
                        return unreachable(ctx, request.url, exc, evidence=shown)
                    elapsed_ms = exchange.elapsed_ms
                    latencies.append(elapsed_ms)
                    by_request.setdefault(spec.label, []).append(elapsed_ms)
                    ctx.progress(
                        f"{spec.label} -> {exchange.response.status_code} in {elapsed_ms:.0f} ms",
                        latency_ms=elapsed_ms,
                    )
                    found = judge(spec, exchange)
                    failing += bool(found)
                    problems.extend(found)
                    if round_no == 0 or found:  # a repeat adds evidence only when it failed
                        evidence.extend(
                            exchange_evidence(
                                exchange,
                                problems=found,
                                request_headers=bool(found),
                                response_headers=bool(found),
                                body=bool(found),
                            )
                        )
        strata = {label: histogram(times) for label, times in by_request.items()}
        seconds = sum(latencies) / 1000
        kept = Distribution(histogram(latencies), len(latencies), failing, seconds, strata)
        metrics = _metrics(latencies, len(self.options.requests), len(problems))
        if self.options.repeat > 1 or self.options.compare_to is not None:
            metrics.update({f"p{q}_ms": percentile(kept.hist, q / 100) for q in (50, 90, 95, 99)})
        problems = list(dict.fromkeys(problems))  # a repeated request fails the same way
        status = Status.FAILED if problems else Status.PASSED
        summary = redact(first_and_more(problems)) if problems else self._passed(latencies)
        compared = await against_baseline(
            ctx,
            self.options,
            kept,
            lambda base: request_figures(metrics, by_request, base),
            ("p95",),
        )
        if compared is not None:
            metrics.update(compared.metrics)
            evidence = [*evidence, "", *compared.lines]
            line = ctx.redact(compared.summary)
            if compared.regressed:
                status = Status.FAILED
                summary = f"{line} | {summary}"
            else:
                summary = f"{summary} | {line}"
        return CheckResult(
            status=status,
            summary=summary,
            metrics=metrics,
            evidence=redact("\n".join(evidence)),
            distribution=kept.to_json(),
        )

    def _passed(self, latencies: list[float]) -> str:
        count = len(latencies)
        rounds = self.options.repeat
        if rounds == 1:
            return (
                f"{count} request{'s' if count != 1 else ''} OK (slowest {max(latencies):.0f} ms)"
            )
        p95 = percentile(histogram(latencies), 0.95)
        return (
            f"{count} requests OK ({rounds} rounds, p95 {p95:.0f} ms, "
            f"slowest {max(latencies):.0f} ms)"
        )


def _metrics(latencies: list[float], per_round: int, problems: int) -> dict[str, float]:
    """Totals and each request of the first round (``latency_ms.1``...)."""
    metrics: dict[str, float] = {
        "requests": float(len(latencies)),
        "problems": float(problems),
        "latency_ms_max": max(latencies),
        "latency_ms_total": sum(latencies),
    }
    metrics.update({f"latency_ms.{i}": ms for i, ms in enumerate(latencies[:per_round], 1)})
    return metrics


def request_figures(
    metrics: Mapping[str, float],
    by_request: Mapping[str, list[float]],
    baseline: Mapping[str, float],
) -> RunFigures:
    """What the guidance reads: this run's percentiles (the metrics of a compared check),
    each request's (so that a slower request is named), and the baseline's."""
    tasks = {}
    for label, times in by_request.items():
        hist = histogram(times)
        tasks[label] = {f"p{q}_ms": percentile(hist, q / 100) for q in (95, 99)}
    total = {k: v for k, v in metrics.items() if k in ("p50_ms", "p90_ms", "p95_ms", "p99_ms")}
    return RunFigures(total, tasks, {}, baseline)


def _build(client: httpx.AsyncClient, spec: RequestSpec) -> httpx.Request:
    url = joined(client.base_url, spec.path)
    if spec.json_body is not None:
        return client.build_request(spec.method, url, headers=spec.headers, json=spec.json_body)
    return client.build_request(spec.method, url, headers=spec.headers, content=spec.body)


@functools.lru_cache(maxsize=256)
def joined(base: httpx.URL, path: str) -> httpx.URL:
    """``path`` on a client's base URL as the client joins them (its base path, then
    ``path`` without the leading slash; a client's base URL ends in one), once a plan's
    request, not at every request: httpx validates each part of a joined URL again,
    character by character, a tenth of what a check cost beside its request."""
    relative = httpx.URL(path)
    if not relative.is_relative_url:
        return relative
    return base.copy_with(raw_path=base.raw_path + relative.raw_path.lstrip(b"/"))


def judge(spec: RequestSpec, exchange: Exchange) -> list[str]:
    """Every way this response misses its spec. Body expectations are skipped when the
    status is already wrong: an error page would only add noise."""
    problems: list[str] = []
    response, elapsed_ms = exchange.response, exchange.elapsed_ms
    status_ok = response.status_code in spec.statuses
    if status_ok:
        problems.extend(_judge_body(spec, exchange))
    else:
        problems.append(
            f"{spec.label} answered {response.status_code} (expected {or_list(spec.statuses)})"
        )
    if spec.max_ms is not None and elapsed_ms > spec.max_ms:
        problems.append(f"{spec.label} took {elapsed_ms:.0f} ms (max {spec.max_ms:g} ms)")
    return problems


def _judge_body(spec: RequestSpec, exchange: Exchange) -> list[str]:
    problems: list[str] = []
    body = exchange.body
    if spec.expect_json is not None:
        try:
            actual = body.json()
        except TruncatedBody as exc:
            problems.append(
                f"{spec.label}: cannot judge expect_json: {exc}; raise max_body if the "
                "whole document is needed"
            )
        except ValueError:
            kind = exchange.response.headers.get("content-type", "no content-type")
            problems.append(f"{spec.label}: body is not JSON ({kind})")
        else:
            problems.extend(
                f"{spec.label}: {mismatch}"
                for mismatch in json_mismatches(spec.expect_json, actual)
            )
    text = body.text
    within = f" (in the part kept: body truncated {body.truncated})" if body.truncated else ""
    problems.extend(
        f"{spec.label}: body does not contain {_show(needle)}{within}"
        for needle in spec.needles
        if needle not in text
    )
    return problems


def json_mismatches(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Where ``actual`` fails to contain ``expected``, as ``$.a.b: expected X, got Y``.

    Subset semantics: an object matches when every expected key is present and matches
    recursively (extra actual keys are fine). A list matches when *every expected
    element is matched by some actual element*, in any order (so ``[{"id": 1}]`` means
    "an item with id 1 is among them"); one actual element may satisfy several expected
    ones. Scalars compare equal, but ``true`` never equals ``1``.
    """
    out: list[str] = []
    _compare(expected, actual, path, out)
    return out[:_MAX_MISMATCHES]


def _compare(expected: Any, actual: Any, path: str, out: list[str]) -> None:
    if len(out) >= _MAX_MISMATCHES:
        return
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            out.append(f"{path}: expected an object, got {_show(actual)}")
            return
        for key, value in expected.items():
            child = f"{path}.{key}" if _IDENTIFIER.match(str(key)) else f"{path}[{_show(key)}]"
            if key not in actual:
                out.append(f"{child}: missing (expected {_show(value)})")
            else:
                _compare(value, actual[key], child, out)
    elif isinstance(expected, list):
        if not isinstance(actual, list):
            out.append(f"{path}: expected a list, got {_show(actual)}")
            return
        for item in expected:
            if not any(not json_mismatches(item, candidate) for candidate in actual):
                out.append(f"{path}: no element matches {_show(item)}")
    elif not _scalar_equal(expected, actual):
        out.append(f"{path}: expected {_show(expected)}, got {_show(actual)}")


def _scalar_equal(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    return bool(expected == actual)


def _show(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."
