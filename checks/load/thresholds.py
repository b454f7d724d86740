"""Threshold expressions such as ``p95 < 500ms``, ``error_rate < 1%`` or ``rps > 100``:
parsing (a pydantic type, so a bad expression is a config error at its element) and
evaluation against measured figures. Pure: no I/O, no Locust.

The grammar is shared; the metrics it knows form a :class:`Vocabulary`. Load tests use
:data:`LOAD`; other kinds (the drill's probe: ``errors == 0``, ``max_outage < 2s``)
bring their own."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, PlainSerializer

LATENCY_METRICS = ("p50", "p90", "p95", "p99", "avg", "max")
METRICS = (*LATENCY_METRICS, "error_rate", "rps")
EXPECTED = 'expected "<metric> < <number>ms", e.g. "p95 < 500ms", "error_rate < 1%" or "rps > 100"'

_EXPR = re.compile(
    r"^\s*(?P<metric>[a-z_0-9]+)\s*(?P<op><=|>=|==|<|>)\s*"
    r"(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|%)?\s*$",
    re.IGNORECASE,
)
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}
_NEGATED = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!="}

# Which metric name each threshold metric reads from the measured figures.
METRIC_KEYS = {
    **{m: f"{m}_ms" for m in LATENCY_METRICS},
    "error_rate": "error_rate_pct",
    "rps": "rps",
}


Unit = Literal["ms", "%", ""]
"""How a metric is written: a duration (``ms`` or ``s``, kept in ms), a percentage, or a
plain number."""


@dataclass(frozen=True)
class Vocabulary:
    """The metrics a kind's thresholds may name: metric -> (figure key, unit)."""

    metrics: Mapping[str, tuple[str, Unit]]
    expected: str
    """The hint given with a malformed expression."""
    integers: frozenset[str] = frozenset()
    """Counted metrics, shown without decimals (``errors 3 != 0``)."""


LOAD = Vocabulary(
    metrics={
        **{m: (f"{m}_ms", "ms") for m in LATENCY_METRICS},
        "error_rate": ("error_rate_pct", "%"),
        "rps": ("rps", ""),
    },
    expected=EXPECTED,
)


@dataclass(frozen=True)
class Threshold:
    """One parsed expression. ``limit`` is in ms for durations, percent for rates."""

    metric: str
    op: str
    limit: float
    text: str
    key: str = ""
    """The figures key this threshold reads (``p95_ms``, ``error_rate_pct``, ``rps``)."""
    unit: Unit = ""
    integer: bool = False

    def __post_init__(self) -> None:
        if not self.key and self.metric in METRIC_KEYS:  # built by hand for a load metric
            key, unit = LOAD.metrics[self.metric]
            object.__setattr__(self, "key", key)
            object.__setattr__(self, "unit", unit)

    def holds(self, measured: float) -> bool:
        return _OPS[self.op](measured, self.limit)

    def format_value(self, value: float) -> str:
        if self.unit == "ms":
            return f"{value:.0f} ms"
        if self.unit == "%":
            return f"{value:.1f}%"
        return f"{value:.0f}" if self.integer else f"{value:.1f}"

    def format_limit(self) -> str:
        unit = {"%": "%", "": ""}.get(self.unit, " ms")
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


def parse_threshold(value: Any, vocabulary: Vocabulary = LOAD) -> Threshold:
    """Parse one expression; raises ValueError with the expected form."""
    if isinstance(value, Threshold):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{vocabulary.expected}; got {value!r}")
    match = _EXPR.match(value)
    if match is None:
        raise ValueError(f"{vocabulary.expected}; got {value!r}")
    metric = match["metric"].lower()
    unit = (match["unit"] or "").lower()
    number = float(match["number"])
    if metric not in vocabulary.metrics:
        known = ", ".join(vocabulary.metrics)
        raise ValueError(f"unknown metric {metric!r} in {value!r}: use one of {known}")
    key, kind = vocabulary.metrics[metric]
    if kind == "ms":
        if unit not in ("ms", "s"):
            raise ValueError(
                f'{metric} needs a unit, ms or s, e.g. "{metric} < 500ms"; got {value!r}'
            )
        limit = number * 1000 if unit == "s" else number
    elif kind == "%":
        if unit != "%":
            raise ValueError(f'{metric} is a percentage, e.g. "{metric} < 1%"; got {value!r}')
        limit = number
    else:
        if unit:
            raise ValueError(f'{metric} takes a plain number, e.g. "{metric} > 100"; got {value!r}')
        limit = number
    text = f"{metric} {match['op']} {match['number']}{unit}"
    integer = metric in vocabulary.integers
    return Threshold(metric, match["op"], limit, text, key=key, unit=kind, integer=integer)


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
