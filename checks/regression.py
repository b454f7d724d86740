"""Regressions against a baseline run (the last GO, or a named version): is this run's
p95, error rate or throughput worse than the baseline's by more than a limit, AND is the
difference statistically real? Pure: histograms and counts in, verdicts and lines out.

Latency uses a one-sided Mann-Whitney U test computed straight from the two response-time
histograms (rounded ms -> count, as Locust keeps them), with the normal approximation, the
tie correction and a continuity correction (scipy's ``mannwhitneyu(..., method="asymptotic")``
gives the same p-values; tests/test_regression_stats.py checks known values). The error rate
uses a one-sided two-proportion z-test, throughput a one-sided test of two Poisson rates.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, Field, field_validator

from checks.regression_stats import Hist as Hist
from checks.regression_stats import UTest as UTest
from checks.regression_stats import mann_whitney as mann_whitney
from checks.regression_stats import percentile as percentile
from checks.regression_stats import proportion_increase_p as proportion_increase_p
from checks.regression_stats import rate_decrease_p as rate_decrease_p
from checks.stratified import stratified_p_greater

LATENCY_METRICS = ("p50", "p90", "p95", "p99")
DEFAULT_LIMITS = {"p95": "+10%", "error_rate": "+0.5pt", "rps": "-5%"}
LAST_GO = "last_go"


# -- statistics (the tests themselves: checks/regression_stats.py) ----------------------


def latency_p(current: Distribution, baseline: Distribution) -> float:
    """One-sided p-value for "current is slower": stratified by request when both runs
    kept their requests apart and share some, else the U test of the two histograms."""
    shared = [name for name in current.strata if name in baseline.strata]
    if shared:
        return stratified_p_greater((current.strata[n], baseline.strata[n]) for n in shared)
    return mann_whitney(current.hist, baseline.hist).p_greater


# -- the figures compared ------------------------------------------------------------------


@dataclass(frozen=True)
class Distribution:
    """What one run of a check keeps for later comparisons (bot/store/baselines.py)."""

    hist: dict[int, int]
    requests: int
    failures: int = 0
    seconds: float = 0.0
    strata: dict[str, dict[int, int]] = field(default_factory=dict)
    """Per request (``GET /healthz`` -> histogram) for an ``http`` check: its latency
    test compares each request with the same request of the baseline."""

    @property
    def error_rate_pct(self) -> float:
        return 100.0 * self.failures / self.requests if self.requests else 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "hist": _hist_json(self.hist),
            "requests": self.requests,
            "failures": self.failures,
            "seconds": self.seconds,
            **(
                {"strata": {k: _hist_json(v) for k, v in self.strata.items()}}
                if self.strata
                else {}
            ),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Distribution:
        return cls(
            hist=_hist(data.get("hist")),
            requests=int(data.get("requests") or 0),
            failures=int(data.get("failures") or 0),
            seconds=float(data.get("seconds") or 0.0),
            strata={str(k): _hist(v) for k, v in (data.get("strata") or {}).items()},
        )


def _hist(raw: Any) -> dict[int, int]:
    return {int(float(k)): int(v) for k, v in (raw or {}).items()}


def _hist_json(hist: Mapping[int, int]) -> dict[str, int]:
    return {str(k): v for k, v in sorted(hist.items())}


def histogram(latencies_ms: list[float]) -> dict[int, int]:
    """Latencies rounded as Locust rounds them (1 ms below 100, 10 ms below 1 s, then
    100 ms): the same compact form for an ``http`` check's requests."""
    out: dict[int, int] = {}
    for ms in latencies_ms:
        step = 1 if ms < 100 else 10 if ms < 1000 else 100
        key = round(ms / step) * step
        out[key] = out.get(key, 0) + 1
    return out


@dataclass(frozen=True)
class Baseline:
    """The run compared with: its label for the lines ("2.13.0") and its figures."""

    run_id: int
    version: str
    distribution: Distribution


