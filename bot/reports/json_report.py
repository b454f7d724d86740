"""JSON report: the machine-readable record of a run, for CI pipelines and dashboards."""

from __future__ import annotations

import json
from typing import Any

from bot.record.report import RunReport

SCHEMA = "preprod.run/1"
"""Format tag consumers check before reading; bump it on any incompatible change."""


def render_json(report: RunReport) -> str:
    """The report as stable, indented JSON (pure: no I/O).

    Goes through pydantic's JSON serialisation so non-finite metrics (NaN, inf) become
    ``null`` instead of the invalid ``NaN`` token ``json.dumps`` would emit. Durations
    are added because they are derived properties pydantic does not dump.
    """
    data: dict[str, Any] = {"schema": SCHEMA, **json.loads(report.model_dump_json())}
    data["duration_s"] = report.duration_s
    for dumped, result in zip(data["results"], report.results, strict=True):
        dumped["duration_s"] = result.duration_s
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
