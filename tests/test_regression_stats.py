"""The pure statistics of checks/regression.py and the guidance of checks/guidance.py.

Reference p-values come from scipy 1.17 (``mannwhitneyu(current, baseline,
alternative="greater", method="asymptotic")`` on the expanded samples), computed once
outside this project: scipy is not a dependency."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from checks.guidance import RunFigures, errors, for_metric, latency, throughput
from checks.load import LoadOptions
from checks.regression import (
    Baseline,
    Distribution,
    compare,
    histogram,
    mann_whitney,
    parse_limit,
    percentile,
    proportion_increase_p,
    rate_decrease_p,
    verdict,
)


def expand(hist: dict[int, int]) -> list[int]:
    return [value for value, count in hist.items() for _ in range(count)]


@pytest.mark.parametrize(
    ("current", "baseline", "u", "p"),
    [
        ({4: 1, 5: 1, 6: 1}, {1: 1, 2: 1, 3: 1}, 9.0, 0.04042779918502612),
        ({10: 5, 11: 3, 12: 2, 15: 1}, {9: 4, 10: 6, 11: 2}, 104.0, 0.006832961852372441),
        (
            {180: 400, 190: 300, 200: 200, 290: 100},
            {170: 350, 180: 350, 190: 200, 200: 100},
            740000.0,
            1.0669755880921098e-83,
        ),
    ],
)
def test_u_test_matches_scipy(
    current: dict[int, int], baseline: dict[int, int], u: float, p: float
) -> None:
    result = mann_whitney(current, baseline)
    assert result.u == u
    assert math.isclose(result.p_greater, p, rel_tol=1e-9)


def test_u_from_histograms_equals_u_from_pairs() -> None:
    """U counts the pairs where the current request was slower (ties count a half)."""
    current, baseline = {3: 2, 5: 4, 8: 1}, {3: 3, 4: 2, 5: 1}
    pairs = sum(
        1.0 if a > b else 0.5 if a == b else 0.0 for a in expand(current) for b in expand(baseline)
    )
    assert mann_whitney(current, baseline).u == pairs


def test_same_distribution_is_not_significant_and_constant_data_gives_one() -> None:
    same = {50: 30, 60: 50, 70: 20}
    assert mann_whitney(same, same).p_greater > 0.4
    assert mann_whitney({5: 10}, {5: 10}).p_greater == 1.0
    assert mann_whitney({}, {5: 10}).p_greater == 1.0


def test_proportion_and_rate_tests_point_the_right_way() -> None:
    assert proportion_increase_p(50, 1000, 5, 1000) < 1e-6
    assert proportion_increase_p(5, 1000, 50, 1000) > 0.99
    assert proportion_increase_p(0, 1000, 0, 1000) == 1.0
    assert rate_decrease_p(800, 10.0, 1000, 10.0) < 1e-3  # 80/s vs 100/s
    assert rate_decrease_p(1000, 10.0, 1000, 10.0) == pytest.approx(0.5)


def test_percentile_and_histogram_round_like_locust() -> None:
    assert histogram([3.4, 3.6, 123.0, 127.0, 1234.0]) == {3: 1, 4: 1, 120: 1, 130: 1, 1200: 1}
    hist = {10: 90, 20: 5, 300: 5}
    assert (percentile(hist, 0.5), percentile(hist, 0.95), percentile(hist, 0.99)) == (
        10.0,
        20.0,
        300.0,
    )
    assert percentile({}, 0.95) == 0.0


def test_limits_parse_and_bad_ones_say_the_expected_form() -> None:
    assert parse_limit("p95", "+10%").amount == 10.0
    assert parse_limit("error_rate", "+0.5pt").amount == 0.5
    assert parse_limit("rps", "-5%").amount == 5.0
    with pytest.raises(ValueError, match=r'expected "rps: -5%" \(a fall in percent\); got'):
        parse_limit("rps", "+5%")
    with pytest.raises(ValueError, match="unknown regression metric 'p42'"):
        parse_limit("p42", "+1%")
    with pytest.raises(ValidationError, match=r"error_rate: \+0.5pt"):
        LoadOptions.model_validate(
            {
                "users": 1,
                "duration": 1,
                "tasks": [{"path": "/"}],
                "compare_to": "last_go",
                "regression": {"error_rate": "+0.5%"},
            }
        )


def shifted(base: dict[int, int], factor: float) -> dict[int, int]:
    return {round(value * factor): count for value, count in base.items()}


BASE = {v: 10 + (v % 7) for v in range(150, 200)} | {v: 3 for v in range(200, 240)}


def test_a_slower_release_counts_with_both_figures_the_change_and_the_p_value() -> None:
    before = Baseline(7, "2.13.0", Distribution(BASE, sum(BASE.values()), 0, 10.0))
    now = Distribution(shifted(BASE, 1.6), sum(BASE.values()), 0, 10.0)
    limits = {"p95": parse_limit("p95", "+10%")}
    (p95,) = compare(now, before, limits)
    assert p95.counts and p95.over_limit and p95.significant
    assert p95.line() == (
        f"p95 {p95.current:.0f} ms vs {p95.baseline:.0f} ms in 2.13.0 "
        f"(+{p95.change:.0f}%, significant, p<0.0001)"
    )
    result = verdict([p95], {"p95": "the whole distribution moved"})
    assert result.regressed and result.summary.startswith("regression: p95 ")
    assert result.summary.endswith("; look at: the whole distribution moved")
    assert "    look at: the whole distribution moved" in result.lines


def test_over_the_limit_but_not_significant_does_not_count() -> None:
    """Ten requests each: +20% on p95, but too few to be sure."""
    small = {100: 3, 110: 4, 120: 3}
    before = Baseline(1, "2.13.0", Distribution(small, 10, 0, 1.0))
    now = Distribution({100: 3, 110: 3, 140: 4}, 10, 0, 1.0)
    (p95,) = compare(now, before, {"p95": parse_limit("p95", "+10%")})
    assert p95.over_limit and not p95.significant and not p95.counts
    assert "not significant" in p95.line()
    assert not verdict([p95]).regressed


def test_significant_but_within_the_limit_does_not_count() -> None:
    many = {v: c * 10 for v, c in BASE.items()}
    before = Baseline(1, "2.13.0", Distribution(many, sum(many.values()), 0, 10.0))
    now = Distribution(shifted(many, 1.04), sum(many.values()), 0, 10.0)
    (p95,) = compare(now, before, {"p95": parse_limit("p95", "+10%")})
    assert p95.significant and not p95.over_limit and not p95.counts
    assert "within +10%" in p95.line()


def test_error_rate_and_throughput_regressions() -> None:
    before = Baseline(1, "2.13.0", Distribution(BASE, 2000, 2, 20.0))
    now = Distribution(BASE, 1500, 30, 20.0)
    limits = {"error_rate": parse_limit("error_rate", "+0.5pt"), "rps": parse_limit("rps", "-5%")}
    errors_c, rps_c = compare(now, before, limits)
    assert errors_c.counts and errors_c.line().startswith("error_rate 2.00% vs 0.10% in 2.13.0")
    assert rps_c.counts and rps_c.line().startswith("rps 75.0/s vs 100.0/s in 2.13.0 (-25%")


def test_the_distribution_survives_json() -> None:
    kept = Distribution({12: 3, 130: 1}, 4, 1, 2.5)
    assert Distribution.from_json(kept.to_json()) == kept


# -- guidance ---------------------------------------------------------------------------

TASKS = {
    "/api/items": {"p95_ms": 40.0, "p99_ms": 60.0, "failures": 0.0, "requests": 900.0},
    "/api/quote": {"p95_ms": 300.0, "p99_ms": 1900.0, "failures": 12.0, "requests": 100.0},
}


def test_a_tail_far_above_p95_names_the_slowest_endpoints() -> None:
    figures = RunFigures({"p50_ms": 30, "p95_ms": 200, "p99_ms": 1500}, TASKS)
    assert latency(figures) == (
        "tail latency: p99 1500 ms is 7.5x p95; slowest endpoints by p99: "
        "/api/quote (1900 ms), /api/items (60 ms)"
    )


def test_a_whole_shift_against_the_baseline_says_so() -> None:
    figures = RunFigures(
        {"p50_ms": 76, "p95_ms": 95, "p99_ms": 120}, {}, {}, {"p50_ms": 66, "p95_ms": 83}
    )
    hint = latency(figures)
    assert hint is not None and hint.startswith("the whole distribution moved (p50 +15%, p95 +14%)")
    tail_only = RunFigures(
        {"p50_ms": 66, "p95_ms": 120, "p99_ms": 150}, {}, {}, {"p50_ms": 66, "p95_ms": 83}
    )
    assert latency(tail_only) == "p95 rose +45% but p50 only +0%: a slower subset of requests"


def test_errors_only_under_load_point_at_pools_and_limits() -> None:
    by_users = {5: (500, 0), 15: (1400, 0), 25: (2000, 90)}
    hint = errors(RunFigures({}, TASKS, by_users))
    assert hint == (
        "errors only under load: none up to 15 users, from 25 users on: look at connection "
        "pools and rate limits; failing endpoints: /api/quote (12 of 100)"
    )
    assert (
        errors(RunFigures({}, TASKS, {5: (500, 3)})) == "failing endpoints: /api/quote (12 of 100)"
    )


def test_throughput_guidance_tells_slower_from_fewer() -> None:
    slower = RunFigures({"p95_ms": 120}, {}, {}, {"p95_ms": 100})
    assert throughput(slower) == "throughput fell because responses slowed (p95 +20%)"
    held = throughput(RunFigures({"p95_ms": 101}, {}, {}, {"p95_ms": 100}))
    assert held is not None and held.startswith("throughput fell while p95 held (+1%)")


def test_no_pattern_gives_no_line_rather_than_filler() -> None:
    plain = RunFigures({"p50_ms": 10, "p95_ms": 20, "p99_ms": 25, "error_rate_pct": 0.0})
    assert [for_metric(m, plain) for m in ("p95", "error_rate", "rps")] == [None, None, None]
