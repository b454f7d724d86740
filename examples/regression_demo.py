"""The demo's regression step (``make demo DEFECTS=regress=15``): the release before this
one (2.13.0, the environment's ``previous_version``) is checked on a healthy target with
the example's ``latency`` plan and signed off by the example's roles through the real gate,
so that a GO exists; the slower release is then checked with the same plan and its
``latency`` check compares itself with that GO (``compare_to: last_go``)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

PLAN = "latency"
PREVIOUS = "2.13.0"
"""The example config's ``previous_version`` of staging: the last good release."""


def check_command(config: Path, database: str, release: str, report: Path) -> list[str]:
    """``preprod check`` of the latency plan for ``release``, its JSON report to ``report``."""
    return [
        sys.executable, "-m", "bot.cli", "check", "--config", str(config), "--env", "staging",
        "--plan", PLAN, "--service", "checkout-api", "--release", release,
        "--database", database, "--json", str(report),
    ]  # fmt: skip


def run_id(report: Path) -> int | None:
    """The run's id in its JSON report (None when there is no report)."""
    try:
        return int(json.loads(report.read_text())["run_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


async def sign_off(config_path: Path, database: str, run: int, env: Mapping[str, str]) -> str:
    """Every required role approves ``run`` through the gate (a member who did not request
    it signs, as in Slack); the gate's outcome ("go" once all have)."""
    from bot.config.loader import load_config
    from bot.gate.actions import Gate
    from bot.gate.policy import Vote
    from bot.gate.roles import DirectoryUnavailable, RoleDirectory
    from bot.gate.view import Target
    from bot.store.runs import RunStore

    async def no_usergroups(usergroup: str) -> list[str]:
        raise DirectoryUnavailable(f"usergroup {usergroup} is not looked up in the demo")

    config = load_config(config_path, env)
    gate = Gate(config, RunStore(database), RoleDirectory(config, no_usergroups))
    loaded = await gate.load(run)
    outcome = "pending"
    for role in config.required_roles:
        members = [m for m in config.roles[role].members if m != loaded.run.requester]
        target = Target(run, loaded.run.generation, role)
        decision = await gate.sign(members[0], target, Vote.APPROVE)
        print(f"  {members[0]} approved for {role}")
        outcome = decision.outcome.value
    return outcome


def baseline(
    config: Path, database: str, env: Mapping[str, str], reports: Path, cwd: Path
) -> int | None:
    """Check the previous release and sign it off; the exit code of ``preprod check``, or
    None when it passed and the gate recorded GO."""
    report = reports / "baseline.json"
    print(f"Regression step: {PREVIOUS} on a healthy target, plan {PLAN}, then signed off")
    code = subprocess.call(check_command(config, database, PREVIOUS, report), cwd=cwd, env=env)
    found = run_id(report)
    if code != 0 or found is None:
        print(f"  {PREVIOUS} did not pass (exit {code}): no GO to compare with")
        return code or 1
    outcome = asyncio.run(sign_off(config, database, found, env))
    print(f"  the gate decided {outcome.upper()} for run {found} ({PREVIOUS})\n")
    return None if outcome == "go" else 1
