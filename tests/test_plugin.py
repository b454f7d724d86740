"""The example plug-in (examples/plugin) installed with pip and run in a plan by the real
``preprod`` command line: a third-party kind found through the ``preprod.checks`` entry
point. It is installed into a temporary directory put on PYTHONPATH, so the shared
virtualenv (and every other test's list of kinds) stays as it was."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import run_cli
from tests.support.processes import preprod_command
from tests.support.target import REPO_ROOT, RunningTarget

PLUGIN = REPO_ROOT / "examples" / "plugin"


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``pip install --no-deps --target DIR examples/plugin``: a real build and install,
    with the dist-info and entry points importlib.metadata reads."""
    target = tmp_path_factory.mktemp("plugin-site")
    build = tmp_path_factory.mktemp("plugin-build")
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *isolation]
    command += ["--target", str(target), str(PLUGIN)]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "TMPDIR": str(build)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(target.glob("preprod_example_plugin-*.dist-info/entry_points.txt"))
    yield target


def plan(target: RunningTarget, budget_ms: float) -> str:
    return f"""
environments:
  staging:
    base_url: {target.https_url}
    ca_bundle: {target.ca_bundle}
    plan: p
plans:
  p:
    checks:
      - {{id: budget, type: latency_budget, path: /healthz, samples: 5, budget_ms: {budget_ms}}}
"""


def test_the_plugin_kind_runs_in_a_plan(
    plugin_path: Path, healthy_target: RunningTarget, tmp_path: Path
) -> None:
    env = {"PYTHONPATH": str(plugin_path)}
    listed = subprocess.run(
        preprod_command("checks", "latency_budget"),
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert "budget_ms" in listed.stdout

    config = tmp_path / "preprod.yml"
    config.write_text(plan(healthy_target, budget_ms=2000))
    run = run_cli("check", "--config", str(config), "--env", "staging", tmp_path=tmp_path, env=env)
    assert run.code == 0, run.stdout + run.stderr
    result = run.result("budget")
    assert result["status"] == "passed" and result["check_type"] == "latency_budget"
    assert result["summary"].startswith("p95 of GET /healthz is ")
    assert result["summary"].endswith("(within 2000 ms)")


def test_without_the_plugin_the_kind_is_unknown(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    config = tmp_path / "preprod.yml"
    config.write_text(plan(healthy_target, budget_ms=2000))
    run = run_cli("config", "validate", "--config", str(config), tmp_path=tmp_path, reports=False)
    assert run.code == 2
    assert "unknown check type 'latency_budget'" in run.stdout + run.stderr
