"""The Mann-Whitney U statistic's parts, and the test by stratum (one stratum per request
of an ``http`` check): pooling a fast /healthz with a slow /api/quote would bury a slower
/api/quote under the pairs that compare one endpoint with the other, so each request is
compared only with the same request of the baseline. Pure."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Hist = Mapping[int, int]


@dataclass(frozen=True)
class RankSum:
    """U of the current sample and its mean and variance under "no difference" (with the
    tie correction), from two histograms: each distinct value is one tie group."""

    u: float
    mean: float
    variance: float
    n_current: int
    n_baseline: int


def rank_sum(current: Hist, baseline: Hist) -> RankSum:
    n1 = sum(current.values())
    n2 = sum(baseline.values())
    if n1 == 0 or n2 == 0:
        return RankSum(0.0, 0.0, 0.0, n1, n2)
    total = n1 + n2
    rank_total = 0.0
    ties = 0.0
    below = 0
    for value in sorted(set(current) | set(baseline)):
        a, b = current.get(value, 0), baseline.get(value, 0)
        group = a + b
        if group == 0:
            continue
        rank_total += a * (below + (group + 1) / 2.0)
        ties += group**3 - group
        below += group
    u = rank_total - n1 * (n1 + 1) / 2.0
    variance = n1 * n2 / 12.0 * ((total + 1) - ties / (total * (total - 1)))
    return RankSum(u, n1 * n2 / 2.0, variance, n1, n2)


def upper_tail(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def stratified_p_greater(strata: Iterable[tuple[Hist, Hist]]) -> float:
    """One-sided p-value for "some request is slower": each stratum's own U test (normal
    approximation, continuity correction), the smallest p-value times the number of
    strata compared (Bonferroni), so that one slower request among unchanged ones is
    not averaged away and a check of many requests is not flagged by chance more often.
    1.0 when no stratum has a spread."""
    tests = [rank_sum(current, baseline) for current, baseline in strata]
    spread = [t for t in tests if t.variance > 0]
    if not spread:
        return 1.0
    smallest = min(upper_tail((t.u - t.mean - 0.5) / math.sqrt(t.variance)) for t in spread)
    return min(1.0, smallest * len(tests))