class BaselineSource(Protocol):
    """Finds the baseline of a check (the engine passes one through the CheckContext):
    the Baseline, or a plain sentence saying why there is none."""

    def __call__(self, check_id: str, compare_to: str) -> Awaitable[Baseline | str]: ...


# -- limits -------------------------------------------------------------------------------

_LIMIT = re.compile(r"^\s*(?P<sign>[+-])\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>%|pt)\s*$")


@dataclass(frozen=True)
class Limit:
    """``p95: +10%`` (relative rise), ``error_rate: +0.5pt`` (rise in percentage points) or
    ``rps: -5%`` (relative fall)."""

    metric: str
    amount: float
    text: str


def parse_limit(metric: str, value: Any) -> Limit:
    """One ``regression:`` entry; ValueError naming the expected form."""
    text = str(value)
    match = _LIMIT.match(text)
    if metric in LATENCY_METRICS:
        expected, sign, unit = f'"{metric}: +10%" (a rise in percent)', "+", "%"
    elif metric == "error_rate":
        expected, sign, unit = '"error_rate: +0.5pt" (a rise in percentage points)', "+", "pt"
    elif metric == "rps":
        expected, sign, unit = '"rps: -5%" (a fall in percent)', "-", "%"
    else:
        known = ", ".join([*LATENCY_METRICS, "error_rate", "rps"])
        raise ValueError(f"unknown regression metric {metric!r}: use one of {known}")
    if isinstance(value, bool) or match is None:
        raise ValueError(f"expected {expected}; got {text!r}")
    if match["sign"] != sign or match["unit"] != unit:
        raise ValueError(f"expected {expected}; got {text!r}")
    return Limit(metric, float(match["number"]), f"{sign}{match['number']}{unit}")


def parse_limits(raw: Mapping[str, Any]) -> dict[str, Limit]:
    return {metric: parse_limit(metric, value) for metric, value in raw.items()}


# -- verdicts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """One metric compared with the baseline."""

    metric: str
    current: float
    baseline: float
    change: float
    """Percent for latency and rps, percentage points for the error rate."""
    limit: Limit
    p_value: float
    over_limit: bool
    significant: bool
    version: str

    @property
    def counts(self) -> bool:
        """A regression only when both over its limit and statistically real."""
        return self.over_limit and self.significant

    def line(self) -> str:
        """``p95 292 ms vs 181 ms in 2.13.0 (+61%, significant, p=0.0001)``."""
        if self.metric in LATENCY_METRICS:
            figures = f"{self.current:.0f} ms vs {self.baseline:.0f} ms"
            change = f"{self.change:+.0f}%"
        elif self.metric == "error_rate":
            figures = f"{self.current:.2f}% vs {self.baseline:.2f}%"
            change = f"{self.change:+.2f}pt"
        else:
            figures = f"{self.current:.1f}/s vs {self.baseline:.1f}/s"
            change = f"{self.change:+.0f}%"
        if not self.over_limit:
            verdict = f"within {self.limit.text}"
        elif self.significant:
            verdict = "significant"
        else:
            verdict = "not significant"
        p = format_p(self.p_value)
        return f"{self.metric} {figures} in {self.version} ({change}, {verdict}, {p})"


def format_p(p: float) -> str:
    """``p<0.0001``, ``p=0.0042``, ``p=0.084``, ``p=0.39``."""
    if p < 0.0001:
        return "p<0.0001"
    return f"p={p:.4f}" if p < 0.01 else f"p={p:.3f}" if p < 0.1 else f"p={p:.2f}"


def _relative(current: float, baseline: float) -> float:
    if baseline > 0:
        return (current - baseline) / baseline * 100.0
    return 0.0 if current == baseline else math.inf


