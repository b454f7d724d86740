"""The statistics of checks/regression.py: one-sided tests that a run is worse than its
baseline, from histograms and counts, and Locust's percentile of a histogram. Pure; split
from regression.py (which re-exports every name here) so the tests read apart from the
limits, verdicts and options. tests/test_regression_stats.py checks known values."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from checks.stratified import rank_sum
from checks.stratified import upper_tail as _upper_tail

Hist = Mapping[int, int]
"""A response-time histogram: response time in (rounded) ms -> number of requests."""


@dataclass(frozen=True)
class UTest:
    """A Mann-Whitney U test of ``current`` against ``baseline``."""

    u: float
    """U of the current sample (how often a current request was slower than a baseline one)."""
    z: float
    p_greater: float
    """One-sided p-value for "current is slower" (stochastically greater)."""
    n_current: int
    n_baseline: int


def mann_whitney(current: Hist, baseline: Hist) -> UTest:
    """The U test from two histograms: each distinct value is one tie group whose members
    share the average rank, so the cost is the number of distinct values, not requests."""
    parts = rank_sum(current, baseline)
    n1, n2 = parts.n_current, parts.n_baseline
    if parts.variance <= 0:  # no requests, or every request took the same time in both runs
        return UTest(parts.u, 0.0, 1.0, n1, n2)
    z = (parts.u - parts.mean - 0.5) / math.sqrt(parts.variance)
    return UTest(parts.u, z, _upper_tail(z), n1, n2)


def proportion_increase_p(fail_now: int, n_now: int, fail_base: int, n_base: int) -> float:
    """One-sided p-value that the current failure proportion exceeds the baseline's (pooled
    two-proportion z-test)."""
    if n_now == 0 or n_base == 0:
        return 1.0
    pooled = (fail_now + fail_base) / (n_now + n_base)
    spread = pooled * (1 - pooled) * (1 / n_now + 1 / n_base)
    if spread <= 0:
        return 1.0
    z = (fail_now / n_now - fail_base / n_base) / math.sqrt(spread)
    return _upper_tail(z)


def rate_decrease_p(n_now: int, s_now: float, n_base: int, s_base: float) -> float:
    """One-sided p-value that the current request rate is below the baseline's (two
    Poisson rates, normal approximation)."""
    if s_now <= 0 or s_base <= 0 or n_now + n_base == 0:
        return 1.0
    spread = n_now / s_now**2 + n_base / s_base**2
    if spread <= 0:
        return 1.0
    z = (n_base / s_base - n_now / s_now) / math.sqrt(spread)
    return _upper_tail(z)


def percentile(hist: Hist, fraction: float) -> float:
    """Like Locust's: the smallest response time with at least ``fraction`` at or below it."""
    total = sum(hist.values())
    if total == 0:
        return 0.0
    wanted = total * fraction
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= wanted:
            return float(value)
    return float(max(hist))
