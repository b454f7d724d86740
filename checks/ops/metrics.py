"""Judging a Prometheus exposition against the metric families a service must expose.
Pure: text in, problems out, parsed by ``prometheus_client``'s own parser."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import model_validator

from checks.base import CheckOptions

MetricType = Literal[
    "counter", "gauge", "histogram", "summary", "info", "stateset", "gaugehistogram", "unknown"
]
_STRUCTURAL_LABELS = frozenset({"le", "quantile"})


class MetricRequirement(CheckOptions):
    """A family that must be exposed: its name, and optionally its type and labels.
    Written as a bare name or as ``{name, type, labels}``."""

    name: str
    type: MetricType | None = None
    labels: list[str] = []

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


@dataclass
class Family:
    name: str
    type: str
    samples: set[str] = field(default_factory=set)
    labels: set[str] = field(default_factory=set)


def parse_families(text: str) -> dict[str, Family]:
    """Every family of the exposition by name; ValueError when the text is not Prometheus
    text format."""
    from prometheus_client.parser import text_string_to_metric_families  # at use

    found: dict[str, Family] = {}
    for family in text_string_to_metric_families(text):
        entry = found.setdefault(family.name, Family(family.name, family.type))
        for sample in family.samples:
            entry.samples.add(sample.name)
            entry.labels.update(set(sample.labels) - _STRUCTURAL_LABELS)
    return found


def _find(families: dict[str, Family], name: str) -> Family | None:
    """A family by its name or by a sample name (``http_requests_total`` is a sample of
    the counter family ``http_requests``)."""
    if name in families:
        return families[name]
    counter = families.get(name.removesuffix("_total"))  # the parser drops the suffix
    if name.endswith("_total") and counter is not None and counter.type == "counter":
        return counter
    return next((f for f in families.values() if name in f.samples), None)


def metric_problems(
    families: dict[str, Family], required: Sequence[MetricRequirement], path: str
) -> list[str]:
    problems: list[str] = []
    for need in required:
        family = _find(families, need.name)
        if family is None:
            problems.append(f"metric {need.name} is missing from {path}")
            continue
        if need.type is not None and family.type != need.type:
            problems.append(f"metric {need.name} is a {family.type}, expected a {need.type}")
        if not family.samples:  # declared, nothing counted yet: its labels cannot be seen
            continue
        if missing := [label for label in need.labels if label not in family.labels]:
            problems.append(f"metric {need.name} lacks label {', '.join(missing)}")
    return problems