def compare(
    current: Distribution,
    baseline: Baseline,
    limits: Mapping[str, Limit],
    confidence: float = 0.99,
) -> list[Comparison]:
    """Each limited metric of ``current`` against the baseline, at ``confidence``."""
    alpha = 1.0 - confidence
    base = baseline.distribution
    out: list[Comparison] = []
    p_latency: float | None = None
    for metric, limit in limits.items():
        if metric in LATENCY_METRICS:
            fraction = int(metric[1:]) / 100
            now, then = percentile(current.hist, fraction), percentile(base.hist, fraction)
            change = _relative(now, then)
            over = change > limit.amount
            if p_latency is None:
                p_latency = latency_p(current, base)
            p = p_latency
        elif metric == "error_rate":
            now, then = current.error_rate_pct, base.error_rate_pct
            change = now - then
            over = change > limit.amount
            p = proportion_increase_p(
                current.failures, current.requests, base.failures, base.requests
            )
        else:
            now, then = current.rps, base.rps
            change = _relative(now, then)
            over = -change > limit.amount
            p = rate_decrease_p(current.requests, current.seconds, base.requests, base.seconds)
        out.append(
            Comparison(metric, now, then, change, limit, p, over, p < alpha, baseline.version)
        )
    return out


@dataclass
class RegressionVerdict:
    """What a check adds to its result: lines for the summary and evidence, metrics, and
    whether a regression counts (the check then fails)."""

    regressed: bool = False
    summary: str = ""
    lines: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)


def verdict(
    comparisons: list[Comparison], guidance: Mapping[str, str] | None = None
) -> RegressionVerdict:
    """The regressions first in the summary; every comparison in the evidence lines, each
    counted regression followed by its one line of guidance (if the figures gave one)."""
    counted = [c for c in comparisons if c.counts]
    hints = dict(guidance or {})
    lines = ["compared with the baseline:"]
    metrics: dict[str, float] = {}
    for c in comparisons:
        lines.append(f"  {'REGRESSION' if c.counts else 'ok'}  {c.line()}")
        hint = hints.get(c.metric)
        if c.counts and hint:
            lines.append(f"    look at: {hint}")
        metrics[f"baseline_{c.metric}"] = round(c.baseline, 2)
        metrics[f"regression_p_{c.metric}"] = c.p_value
    if counted:
        summary = "regression: " + "; ".join(c.line() for c in counted)
        first = next((hints[c.metric] for c in counted if hints.get(c.metric)), None)
        if first:
            summary = f"{summary}; look at: {first}"
    else:
        summary = "; ".join(c.line() for c in comparisons)
    return RegressionVerdict(bool(counted), summary, lines, metrics)


def no_baseline(reason: str) -> RegressionVerdict:
    """A missing baseline is said plainly and passes."""
    return RegressionVerdict(False, reason, [reason], {})


# -- plan options --------------------------------------------------------------------------


class RegressionOptions(BaseModel):
    """The keys a comparing check (load, http) adds to its options."""

    compare_to: str | None = None
    """``last_go`` (the same check of the last GO run of this service and environment) or
    a version ("2.13.0")."""
    regression: dict[str, str] | None = None
    """Limits per metric (``{p95: +10%, error_rate: +0.5pt, rps: -5%}``); default
    :data:`DEFAULT_LIMITS` (the kind's own metrics)."""
    confidence: float = Field(default=0.99, gt=0.5, lt=1.0)
    """How sure a difference must be to count: 0.99 counts it when p < 0.01."""

    @field_validator("compare_to")
    @classmethod
    def _target(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError('expected "last_go" or a version such as "2.13.0"')
        return value.strip() if value is not None else None

    @field_validator("regression", mode="before")
    @classmethod
    def _limits(cls, value: Any) -> Any:
        if value is None:
            return value
        if not isinstance(value, Mapping):
            raise ValueError('expected a mapping such as {p95: "+10%", rps: "-5%"}')
        for metric, limit in value.items():
            parse_limit(str(metric), limit)
        return {str(k): str(v) for k, v in value.items()}

    def limits(self, metrics: tuple[str, ...] = ("p95", "error_rate", "rps")) -> dict[str, Limit]:
        """The configured limits, or the defaults for the ``metrics`` this kind measures."""
        if self.regression is not None:
            return parse_limits(self.regression)
        return parse_limits({m: v for m, v in DEFAULT_LIMITS.items() if m in metrics})
