"""The pure side of readiness (bot/web/readiness.py, bot/slack/reachability.py), its
settings, and the deployment files' health checks. The HTTP side: tests/test_readyz.py."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from bot.settings import Settings, SettingsError
from bot.slack.reachability import SlackReachability
from bot.store import migrate
from bot.store.health import DatabaseFacts
from bot.web.readiness import Bounds, DatabaseOutcome, judge, redact


def test_slack_failing_needs_n_failures_over_m_seconds_and_is_degraded() -> None:
    now = [100.0]
    seen = SlackReachability(clock=lambda: now[0])
    bounds = Bounds(slack_failures=3, slack_seconds=60.0)
    facts = DatabaseFacts(revision=migrate.head(), backlog=0, oldest=None)
    db = DatabaseOutcome(0.01, facts=facts)

    def slack_state() -> tuple[str, str, int]:
        found = judge(db, migrate.head(), seen.snapshot(), bounds, datetime.now(UTC), now[0])
        return found.parts["slack"].state, found.status, found.http_status

    for _ in range(5):
        seen.unreachable("chat.postMessage", "HTTP 503")
    assert slack_state() == ("ok", "ready", 200)  # many failures, but within a second
    now[0] += 61
    assert slack_state() == ("failing", "degraded", 200)
    seen.answered("chat.postMessage", error="ratelimited")  # a 429 is Slack answering
    assert slack_state() == ("ok", "ready", 200)
    seen.unreachable("chat.update", "ClientConnectorError")
    now[0] += 120
    assert slack_state() == ("ok", "ready", 200)  # one failure over two minutes
    assert seen.snapshot().errors_by_method == {"chat.postMessage": 5, "chat.update": 1}


def test_reasons_are_one_bounded_line_without_passwords() -> None:
    line = redact(
        "connection to postgresql://preprod:hunter2@db:5432/x failed: password=hunter2 bad\n"
        "DETAIL: more lines " + "x" * 500,
        secrets=("hunter2",),
    )
    assert "hunter2" not in line and "DETAIL" not in line
    assert line.startswith("connection to postgresql://preprod:***@db:5432/x failed")
    assert len(redact("y" * 1000)) == 200
    assert "sekret" not in redact("dsn user=a password=sekret host=b")


def test_the_bounds_are_settings() -> None:
    env = {"SLACK_BOT_TOKEN": "x", "SLACK_SIGNING_SECRET": "y"}
    default = Settings.from_env(env)
    assert (default.ready_timeout, default.ready_outbox_age) == (1.5, 600.0)
    assert (default.ready_slack_failures, default.ready_slack_seconds) == (3, 60.0)
    tuned = Settings.from_env({**env, "PREPROD_READY_OUTBOX_AGE": "120",
                               "PREPROD_READY_SLACK_FAILURES": "5"})  # fmt: skip
    assert (tuned.ready_outbox_age, tuned.ready_slack_failures) == (120.0, 5)
    with pytest.raises(SettingsError, match="PREPROD_READY_SLACK_FAILURES must be a whole"):
        Settings.from_env({**env, "PREPROD_READY_SLACK_FAILURES": "many"})
    with pytest.raises(SettingsError, match="PREPROD_READY_TIMEOUT must be a number"):
        Settings.from_env({**env, "PREPROD_READY_TIMEOUT": "soon"})


def test_the_image_checks_liveness_and_compose_readiness() -> None:
    root = Path(__file__).resolve().parent.parent
    dockerfile = (root / "Dockerfile").read_text()
    [check] = [line for line in dockerfile.splitlines() if "urlopen(" in line]
    assert "/healthz" in check and "/readyz" not in check
    assert 'pip install ".[postgres]"' in dockerfile  # compose.yml's DATABASE_URL needs it
    compose = yaml.safe_load((root / "compose.yml").read_text())["services"]
    assert compose["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert "/readyz" in compose["bot"]["healthcheck"]["test"][-1]
    assert compose["bot"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert compose["bot"]["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")
