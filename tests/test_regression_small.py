"""Regressions against the last GO, small: the defect switch, the baseline lookup in a real
SQLite store, and the engine running a load check against the example target twice (a GO
release, then one made slower), which the second run must catch. The 20 + 20 runs of the
acceptance are bench/regression.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from textwrap import dedent

import pytest
from sqlmodel import Session, select

from bot.config.loader import load_config
from bot.engine.request import RunRequest
from bot.engine.runner import Engine
from bot.store.baselines import GO, StoreBaselines
from bot.store.models import CheckDistribution, DecisionRecord, Run
from bot.store.runs import RunStore
from checks.base import CheckResult, Status
from checks.regression import Baseline, Distribution
from examples.target.defects import DefectValueError, UnknownDefectError, parse_defects
from examples.target.settings import Settings
from tests.support.target import RunningTarget


def test_regress_takes_a_percentage_and_says_when_it_is_wrong() -> None:
    assert parse_defects(["regress=15,no-hsts"]) == ("regress=15", "no-hsts")
    settings = Settings(defects=("regress=15", "no-hsts"))
    assert settings.has("regress") and settings.amount("regress") == 15.0
    assert Settings().amount("regress") == 0.0
    for bad, words in [
        ("regress", "defect 'regress' needs a percentage from 1 to 1000, e.g. regress=15"),
        ("regress=fast", "got 'regress=fast'"),
        ("regress=5000", "got 'regress=5000'"),
        ("slow=3", "defect 'slow' takes no value; got 'slow=3'"),
    ]:
        with pytest.raises(DefectValueError, match=words):
            parse_defects([bad])
    with pytest.raises(UnknownDefectError, match="unknown defect 'regres=5'"):
        parse_defects(["regres=5"])


def kept(p95_ms: int) -> dict[str, object]:
    return Distribution({p95_ms: 10}, 10, 0, 1.0).to_json()


async def stored_run(
    store: RunStore, version: str, environment: str, p95_ms: int, decision: str | None
) -> int:
    run = await store.create_run(
        Run(service="checkout-api", version=version, environment=environment, plan="p",
            base_url="http://127.0.0.1:9"),
        [("load", "load", True)],
    )  # fmt: skip
    assert run.id is not None
    result = CheckResult(status=Status.PASSED, summary="ok", check_id="load")
    await store.save_result(run.id, result.model_copy(update={"distribution": kept(p95_ms)}))
    if decision is not None:
        run_id = run.id

        def decide(session: Session) -> None:
            session.add(DecisionRecord(run_id=run_id, outcome=decision))
            session.commit()

        await store.call(decide)
    return run.id


async def test_the_baseline_is_the_last_go_run_of_the_service_and_environment(
    tmp_path: Path,
) -> None:
    store = RunStore(f"sqlite:///{tmp_path}/p.db")
    old_go = await stored_run(store, "2.12.0", "staging", 100, GO)
    last_go = await stored_run(store, "2.13.0", "staging", 110, GO)
    await stored_run(store, "2.13.1", "staging", 500, "no-go")
    await stored_run(store, "2.13.2", "production", 120, GO)
    current = await stored_run(store, "2.14.0", "staging", 130, None)
    find = StoreBaselines(store, "checkout-api", "staging", current)
    found = await find("load", "last_go")
    assert isinstance(found, Baseline)
    assert (found.run_id, found.version, found.distribution.hist) == (last_go, "2.13.0", {110: 10})
    by_version = await find("load", "2.12.0")
    assert isinstance(by_version, Baseline) and by_version.run_id == old_go
    assert await find("load", "1.0.0") == "no run of checkout-api 1.0.0 on staging to compare with"
    assert await find("smoke", "last_go") == "no GO run of checkout-api on staging to compare with"
    fresh = StoreBaselines(store, "checkout-api", "qa", current)
    assert await fresh("load", "last_go") == "no GO run of checkout-api on qa to compare with"


PLAN = """\
environments:
  staging: {{base_url: "{url}", plan: p}}
plans:
  p:
    checks:
      - id: load
        type: load
        users: 10
        spawn_rate: 10
        duration: 2s
        tasks: [{{path: /api/quote}}]
        thresholds: ["error_rate < 1%"]
        compare_to: last_go
        regression: {{p95: "+10%"}}
"""


def engine_for(tmp_path: Path, store: RunStore, url: str, name: str) -> Engine:
    path = tmp_path / f"{name}.yml"
    path.write_text(dedent(PLAN.format(url=url)))
    return Engine(load_config(path), store, tmp_path / "work")


async def test_the_engine_catches_a_slower_release_against_the_last_go(
    healthy_target: RunningTarget, target_factory: Callable[..., RunningTarget], tmp_path: Path
) -> None:
    store = RunStore(f"sqlite:///{tmp_path}/p.db")
    first = await engine_for(tmp_path, store, healthy_target.http_url, "good").run(
        RunRequest(service="checkout-api", version="2.13.0", environment="staging")
    )
    (good,) = first.results
    assert good.status == Status.PASSED, good.summary
    assert "no GO run of checkout-api on staging to compare with" in good.summary

    def decide(session: Session) -> int:
        session.add(DecisionRecord(run_id=first.run_id, outcome=GO))
        session.commit()
        rows = session.exec(select(CheckDistribution)).all()
        return sum(int(v) for row in rows for v in row.data["hist"].values())

    assert await store.call(decide) == good.metrics["requests"]

    slower = target_factory("regress=40")
    second = await engine_for(tmp_path, store, slower.http_url, "slow").run(
        RunRequest(service="checkout-api", version="2.14.0", environment="staging")
    )
    (bad,) = second.results
    assert bad.status == Status.FAILED and bad.blocking, bad.summary
    assert bad.summary.startswith("regression: p95 "), bad.summary
    assert " in 2.13.0 (+" in bad.summary and "%, significant, p" in bad.summary
    assert "; look at: the whole distribution moved (p50 +" in bad.summary
    assert "REGRESSION  p95 " in bad.evidence and "    look at: " in bad.evidence
    assert bad.metrics["baseline_run"] == first.run_id
