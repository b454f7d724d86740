"""Who may start a run (``started_by`` per environment and per plan; a plan with drills
is kept to the roles that sign): the rules as pure functions, the config's errors, and
a refusal in Slack: private, nothing stored, kept in the audit trail."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config.loader import ConfigError, load_config
from bot.config.schema import Config
from bot.gate.policy import may_start
from bot.store.audit_log import AuditLog
from tests.slackbot import running_bot
from tests.support.target import RunningTarget

CONFIG = """\
channel: C0RELEASES
roles:
  sre: {{label: SRE, members: [U0SRE1, U0SRE2]}}
  security: {{label: Security, members: [U0SEC1]}}
  release: {{label: Release managers, members: [U0RM]}}
policy: {{required_signoffs: [sre, security]}}
environments:
  staging: {{base_url: {url}, plan: smoke}}
  prod-like: {{base_url: {url}, plan: smoke{env_started_by}}}
plans:
  smoke:
    checks:
      - {{id: smoke, type: http, requests: [{{path: /healthz}}]}}
  chaos:
    checks:
      - id: failover
        type: drill
        critical: false
        script: {{argv: [/bin/true], timeout: 30s}}
  custom:
    started_by: [{plan_started_by}]
    checks:
      - {{id: smoke, type: http, requests: [{{path: /healthz}}]}}
"""


def write(
    tmp_path: Path,
    url: str = "http://127.0.0.1:9",
    env_started_by: str = ", started_by: [release]",
    plan_started_by: str = "release, sre",
) -> Path:
    path = tmp_path / "preprod.yml"
    path.write_text(
        CONFIG.format(url=url, env_started_by=env_started_by, plan_started_by=plan_started_by)
    )
    return path


def test_the_rules_of_each_environment_and_plan(tmp_path: Path) -> None:
    config: Config = load_config(write(tmp_path), environ={})
    assert config.start_rules("staging", "smoke") == []  # nothing said, no drill: anyone
    assert config.start_rules("staging", "chaos") == [
        ("plan chaos (it has drills)", ["sre", "security"])
    ]
    assert config.start_rules("prod-like", "custom") == [
        ("environment prod-like", ["release"]),
        ("plan custom", ["release", "sre"]),
    ]


def test_may_start_needs_every_rule() -> None:
    rules = [("environment prod-like", ["release"]), ("plan custom", ["release", "sre"])]
    labels = {"release": "Release managers", "sre": "SRE"}
    assert may_start([], set()) is None
    assert may_start(rules, {"release"}, labels) is None
    assert may_start(rules, {"sre"}, labels) == (
        "Only members of Release managers can start runs of the environment prod-like."
    )
    assert may_start(rules, set(), labels) == (
        "Only members of Release managers can start runs of the environment prod-like."
    )
    assert (
        may_start([("plan p", [])], {"sre"})
        == "Only members of nobody can start runs of the plan p."
    )


def test_an_unknown_role_in_started_by_names_the_key_and_a_close_match(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, plan_started_by="release, sreq"), environ={})
    message = str(caught.value)
    assert "plans.custom.started_by[1]" in message, message
    assert "no role named 'sreq' (did you mean 'sre'?)" in message, message
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, env_started_by=", started_by: releases"), environ={})
    assert "environments.prod-like.started_by" in str(caught.value)


async def test_a_refused_start_is_private_stores_nothing_and_is_audited(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    """Olga (in no role) may not start the drill plan nor use the guarded environment;
    Sam (SRE) may start the drill; the smoke plan on staging is open to anyone."""
    path = write(tmp_path, url=healthy_target.http_url)
    async with running_bot(path, tmp_path) as harness:
        ack = await harness.command("start svc 1.0 staging plan=chaos", user="U0OUT")
        assert "Only members of SRE, Security can start runs of the plan chaos" in ack, ack
        ack = await harness.command("start svc 1.0 prod-like", user="U0SRE1")
        assert "Only members of Release managers can start runs of the environment" in ack, ack
        assert await harness.bot.manager.store.list_runs(10) == []
        events = await AuditLog(harness.bot.manager.store).events()
        refused = [(e.actor, e.details["plan"], e.details["environment"]) for e in events
                   if e.action == "run.refused"]  # fmt: skip
        assert refused == [("U0OUT", "chaos", "staging"), ("U0SRE1", "smoke", "prod-like")]
        assert "Only members of" in events[0].details["reason"]
        ack = await harness.command("start svc 1.0 staging", user="U0OUT")
        assert "Starting the validation" in ack, ack
        ack = await harness.command("start svc 1.1 staging plan=chaos", user="U0SRE1")
        assert "Starting the validation" in ack, ack
        await harness.settle()
