"""Acceptance: the real CLI, the example plan and the real target over HTTP/TLS.

Each defect switch must make the matching check fail with a summary naming the problem,
the CLI exit 1, and the JSON and JUnit files say so; the healthy target gives exit 0."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli import EXAMPLE_CONFIG, CliRun, run_cli, target_env
from tests.support.target import RunningTarget

CHECK = ("check", "--config", str(EXAMPLE_CONFIG), "--env", "staging", "--release", "2.14.0")
LIGHT = ("--only", "smoke", "tls", "headers", "auth")
"""The example plan without its load tests: they have tests of their own."""


def test_healthy_target_passes_every_check(healthy_target: RunningTarget, tmp_path: Path) -> None:
    run = run_cli(
        *CHECK,
        "--service",
        "checkout-api",
        "--release",
        "2.14.0",
        tmp_path=tmp_path,
        env=target_env(healthy_target),
    )
    assert run.code == 0, run.stdout + run.stderr
    assert run.json_report is not None
    assert run.json_report["verdict"] == "pass"
    assert {r["check_id"]: r["status"] for r in run.json_report["results"]} == {
        "smoke": "passed",
        "tls": "passed",
        "headers": "passed",
        "auth": "passed",
        "load": "passed",
        "stress": "passed",
        "ops": "passed",
        "parity": "passed",
        "rollback": "passed",
        "bluegreen": "passed",
        "failover": "passed",
        "restore": "passed",
        "pii": "passed",
        "audit": "passed",
        "authz": "passed",
        "findings": "passed",
    }
    assert run.junit is not None
    assert run.junit.get("failures") == "0" and run.junit.get("errors") == "0"
    # The operational figures reach every report: outage, RTO, differences.
    bluegreen = run.result("bluegreen")["metrics"]
    assert bluegreen["probe_errors"] == 0 and bluegreen["max_outage_ms"] == 0
    assert 0 < bluegreen["rto_s"] < 15
    assert run.result("parity")["metrics"]["differences"] == 0
    junit_out = run.testcase("bluegreen").find("system-out")
    assert junit_out is not None and "max_outage_ms=0" in (junit_out.text or "")
    assert "rto_s=" in (junit_out.text or "")
    assert "PASS: no blocking failure" in run.stdout
    assert "Attestations pending (2), to be ticked in Slack:" in run.stdout
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Attestations" in html and "On-call rotation staffed" in html and "pending" in html
    for label in ("Longest outage", "Recovery time (RTO)", "Differences from production"):
        assert label in html, label
    assert [(a["id"], a["ticked_by"]) for a in run.json_report["attestations"]] == [
        ("oncall", None),
        ("dpia", None),
    ]
    assert healthy_target.token not in run.stdout + str(run.json_report)


# defect -> (check that must fail, words its summary must contain)
DEFECTS: dict[str, tuple[str, str]] = {
    "slow": ("smoke", "took"),
    "errors": ("smoke", "answered 500"),
    "no-hsts": ("headers", "missing Strict-Transport-Security"),
    "no-csp": ("headers", "missing Content-Security-Policy"),
    "insecure-cookie": ("headers", 'cookie "session"'),
    "open-admin": ("auth", "/admin answered 200 without credentials"),
    "expiring-cert": ("tls", "expires in"),
    "expired-cert": ("tls", "expired"),
    "wrong-host": ("tls", "wrong.example"),
    "tls10": ("tls", "accepts TLSv1.0"),
}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_each_defect_fails_its_check(
    defect: str, target_factory: Callable[..., RunningTarget], tmp_path: Path
) -> None:
    check_id, words = DEFECTS[defect]
    run = run_cli(*CHECK, *LIGHT, tmp_path=tmp_path, env=target_env(target_factory(defect)))
    assert run.code == 1, run.stdout + run.stderr
    result = run.result(check_id)
    assert result["status"] == "failed", result
    assert words in result["summary"], result["summary"]
    assert result["blocking"] is True
    assert run.json_report is not None and check_id in run.json_report["blocking_failures"]
    failure = run.testcase(check_id).find("failure")
    assert failure is not None and words in failure.get("message", "")
    assert "FAIL: blocking failures:" in run.stdout


# defect -> (check that must fail, words its summary or evidence must contain)
OPERATIONAL_DEFECTS: dict[str, tuple[str, str]] = {
    "health-degraded": ("ops", 'health: GET /healthz: $.status: expected "ok", got "degraded"'),
    "metrics-missing": ("ops", "metric datastore_backup_last_success_timestamp_seconds is missing"),
    "alert-no-runbook": ("ops", "alert BackupStale has no runbook_url annotation"),
    "runbook-missing-section": ("ops", "(/runbooks/high-error-rate) lacks section Rollback"),
    "rollback-stuck": ("rollback", "not recovered 5s after the script: GET /version: $.version"),
    "switch-drops": ("bluegreen", "users saw failures during the drill: errors"),
    "restore-loses-data": ("restore", "rpo: data written before the drill is lost"),
    "parity-drift": ("parity", "/ops/config database.pool_size: 5 vs 20"),
}


def test_each_operational_defect_fails_its_check(
    target_factory: Callable[..., RunningTarget], tmp_path: Path
) -> None:
    """All eight planted at once (one target, one run): each check names its own."""
    target = target_factory(*OPERATIONAL_DEFECTS)
    only = ("--only", "ops", "parity", "rollback", "bluegreen", "restore")
    run = run_cli(*CHECK, *only, tmp_path=tmp_path, env=target_env(target))
    assert run.code == 1, run.stdout + run.stderr
    for defect, (check_id, words) in OPERATIONAL_DEFECTS.items():
        result = run.result(check_id)
        assert result["status"] == "failed" and result["blocking"], (defect, result)
        assert words in result["summary"] or words in result["evidence"], (defect, result)
    assert run.result("bluegreen")["metrics"]["probe_errors"] > 0


def test_version_disclosure_warns_without_blocking(
    target_factory: Callable[..., RunningTarget], tmp_path: Path
) -> None:
    run = run_cli(
        *CHECK, *LIGHT, tmp_path=tmp_path, env=target_env(target_factory("server-version"))
    )
    assert run.code == 0, run.stdout + run.stderr
    headers = run.result("headers")
    assert headers["status"] == "warned" and "uvicorn/0.30.1" in headers["summary"]
    out = run.testcase("headers").find("system-out")
    assert out is not None and "warning:" in (out.text or "")


def test_only_runs_selected_checks(
    target_factory: Callable[..., RunningTarget], tmp_path: Path
) -> None:
    run = run_cli(
        *CHECK,
        "--only",
        "headers",
        "auth",
        tmp_path=tmp_path,
        env=target_env(target_factory("tls10")),
    )
    assert run.code == 0, run.stdout + run.stderr
    assert run.result("tls")["status"] == "skipped"
    assert run.testcase("tls").find("skipped") is not None


def test_unreachable_environment_gives_errors_not_a_traceback(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    env = {
        "TARGET_HTTPS_URL": "https://127.0.0.1:9",
        "TARGET_CA_BUNDLE": str(healthy_target.ca_bundle),
    }
    run = run_cli(*CHECK, *LIGHT, tmp_path=tmp_path, env=env)
    assert run.code == 1
    assert "Traceback" not in run.stdout + run.stderr
    assert run.json_report is not None
    for check_id in LIGHT[1:]:
        result = run.result(check_id)
        assert result["status"] == "error", result
        assert "127.0.0.1:9" in result["summary"] and "refused" in result["summary"].lower()
    assert run.testcase("smoke").find("error") is not None


def test_misspelt_key_exits_2_naming_file_path_and_line(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    config = tmp_path / "preprod.yml"
    config.write_text(EXAMPLE_CONFIG.read_text().replace("min_days_valid:", "min_days_vaild:"))
    run = run_cli(
        "check",
        "--config",
        str(config),
        "--env",
        "staging",
        tmp_path=tmp_path,
        env={"TARGET_CA_BUNDLE": str(healthy_target.ca_bundle), "COLUMNS": "80"},
    )
    assert run.code == 2
    assert "1 configuration problem" in run.stderr
    assert str(config) in run.stderr
    line = _line_of(config, "min_days_vaild:")
    assert (
        f"plans.standard.checks[1].min_days_vaild (line {line}): unknown key 'min_days_vaild' "
        "(did you mean 'min_days_valid'?)"
    ) in run.stderr  # one unwrapped line, whatever the terminal width
    assert run.json_report is None and "Traceback" not in run.stderr


def test_config_validate_exit_codes(healthy_target: RunningTarget, tmp_path: Path) -> None:
    def validate(config: Path, ca: Path) -> CliRun:
        return run_cli(
            "config",
            "validate",
            "--config",
            str(config),
            tmp_path=tmp_path,
            env={"TARGET_CA_BUNDLE": str(ca)},
            reports=False,
        )

    good = validate(EXAMPLE_CONFIG, healthy_target.ca_bundle)
    assert good.code == 0 and ": ok (1 environments, 2 plans, 17 checks)" in good.stdout
    missing = validate(tmp_path / "missing.yml", healthy_target.ca_bundle)
    assert missing.code == 2 and "file not found" in missing.stderr
    not_a_ca = validate(EXAMPLE_CONFIG, EXAMPLE_CONFIG)
    assert not_a_ca.code == 2
    line = _line_of(EXAMPLE_CONFIG, "ca_bundle:")
    assert f"environments.staging.ca_bundle (line {line})" in not_a_ca.stderr
    assert "not a PEM file of CA certificates" in not_a_ca.stderr


def test_unknown_environment_is_a_usage_error(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    run = run_cli(
        "check",
        "--config",
        str(EXAMPLE_CONFIG),
        "--env",
        "prod",
        tmp_path=tmp_path,
        env={"TARGET_CA_BUNDLE": str(healthy_target.ca_bundle)},
    )
    assert run.code == 2
    assert "unknown environment 'prod'; known: staging" in run.stderr


def _line_of(config: Path, text: str) -> int:
    """The 1-based line of the first occurrence of ``text``: the example config changes."""
    lines = config.read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)
