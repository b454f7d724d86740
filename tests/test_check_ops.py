"""``ops_readiness`` against the real example target: healthy, and one defect at a time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from checks.base import CheckResult, Status
from checks.ops import OpsReadinessCheck, OpsReadinessOptions
from checks.ops.alerts import load_rules, rule_problems
from checks.ops.metrics import parse_families
from checks.ops.runbooks import headings, missing_sections
from tests.ops_plan import OPS, make_ctx
from tests.support.target import RunningTarget


async def check(target: RunningTarget, **changes: Any) -> CheckResult:
    options = OpsReadinessOptions.model_validate({**OPS, **changes})
    return await OpsReadinessCheck(options).run(make_ctx(target))


async def test_healthy_target_is_operable(healthy_target: RunningTarget) -> None:
    result = await check(healthy_target)
    assert result.status is Status.PASSED, result.evidence
    assert result.summary == (
        "/healthz healthy, 3 required metric families exposed, 3 alerts valid, "
        "3 runbooks with Rollback, Escalation"
    )
    assert result.metrics["alerts"] == 3 and result.metrics["runbooks"] == 3
    assert "alert rules /ops/alerts.yml: 3 alerts, 1 recording rules" in result.evidence


DEFECTS = {
    "health-degraded": 'health: GET /healthz: $.status: expected "ok", got "degraded"',
    "metrics-missing": (
        "metric datastore_backup_last_success_timestamp_seconds is missing from /metrics"
    ),
    "alert-no-runbook": "alert BackupStale has no runbook_url annotation",
    "runbook-missing-section": (
        "runbook of HighErrorRate (/runbooks/high-error-rate) lacks section Rollback"
    ),
}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
async def test_each_defect_is_named(
    defect: str, target_factory: Callable[..., RunningTarget]
) -> None:
    result = await check(target_factory(defect))
    assert result.status is Status.FAILED
    assert result.summary == DEFECTS[defect]
    assert f"! {DEFECTS[defect]}" in result.evidence


async def test_rules_from_a_file_and_a_missing_required_alert(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "groups:\n- name: g\n  rules:\n"
        "  - alert: Broken\n    expr: sum(rate(x[5m])\n    labels: {severity: page}\n"
    )
    result = await check(healthy_target, alerts={"file": str(rules), "require": ["Missing"]})
    assert result.status is Status.FAILED
    assert "alert Broken: expr is not valid PromQL (unclosed left parenthesis)" in result.evidence
    assert "alert Broken has no `for`" in result.evidence
    assert "alert Broken has no runbook_url annotation" in result.evidence
    assert "required alert Missing is not in the rules" in result.evidence
    assert result.metrics["problems"] == 4


def test_rules_problems_pure() -> None:
    rules = load_rules(
        "groups: [{name: g, rules: [{alert: A, expr: up == 0, for: 5 minutes,"
        " labels: {}, annotations: {runbook_url: /r}}, {record: r, expr: sum(up)}]}]"
    )
    assert rule_problems(rules, ["A"]) == ["alert A: `for: 5 minutes` is not a duration",
                                           "alert A has no severity label"]  # fmt: skip
    with pytest.raises(ValueError, match="neither an alert nor a record"):
        load_rules("groups: [{name: g, rules: [{expr: up}]}]")
    with pytest.raises(ValueError, match="groups"):
        load_rules("- just a list")


def test_metrics_and_runbook_parsing() -> None:
    families = parse_families('# TYPE a_total counter\na_total{x="1"} 3\n')
    assert families["a"].labels == {"x"} and families["a"].type == "counter"
    with pytest.raises(ValueError):
        parse_families("this is { not prometheus")
    page = "<h2>Rollback procedure</h2>\n\nEscalation\n==========\n# Notes"
    assert missing_sections(page, ["Rollback", "Escalation", "Diagnosis"]) == ["Diagnosis"]


def test_code_is_never_a_heading() -> None:
    """CommonMark: a ``# Rollback`` shell comment in a fenced or indented code block is code;
    so is an ``<h2>`` in an HTML page's ``<pre>``."""
    page = "# Runbook\n\n## Diagnosis\n\n```sh\n# Rollback: only after a release\n```\n"
    assert headings(page) == ["Runbook", "Diagnosis"]
    assert missing_sections(page, ["Rollback"]) == ["Rollback"]
    indented = "## Escalation\n\n    # Rollback\n"
    assert missing_sections(indented, ["Rollback", "Escalation"]) == ["Rollback"]
    html_page = "<html><body><h1>Runbook</h1><pre><h2>Rollback</h2></pre></body></html>"
    assert missing_sections(html_page, ["Runbook", "Rollback"]) == ["Rollback"]


def test_options_need_one_rules_source() -> None:
    short = OpsReadinessOptions.model_validate({"health": "/healthz", "metrics": "/metrics"})
    assert short.health is not None and short.health.path == "/healthz"
    assert short.metrics is not None and short.metrics.path == "/metrics"
    with pytest.raises(ValidationError, match="either `url` or `file`"):
        OpsReadinessOptions.model_validate({"alerts": {"require": ["A"]}})
    with pytest.raises(ValidationError, match="extra"):
        OpsReadinessOptions.model_validate({"metrics": {"require": [{"nmae": "x"}]}})


async def test_metrics_are_read_by_default(healthy_target: RunningTarget) -> None:
    """The README names /metrics as the default: without `metrics:` it is read and must
    parse; `metrics: null` skips it."""
    plain = {key: value for key, value in OPS.items() if key != "metrics"}
    result = await OpsReadinessCheck(OpsReadinessOptions.model_validate(plain)).run(
        make_ctx(healthy_target)
    )
    assert result.status is Status.PASSED, result.summary
    assert result.metrics["metric_families"] > 0
    assert f"/metrics exposes {result.metrics['metric_families']:.0f} metric families" in (
        result.summary
    )
    skipped = OpsReadinessOptions.model_validate({**plain, "metrics": None})
    assert (
        "metric_families"
        not in (await OpsReadinessCheck(skipped).run(make_ctx(healthy_target))).metrics
    )
