"""The insights page's SVG charts, pure: numbers in, markup out."""

from __future__ import annotations

import re

from bot.web.charts import duration_chart, line_chart, time_unit


def axis_top(svg: str) -> str:
    """The label at the top of the value axis."""
    found = re.search(r'<text x="4" y="24">([^<]*)</text>', svg)
    assert found, svg
    return found.group(1)


def test_time_unit_follows_the_magnitude() -> None:
    assert time_unit(0) == (1.0, "s") and time_unit(119) == (1.0, "s")
    assert time_unit(120) == (60.0, "min") and time_unit(7199) == (60.0, "min")
    assert time_unit(7200) == (3600.0, "h") and time_unit(86400 * 3) == (3600.0, "h")


def test_short_cycles_are_charted_in_seconds_not_zero_minutes() -> None:
    svg = duration_chart("Median cycle time", ["01-01", "01-02", "01-03"], [30.0, None, 45.0])
    assert axis_top(svg) == "45 s"
    assert "01-01: 30.0 s, 01-02: none, 01-03: 45.0 s" in svg  # the text alternative
    assert "0 min" not in svg


def test_longer_cycles_are_charted_in_minutes_then_hours() -> None:
    assert axis_top(duration_chart("c", ["a", "b"], [600.0, 3150.0])) == "52 min"
    assert axis_top(duration_chart("c", ["a", "b"], [3600.0, 5 * 3600.0])) == "5 h"
    assert axis_top(duration_chart("c", ["a"], [2.5 * 3600.0])) == "2.5 h"
    assert axis_top(duration_chart("c", ["a"], [None])) == "1 s"  # nothing decided


def test_a_fraction_below_ten_keeps_its_decimal() -> None:
    assert axis_top(line_chart("c", ["a"], [0.4], "s")) == "0.4 s"
    assert axis_top(line_chart("c", ["a"], [12.4], "s")) == "12 s"
