"""The insights' medians taken across sorted lists (bot/reports/ranks.py) are the values
of a merge: on random lists, small and large, odd and even totals, empty lists among
them, ties, and many ranks asked of one union in any order."""

from __future__ import annotations

import itertools
import math
import random
import subprocess
import sys
from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.reports.insights import figures, percentile
from bot.reports.ranks import Union, at_ranks, quantile
from bot.store.tally import Tally, exact_sum


def random_parts(rng: random.Random, total: int, lists: int) -> list[array[float]]:
    """``total`` durations split at random over ``lists`` sorted lists (some empty),
    rounded so that some values repeat."""
    parts: list[list[float]] = [[] for _ in range(lists)]
    used = [n for n in range(lists) if n % 5 != 4] or [0]  # every fifth list empty
    for _ in range(total):
        value = round(rng.lognormvariate(7, 1.5), rng.choice((0, 3)))
        parts[rng.choice(used) if rng.random() < 0.9 else 0].append(value)
    return [array("d", sorted(part)) for part in parts]


@pytest.mark.parametrize(
    ("total", "lists"),
    [
        (1, 3),
        (2, 5),
        (7, 40),
        (512, 300),  # even
        (513, 300),  # odd
        (20_001, 700),
        (30_000, 2),
        (25_000, 1),
    ],
)
def test_the_quantiles_across_lists_are_those_of_their_merge(total: int, lists: int) -> None:
    rng = random.Random(total * 31 + lists)
    parts = random_parts(rng, total, lists)
    assert lists < 5 or any(not part for part in parts)
    merged = sorted(v for part in parts for v in part)
    assert len(merged) == total
    for q in (0.0, 0.1, 0.5, 0.9, 0.99, 1.0):
        assert quantile(parts, q) == percentile(merged, q), q
    for low in {0, total // 2, total - 1, rng.randrange(total)}:
        high = min(low + 1, total - 1)
        assert at_ranks(parts, low, high) == (merged[low], merged[high])


def test_one_union_answers_many_ranks_in_any_order() -> None:
    """The joined values are partitioned in place for each pair of ranks: a later pair,
    above or below an earlier one, still finds the values a sort would give."""
    rng = random.Random(5)
    parts = random_parts(rng, 12_000, 100)
    merged = sorted(v for part in parts for v in part)
    union = Union(parts)
    for low in [*range(11_000, 0, -997), 0, 6000, 6000, 11_998, *rng.sample(range(11_999), 20)]:
        assert union.at(low, low + 1) == (merged[low], merged[low + 1]), low
        assert union.at(low, low) == (merged[low], merged[low])
    for q in (0.9, 0.5, 0.1, 0.99):
        assert union.quantile(q) == percentile(merged, q)


def test_ties_are_counted_once_each() -> None:
    parts = [array("d", [1.0] * 5000 + [2.0] * 10), array("d", [0.5, 1.0, 1.0] + [3.0] * 6000)]
    merged = sorted(v for part in parts for v in part)
    for low in (0, 1, 2, 4999, 5003, 5012, 5013, len(merged) - 2):
        assert at_ranks(parts, low, low + 1) == (merged[low], merged[low + 1])


def test_no_values_have_no_quantile_and_ranks_outside_raise() -> None:
    assert quantile([array("d"), ()], 0.5) is None
    with pytest.raises(IndexError):
        at_ranks([(1.0, 2.0)], 0, 2)


def test_the_automated_share_does_not_depend_on_how_the_runs_are_split() -> None:
    """Days or weeks, in any order: the share adds every duration correctly rounded."""
    rng = random.Random(9)
    values = [rng.uniform(0, 1e6) * 10 ** rng.randint(-6, 3) for _ in range(3000)]
    waits = [rng.uniform(0, 1e5) for _ in values]

    def tally(some: range) -> Tally:
        picked = sorted(values[i] for i in some), sorted(waits[i] for i in some)
        return Tally(runs=len(some), cycles=picked[0], automated=picked[0], waiting=picked[1])

    whole = figures([tally(range(3000))], [])
    split = figures([tally(range(n, min(n + 7, 3000))) for n in range(0, 3000, 7)][::-1], [])
    assert split.automated_share == whole.automated_share
    assert whole.automated_share == math.fsum(values) / (math.fsum(values) + math.fsum(waits))


def test_numpy_is_imported_with_the_first_figure_not_with_the_web_app() -> None:
    probe = (
        "import sys; import bot.web.insights, bot.web.app; print('numpy' in sys.modules); "
        "from bot.reports.ranks import quantile; quantile([(1.0, 3.0), (2.0,)], 0.5); "
        "print('numpy' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["False", "True"], done.stderr


@given(
    st.lists(
        st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)
        | st.sampled_from([1e-300, 5e-324, 2.0**-40, 0.1, 1e15 + 0.5]),
        max_size=60,
    ),
    st.integers(1, 6),
)
def test_exact_sums_add_up_as_every_value_would(values: list[float], pieces: int) -> None:
    """A rollup's stored sum is its durations' exact sum: fsum of the sums of any split
    (and of loose values beside them) is fsum of every value."""
    terms = exact_sum(values)
    assert math.fsum(terms) == math.fsum(values)
    assert len(terms) <= 40 and (terms == ()) == (math.fsum(values) == 0.0)
    cut = sorted({0, len(values), *(len(values) * n // pieces for n in range(pieces))})
    parts = [values[a:b] for a, b in itertools.pairwise(cut)] or [[]]
    stored = [t for part in parts[1:] for t in exact_sum(part)]
    assert math.fsum([*parts[0], *stored]) == math.fsum(values)


def test_a_tally_s_known_sum_stands_for_its_list() -> None:
    """The figures add a row's stored sum in place of its durations (one term of a few
    instead of every value), and give what the values give."""
    rng = random.Random(3)
    automated = sorted(rng.uniform(0, 1e4) * 10 ** rng.randint(-6, 2) for _ in range(999))
    waiting = sorted(rng.uniform(0, 1e5) for _ in range(999))
    plain = Tally(runs=999, cycles=automated, automated=automated, waiting=waiting)
    summed = plain._replace(automated_sum=exact_sum(automated), waiting_sum=exact_sum(waiting))
    assert figures([summed], []) == figures([plain], [])
    # a sum that disagrees with its list shows: the figures do read it
    wrong = summed._replace(automated_sum=(1.0,))
    assert figures([wrong], []).automated_share != figures([plain], []).automated_share
