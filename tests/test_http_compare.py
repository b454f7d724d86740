"""An ``http`` check compared with its baseline (``compare_to``): the options, the guidance
from the run's own figures, and the engine against the example target catching a slower
release of /api/quote against the last GO in a real SQLite store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from textwrap import dedent

import pytest
from pydantic import ValidationError
from sqlmodel import Session

from bot.config.loader import ConfigError, load_config
from bot.engine.request import RunRequest
from bot.engine.runner import Engine
from bot.store.baselines import GO
from bot.store.models import DecisionRecord
from bot.store.runs import RunStore
from checks.base import Status
from checks.guidance import latency
from checks.http import HttpCheck, HttpOptions, request_figures
from checks.regression import Distribution, latency_p, mann_whitney
from checks.stratified import stratified_p_greater
from tests.support.target import RunningTarget


def test_an_http_check_compares_latency_only_and_repeats_within_bounds() -> None:
    options = HttpOptions.model_validate(
        {"requests": [{"path": "/"}], "compare_to": "last_go", "repeat": 20}
    )
    assert [limit.text for limit in options.limits(("p95",)).values()] == ["+10%"]
    assert HttpCheck(options).natural_timeout() == 20 * HttpCheck.default_timeout
    assert HttpOptions.model_validate({"requests": [{"path": "/"}]}).repeat == 1
    for bad, words in [
        ({"regression": {"rps": "-5%"}}, "an http check compares latency only \\(p50, p90, p95"),
        ({"regression": {"error_rate": "+1pt"}}, "got 'error_rate'"),
        ({"regression": {"p95": "-10%"}}, 'expected "p95: \\+10%"'),
        ({"repeat": 0}, "greater than or equal to 1"),
        ({"repeat": 101}, "less than or equal to 100"),
        ({"confidence": 1.5}, "less than 1"),
    ]:
        with pytest.raises(ValidationError, match=words):
            HttpOptions.model_validate({"requests": [{"path": "/"}], **bad})


def test_a_bad_limit_names_the_file_and_the_key_path(tmp_path: Path) -> None:
    path = tmp_path / "preprod.yml"
    path.write_text(
        dedent("""\
        environments:
          staging: {base_url: "http://127.0.0.1:9", plan: p}
        plans:
          p:
            checks:
              - {id: smoke, type: http, requests: [{path: /}], regression: {rps: -5%}}
        """)
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert str(path) in text and "plans.p.checks[0].regression" in text, text
    assert "an http check compares latency only" in text


def test_the_guidance_names_the_request_that_slowed() -> None:
    metrics = {"p50_ms": 330.0, "p90_ms": 380.0, "p95_ms": 390.0, "p99_ms": 400.0}
    by_request = {"GET /healthz": [2.0, 3.0, 2.0], "GET /api/quote": [330.0, 390.0, 400.0]}
    figures = request_figures(metrics, by_request, {"p50_ms": 300.0, "p95_ms": 340.0})
    line = latency(figures)
    assert line is not None
    assert line.startswith("the whole distribution moved (p50 +10%, p95 +15%)"), line
    assert line.endswith("slowest endpoints by p95: GET /api/quote (400 ms), GET /healthz (3 ms)")


def test_a_slower_request_among_unchanged_ones_is_not_averaged_away() -> None:
    healthz = {2: 4, 3: 4}
    then = {"GET /healthz": healthz, "GET /api/quote": {300 + 10 * i: 1 for i in range(8)}}
    now = {"GET /healthz": healthz, "GET /api/quote": {400 + 10 * i: 1 for i in range(8)}}

    def pooled(strata: dict[str, dict[int, int]]) -> Distribution:
        hist: dict[int, int] = {}
        for part in strata.values():
            for ms, n in part.items():
                hist[ms] = hist.get(ms, 0) + n
        return Distribution(hist, sum(hist.values()), strata=strata)

    current, baseline = pooled(now), pooled(then)
    assert mann_whitney(current.hist, baseline.hist).p_greater > 0.05  # pooled: buried
    caught = latency_p(current, baseline)
    alone = mann_whitney(now["GET /api/quote"], then["GET /api/quote"]).p_greater
    assert caught == 2 * alone < 0.01  # two requests compared: Bonferroni
    assert latency_p(baseline, baseline) > 0.4
    assert stratified_p_greater([({5: 3}, {5: 3})]) == 1.0  # no spread, no evidence
    # a load run keeps no strata: the pooled U test, and no "strata" key in its row
    load = Distribution({300: 5, 310: 5}, 10)
    assert "strata" not in load.to_json() and Distribution.from_json(load.to_json()) == load
    assert Distribution.from_json(current.to_json()) == current


PLAN = """\
environments:
  staging: {{base_url: "{url}", plan: p}}
plans:
  p:
    checks:
      - id: quote
        type: http
        repeat: 8
        requests: [{{path: /api/quote}}, {{path: /healthz}}]
        compare_to: last_go
        regression: {{p95: "+10%"}}
"""


def engine_for(tmp_path: Path, store: RunStore, url: str, name: str) -> Engine:
    path = tmp_path / f"{name}.yml"
    path.write_text(PLAN.format(url=url))
    return Engine(load_config(path), store, tmp_path / "work")


async def test_the_engine_catches_a_slower_release_of_an_http_check(
    healthy_target: RunningTarget, target_factory: Callable[..., RunningTarget], tmp_path: Path
) -> None:
    store = RunStore(f"sqlite:///{tmp_path}/p.db")
    first = await engine_for(tmp_path, store, healthy_target.http_url, "good").run(
        RunRequest(service="checkout-api", version="2.13.0", environment="staging")
    )
    (good,) = first.results
    assert good.status == Status.PASSED, good.summary
    assert good.summary.startswith("16 requests OK (8 rounds, p95 "), good.summary
    assert good.summary.endswith(" | no GO run of checkout-api on staging to compare with")
    assert good.metrics["requests"] == 16 and {"p95_ms", "latency_ms.2"} <= set(good.metrics)
    assert "latency_ms.3" not in good.metrics  # each request of the first round only

    def decide(session: Session) -> None:
        session.add(DecisionRecord(run_id=first.run_id, outcome=GO))
        session.commit()

    await store.call(decide)
    slower = target_factory("regress=50")
    second = await engine_for(tmp_path, store, slower.http_url, "slow").run(
        RunRequest(service="checkout-api", version="2.14.0", environment="staging")
    )
    (bad,) = second.results
    assert bad.status == Status.FAILED and bad.blocking, bad.summary
    assert bad.summary.startswith("regression: p95 "), bad.summary
    assert " in 2.13.0 (+" in bad.summary and "%, significant, p" in bad.summary
    assert "; look at: " in bad.summary and "GET /api/quote (" in bad.summary
    assert bad.summary.split(" | ")[1].startswith("16 requests OK (8 rounds")
    assert "REGRESSION  p95 " in bad.evidence and "    look at: " in bad.evidence
    assert bad.metrics["baseline_run"] == first.run_id
    assert bad.metrics["regression_p_p95"] < 0.01
    assert bad.metrics["p95_ms"] > bad.metrics["baseline_p95"] * 1.1
