"""The Slack demo's three runs in a row (2.15.0, 2.16.0, then the README's 2.14.0) against
one example target, with the example plan's smoke check and its deploy/rollback drills:
smoke judges the run's own version, and the drills leave the version they found live, so
the third run behaves as if it were the first (issue 24, point 1)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bot.config.loader import load_config
from bot.engine.request import RunRequest
from bot.engine.runner import Engine
from bot.store.runs import RunStore
from checks.base import Status
from tests.cli import EXAMPLE_CONFIG, target_env
from tests.support.target import REPO_ROOT, RunningTarget

CHECKS = ("smoke", "rollback", "bluegreen")


def live_version(target: RunningTarget) -> str:
    answer = httpx.get(f"{target.http_url}/version", timeout=5)
    return str(answer.json()["version"])


async def test_three_versions_in_a_row(
    target_factory: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert callable(target_factory)
    target: RunningTarget = target_factory()
    monkeypatch.chdir(REPO_ROOT)  # the drills run `python -m examples.drills.*`
    config = load_config(EXAMPLE_CONFIG, environ=target_env(target))
    engine = Engine(config, RunStore(f"sqlite:///{tmp_path}/preprod.db"), tmp_path / "work")
    assert live_version(target) == "2.14.0"

    outcomes = {}
    for version in ("2.15.0", "2.16.0", "2.14.0"):
        request = RunRequest("checkout-api", version, "staging", only=CHECKS)
        report = await engine.run(request)
        outcomes[version] = {r.check_id: r for r in report.results if r.check_id in CHECKS}
        # whatever the run found, the target is left serving what it served before
        assert live_version(target) == "2.14.0", version

    for version in ("2.15.0", "2.16.0"):
        smoke = outcomes[version]["smoke"]
        assert smoke.status is Status.FAILED
        assert f'$.version: expected "{version}", got "2.14.0"' in smoke.summary
    for version in ("2.15.0", "2.16.0", "2.14.0"):
        for drill in ("rollback", "bluegreen"):
            result = outcomes[version][drill]
            assert result.status is Status.PASSED, (version, drill, result.summary)
            assert "2.14.0 is live again, 2.13.0 idle, as before the drill" in result.evidence
    assert outcomes["2.14.0"]["smoke"].status is Status.PASSED
