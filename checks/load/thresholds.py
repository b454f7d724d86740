"""Threshold expressions such as ``p95 < 500ms``, ``error_rate < 1%`` or ``rps > 100``:
parsing (a pydantic type, so a bad expression is a config error at its element) and
evaluation against measured figures. Pure: no I/O, no Locust."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

LATENCY_METRICS = ("p50", "p90", "p95", "p99", "avg", "max")
METRICS = (*LATENCY_METRICS, "error_rate", "rps")
EXPECTED = 'expected "<metric> < <number>ms", e.g. "p95 < 500ms", "error_rate < 1%" or "rps > 100"'

_EXPR = re.compile(
    r"^\s*(?P<metric>[a-z_0-9]+)\s*(?P<op><=|>=|<|>)\s*"
    r"(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|%)?\s*$",
    re.IGNORECASE,
)
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_NEGATED = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}

# Which metric name each threshold metric reads from the measured figures.
METRIC_KEYS = {
    **{m: f"{m}_ms" for m in LATENCY_METRICS},
    "error_rate": "error_rate_pct",
    "rps": "rps",
}


@dataclass(frozen=True)
class Threshold:
    """One parsed expression. ``limit`` is in ms for latencies, percent for error_rate."""

    metric: str
    op: str
    limit: float
    text: str

    @property
    def key(self) -> str:
        """The metrics-dict key this threshold reads (``p95_ms``, ``error_rate_pct``, ``rps``)."""
        return METRIC_KEYS[self.metric]

    def holds(self, measured: float) -> bool:
        return _OPS[self.op](measured, self.limit)

    def format_value(self, value: float) -> str:
        if self.metric in LATENCY_METRICS:
            return f"{value:.0f} ms"
        if self.metric == "error_rate":
            return f"{value:.1f}%"
        return f"{value:.1f}"

    def format_limit(self) -> str:
        unit = {"error_rate": "%", "rps": ""}.get(self.metric, " ms")
        return f"{self.limit:g}{unit}"

    def evaluate(self, figures: Mapping[str, float]) -> Outcome:
        measured = figures.get(self.key)
        if measured is None:
            return Outcome(self, None, False)
        return Outcome(self, measured, self.holds(measured))

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Outcome:
    threshold: Threshold
    measured: float | None
    passed: bool

    def describe(self) -> str:
        """``p95 1210 ms >= 500 ms`` when broken, ``error_rate 0.0% ok`` when met."""
        t = self.threshold
        if self.measured is None:
            return f"{t.metric} not measured (no requests)"
        value = t.format_value(self.measured)
        if self.passed:
            return f"{t.metric} {value} ok"
        return f"{t.metric} {value} {_NEGATED[t.op]} {t.format_limit()}"

    def line(self) -> str:
        """For evidence: the expression, the measured value and the verdict."""
        verdict = "PASS" if self.passed else "FAIL"
        measured = "-" if self.measured is None else self.threshold.format_value(self.measured)
        return f"{verdict}  {self.threshold.text:<24} measured {measured}"


def parse_threshold(value: Any) -> Threshold:
    """Parse one expression; raises ValueError with the expected form."""
    if isinstance(value, Threshold):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{EXPECTED}; got {value!r}")
    match = _EXPR.match(value)
    if match is None:
        raise ValueError(f"{EXPECTED}; got {value!r}")
    metric = match["metric"].lower()
    unit = (match["unit"] or "").lower()
    number = float(match["number"])
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r} in {value!r}: use one of {', '.join(METRICS)}")
    if metric in LATENCY_METRICS:
        if unit not in ("ms", "s"):
            raise ValueError(
                f'{metric} needs a unit, ms or s, e.g. "{metric} < 500ms"; got {value!r}'
            )
        limit = number * 1000 if unit == "s" else number
    elif metric == "error_rate":
        if unit != "%":
            raise ValueError(f'error_rate is a percentage, e.g. "error_rate < 1%"; got {value!r}')
        limit = number
    else:
        if unit:
            raise ValueError(f'rps takes a plain number, e.g. "rps > 100"; got {value!r}')
        limit = number
    text = f"{metric} {match['op']} {match['number']}{unit}"
    return Threshold(metric=metric, op=match["op"], limit=limit, text=text)


ThresholdExpr = Annotated[
    Threshold,
    BeforeValidator(parse_threshold),
    PlainSerializer(lambda t: t.text, return_type=str),
]
"""A threshold in a plan: written as a string, validated into a :class:`Threshold`."""


def evaluate(thresholds: list[Threshold], figures: Mapping[str, float]) -> list[Outcome]:
    return [t.evaluate(figures) for t in thresholds]


def summarize(outcomes: list[Outcome]) -> str:
    """Broken thresholds first: ``p95 1210 ms >= 500 ms; error_rate 0.0% ok``."""
    ordered = [o for o in outcomes if not o.passed] + [o for o in outcomes if o.passed]
    return "; ".join(o.describe() for o in ordered)


def parse_percent(value: Any) -> float:
    """``"30%"`` or ``30`` -> 30.0 (a percentage, for max_degradation and tolerances)."""
    if isinstance(value, bool):
        raise ValueError('expected a percentage such as "30%"')
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and (m := re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%?\s*", value)):
        number = float(m.group(1))
    else:
        raise ValueError(f'expected a percentage such as "30%", got {value!r}')
    if number < 0:
        raise ValueError("a percentage cannot be negative")
    return number


Percent = Annotated[float, BeforeValidator(parse_percent)]
"""A percentage in a plan, written ``30%`` (or a plain number)."""
