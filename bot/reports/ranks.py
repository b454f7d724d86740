"""Order statistics of many sorted lists taken together (pure).

A month of insights is ~600 day rollups (a service and a day each) whose sorted durations
add up to ~75,000 values a kind, a year's to about a million. The figures want a few
ranks of their union (the median, the p90) exactly as a sort of it would give them.
numpy's selection (``partition``: introselect, in C) places those ranks in one pass over
the joined values, without sorting the rest: the 21 figures of the default 30 days at a
million runs a year take ~10 ms, where a pure-Python selection across the lists (a
sample bracketing the ranks, then bisections) took ~24 ms and merging ~200 ms
(docs/ARCHITECTURE.md, "Insights"). numpy is imported with the first figure, so the web
app and the command line start without it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from numpy.typing import NDArray

Parts = Sequence[Sequence[float]]
"""Sorted lists (tuples, or ``array('d')`` read from the rollups)."""


def size(parts: Parts) -> int:
    return sum(map(len, parts))


class Union:
    """Sorted lists taken together, joined once for any number of ranks."""

    def __init__(self, parts: Parts) -> None:
        self.lists = [part for part in parts if len(part)]
        self.total = size(self.lists)
        self._joined: NDArray[Any] | None = None

    def at(self, low: int, high: int) -> tuple[float, float]:
        """The ``low``-th and ``high``-th smallest values (0-based, ``low <= high``), as
        a sort of the union would give them."""
        if not 0 <= low <= high < self.total:
            raise IndexError(f"ranks {low}..{high} outside 0..{self.total - 1}")
        if len(self.lists) == 1:  # sorted already
            return float(self.lists[0][low]), float(self.lists[0][high])
        if self._joined is None:
            import numpy

            self._joined = numpy.concatenate(
                [numpy.asarray(part, dtype=numpy.float64) for part in self.lists]
            )
        joined = self._joined
        joined.partition([low, high] if low != high else low)  # in place: each rank placed
        return float(joined[low]), float(joined[high])

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
