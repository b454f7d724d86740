"""The trend charts of the run page and the dashboard: each load check's p95, error rate
and throughput across the service's last releases, and a stress check's capacity
headroom over time (bot/store/trends.py reads the figures). Pure: trends in, titled
charts out, drawn with bot/web/charts.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from bot.store.trends import CheckTrend
from bot.web.charts import line_chart

LOAD_FIGURES = (
    ("p95_ms", "p95", "ms", "p95 latency (ms)"),
    ("error_rate_pct", "error rate", "%", "errors (%)"),
    ("rps", "throughput", "rps", "requests per second"),
)
STRESS_FIGURES = (
    ("headroom_ratio", "capacity headroom", "x", "sustained / expected peak"),
    ("sustained_rps", "sustained throughput", "rps", "requests per second"),
)


@dataclass(frozen=True)
class TrendChart:
    check_id: str
    title: str
    chart: Markup


def trend_charts(trends: Sequence[CheckTrend]) -> list[TrendChart]:
    """One chart per figure a check has in at least one release (a stress check: its
    headroom, or its sustained throughput where no expected peak was set)."""
    charts: list[TrendChart] = []
    for trend in trends:
        labels = [p.version for p in trend.points]
        figures = STRESS_FIGURES if trend.stress else LOAD_FIGURES
        for key, name, unit, axis in figures:
            values = [p.metrics.get(key) for p in trend.points]
            if all(v is None for v in values):
                continue
            title = f"{trend.check_id}: {name} over the last {len(labels)} releases"
            chart = line_chart(title, labels, values, unit, x_label="release", y_label=axis)
            charts.append(TrendChart(trend.check_id, title, chart))
            if trend.stress:
                break  # headroom when known, else the sustained throughput
    return charts
