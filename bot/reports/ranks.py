"""Order statistics of many sorted lists taken together, without merging them (pure).

A year of insights is ~7,000 day rollups (a service and a day each) whose sorted
durations add up to about a million values per kind; merging them to take a median cost
~0.2 s a list, a year's page ~1-1.6 s at a million runs. Here a value's rank in the union
is a sum of bisections, one per list. A sample of the union (every n-th value of each
list, from a start that differs by list) brackets the wanted ranks between two of its
values; one pass counts the values under the bracket and gathers those within it (a few
percent of them), and only those are sorted. The bracket is checked by counting, so the
values are exactly those of a merge: a sample that misses falls back to the merge. The
starts are a fixed sequence, so a figure is computed the same way every time."""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from itertools import chain

MERGED_UP_TO = 512
"""Up to this many values in all are merged: sorting them is cheaper than sampling
(measured: a service's month, ~4,000 values in 30 lists, brackets ~650 of them)."""
MARGIN = 4.0
"""The bracket either side of the wanted ranks, in standard deviations of the sample's
ranks."""
SPREAD = 2654435761
"""Knuth's multiplicative hash: list ``i`` starts its sample at ``i * SPREAD % step``."""

Parts = Sequence[Sequence[float]]
"""Sorted lists (tuples, or ``array('d')`` read from the rollups)."""


def size(parts: Parts) -> int:
    return sum(map(len, parts))


class Union:
    """Sorted lists taken together, their sample drawn once for any number of ranks."""

    def __init__(self, parts: Parts) -> None:
        self.lists = [part for part in parts if part]
        self.total = size(self.lists)
        self._merged: list[float] | None = None
        self._sample: list[float] | None = None
        # a list of c values gives c / step to the sample, give or take one (variance
        # at most 1/4): the sample's ranks are the union's / step within sqrt(lists) / 2
        self.step = max(1, round(math.sqrt(self.total / math.sqrt(max(1, len(self.lists))))))
        self.spread = MARGIN * math.sqrt(len(self.lists)) / 2 + 1

    def at(self, low: int, high: int) -> tuple[float, float]:
        """The ``low``-th and ``high``-th smallest values (0-based, ``low <= high``), as
        a sort of the union would give them."""
        if not 0 <= low <= high < self.total:
            raise IndexError(f"ranks {low}..{high} outside 0..{self.total - 1}")
        if len(self.lists) == 1:
            return self.lists[0][low], self.lists[0][high]
        if self.total > MERGED_UP_TO and self._merged is None:
            found = self.bracketed(low, high)
            if found is not None:
                return found
        if self._merged is None:
            self._merged = sorted(chain.from_iterable(self.lists))
        return self._merged[low], self._merged[high]

    def bracketed(self, low: int, high: int) -> tuple[float, float] | None:
        """The two values from the slice of the union between two sampled values around
        their ranks; None when the sample missed (the slice does not hold both)."""
        if self._sample is None:
            step, sample = self.step, list[float]()
            for n, part in enumerate(self.lists):  # C slices: no Python loop per value
                sample.extend(part[n * SPREAD % step :: step])
            sample.sort()
            self._sample = sample
        sample = self._sample
        first = math.floor(low / self.step - self.spread)
        last = math.ceil(high / self.step + self.spread)
        floor = sample[first] if 0 <= first < len(sample) else -math.inf
        ceiling = sample[last] if 0 <= last < len(sample) else math.inf
        under = 0
        within: list[float] = []
        for part in self.lists:
            start, end = bisect_left(part, floor), bisect_right(part, ceiling)
            under += start
            within.extend(part[start:end])
        if not under <= low <= high < under + len(within):
            return None
        within.sort()
        return within[low - under], within[high - under]

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile (0..1), as :func:`bot.reports.insights.percentile` gives it
        of the merge: linear interpolation between the closest ranks, to the millisecond."""
        if not self.total:
            return None
        position = q * (self.total - 1)
        low = math.floor(position)
        below, above = self.at(low, min(low + 1, self.total - 1))
        # to the millisecond: SQLite's julianday() arithmetic carries microsecond noise
        return round(below + (above - below) * (position - low), 3)


def at_ranks(parts: Parts, low: int, high: int) -> tuple[float, float]:
    """The ``low``-th and ``high``-th smallest values of ``parts`` taken together."""
    return Union(parts).at(low, high)


def quantile(parts: Parts, q: float) -> float | None:
    """The ``q`` quantile of ``parts`` taken together (:meth:`Union.quantile`)."""
    return Union(parts).quantile(q)
