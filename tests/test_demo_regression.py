"""The demo's regression step: the release before is signed off through the real gate by
the example config's roles (a GO the slower release is compared with), in a real SQLite
store; the example's latency plan is valid and compares with the last GO."""

from __future__ import annotations

from pathlib import Path

from bot.config.loader import load_config
from bot.store.baselines import StoreBaselines
from bot.store.models import Run, RunStatus
from bot.store.runs import RunStore
from checks.base import CheckResult, Status
from checks.http import HttpOptions
from checks.regression import Baseline, Distribution
from examples import regression_demo
from tests.support.target import REPO_ROOT, RunningTarget

CONFIG = REPO_ROOT / "examples" / "preprod.yml"


def example_env(target: RunningTarget) -> dict[str, str]:
    """What the demo passes the config: the running target's URL and CA bundle."""
    return {"TARGET_CA_BUNDLE": str(target.ca_bundle), "TARGET_HTTPS_URL": target.https_url}


def test_the_example_latency_plan_compares_with_the_last_go(healthy_target: RunningTarget) -> None:
    config = load_config(CONFIG, example_env(healthy_target))
    (spec,) = config.plans[regression_demo.PLAN].checks
    options = HttpOptions.model_validate(spec.options)
    assert (spec.type, options.compare_to, options.repeat) == ("http", "last_go", 25)
    assert config.environments["staging"].previous_version == regression_demo.PREVIOUS
    command = regression_demo.check_command(CONFIG, "sqlite:///x.db", "2.14.0", Path("l.json"))
    assert command[command.index("--plan") + 1] == "latency"
    assert command[command.index("--release") + 1] == "2.14.0"


async def test_the_previous_release_is_signed_off_to_go_and_becomes_the_baseline(
    tmp_path: Path, healthy_target: RunningTarget
) -> None:
    database = f"sqlite:///{tmp_path}/p.db"
    store = RunStore(database)
    run = await store.create_run(
        Run(service="checkout-api", version="2.13.0", environment="staging", plan="latency",
            base_url="https://127.0.0.1:9"),
        [("latency", "http", True)],
    )  # fmt: skip
    assert run.id is not None
    kept = Distribution({300: 20, 340: 5}, 25, 0, 8.0, {"GET /api/quote": {300: 20, 340: 5}})
    result = CheckResult(status=Status.PASSED, summary="25 requests OK", check_id="latency")
    await store.save_result(run.id, result.model_copy(update={"distribution": kept.to_json()}))
    await store.finish_run(run.id, RunStatus.FINISHED)

    outcome = await regression_demo.sign_off(CONFIG, database, run.id, example_env(healthy_target))
    assert outcome == "go"
    later = await store.create_run(
        Run(service="checkout-api", version="2.14.0", environment="staging", plan="latency",
            base_url="https://127.0.0.1:9"),
        [("latency", "http", True)],
    )  # fmt: skip
    assert later.id is not None
    found = await StoreBaselines(store, "checkout-api", "staging", later.id)("latency", "last_go")
    assert isinstance(found, Baseline)
    assert (found.run_id, found.version, found.distribution) == (run.id, "2.13.0", kept)
