"""``latency_budget``: a path must answer within a budget at a percentile over a number
of sequential samples (a smoke test's single request can be lucky). A check kind from
another package: preprod finds it through the ``preprod.checks`` entry point."""

from __future__ import annotations

import math
import time

import httpx
from pydantic import Field

from checks.base import Check, CheckOptions, CheckResult
from checks.context import CheckContext


class LatencyBudgetOptions(CheckOptions):
    path: str = Field(pattern=r"^/")
    samples: int = Field(default=20, ge=1, le=1000)
    percentile: float = Field(default=95.0, gt=0, le=100)
    budget_ms: float = Field(gt=0)


class LatencyBudgetCheck(Check[LatencyBudgetOptions]):
    type_name = "latency_budget"
    Options = LatencyBudgetOptions

    async def run(self, ctx: CheckContext) -> CheckResult:
        o = self.options
        timings: list[float] = []
        async with ctx.http_client() as client:
            for _ in range(o.samples):
                started = time.perf_counter()
                try:
                    response = await client.get(o.path)
                except httpx.HTTPError as exc:
                    return CheckResult.error(ctx.redact(f"cannot reach {o.path}: {exc}"))
                timings.append((time.perf_counter() - started) * 1000)
                if response.status_code >= 400:
                    return CheckResult.failed(f"GET {o.path} answered {response.status_code}")
        ranked = sorted(timings)
        value = ranked[max(0, math.ceil(o.percentile / 100 * len(ranked)) - 1)]
        metrics = {"samples": float(len(timings)), f"p{o.percentile:g}_ms": round(value, 1)}
        label = f"p{o.percentile:g} of GET {o.path} is {value:.0f} ms"
        if value > o.budget_ms:
            return CheckResult.failed(f"{label} (budget {o.budget_ms:g} ms)", metrics=metrics)
        return CheckResult.passed(f"{label} (within {o.budget_ms:g} ms)", metrics=metrics)
