"""The config loader: valid files load, and every kind of mistake names file, key path,
line and what was expected."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from bot.config.loader import ConfigError, load_config

BASE = """\
channel: C0RELEASES
roles:
  sre: {label: SRE, members: [U1, U2]}
  security: {members: [U3]}
environments:
  staging:
    base_url: https://staging.example/
    plan: standard
    headers: {Authorization: "Bearer ${STAGING_TOKEN}"}
plans:
  standard:
    checks:
      - {id: one, type: scripted, outcome: pass}
      - {id: two, type: scripted, sleep: 0.1, timeout: 2m, critical: false}
"""

pytestmark = pytest.mark.usefixtures("scripted_kinds")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "preprod.yml"
    path.write_text(dedent(text))
    return path


def problems(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={"STAGING_TOKEN": "s3cr3t-token"} if environ is None else environ)
    assert caught.value.source == path
    assert str(path) in caught.value.render()
    return [str(problem) for problem in caught.value.problems]


def test_valid_config_loads_with_secrets_and_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE), environ={"STAGING_TOKEN": "s3cr3t-token"})
    env = config.environments["staging"]
    assert env.base_url == "https://staging.example"
    assert env.headers == {"Authorization": "Bearer s3cr3t-token"}
    assert "s3cr3t-token" in config.secrets
    assert config.required_roles == ["sre", "security"]
    checks = config.plans["standard"].checks
    assert [c.id for c in checks] == ["one", "two"]
    assert checks[1].timeout == 120.0 and checks[1].critical is False
    assert checks[1].options.model_dump() == {
        "outcome": "pass", "sleep": 0.1, "evidence": "", "evidence_repeat": 1
    }  # fmt: skip
    assert len(config.digest) == 64


def test_misspelt_option_names_path_line_and_suggestion(tmp_path: Path) -> None:
    text = BASE.replace("sleep: 0.1", "slep: 0.1")
    assert problems(tmp_path, text) == [
        "plans.standard.checks[1].slep (line 14): unknown key 'slep' (did you mean 'sleep'?)"
    ]


def test_misspelt_environment_key(tmp_path: Path) -> None:
    text = BASE.replace("base_url:", "base_ulr:")
    assert sorted(problems(tmp_path, text)) == [
        "environments.staging.base_ulr (line 7): unknown key 'base_ulr' (did you mean 'base_url'?)",
        "environments.staging.base_url (line 6): required key is missing",
    ]


def test_bad_option_value_says_what_was_expected(tmp_path: Path) -> None:
    text = BASE.replace("outcome: pass", "outcome: maybe")
    [problem] = problems(tmp_path, text)
    assert problem.startswith("plans.standard.checks[0].outcome (line 13): expected 'pass'")
    assert "'maybe'" in problem


def test_bad_duration(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, BASE.replace("timeout: 2m", "timeout: soon"))
    assert problem == (
        "plans.standard.checks[1].timeout (line 14): "
        "expected a duration such as 30s, 2m or 500ms, got 'soon'"
    )


def test_unknown_check_type_lists_known_ones(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, BASE.replace("type: scripted, outcome", "type: htp, outcome"))
    assert problem.startswith("plans.standard.checks[0].type (line 13): unknown check type 'htp'")
    for known in ("http", "tls", "security_headers", "auth_required", "scripted"):
        assert known in problem


def test_missing_environment_variable(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, BASE, environ={})
    assert problem.startswith(
        "environments.staging.headers.Authorization (line 9): "
        "environment variable STAGING_TOKEN is not set"
    )


def test_variable_default_and_dollar_escape(tmp_path: Path) -> None:
    text = BASE.replace("${STAGING_TOKEN}", "${STAGING_TOKEN:-fallback-token}$$x")
    config = load_config(write(tmp_path, text), environ={})
    assert config.environments["staging"].headers["Authorization"] == "Bearer fallback-token$x"


def test_unknown_plan_and_role_references(tmp_path: Path) -> None:
    text = (
        BASE.replace("plan: standard", "plan: nightly")
        + "policy:\n  required_signoffs: [sre, qa]\n"
    )
    assert problems(tmp_path, text) == [
        "environments.staging.plan (line 8): no plan named 'nightly'; plans: standard",
        "policy.required_signoffs[1] (line 16): no role named 'qa'; roles: security, sre",
    ]


def test_duplicate_check_ids(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, BASE.replace("id: two", "id: one"))
    assert problem == "plans.standard (line 11): check id 'one' is used twice in this plan"


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, BASE + "oops: [unclosed\n")
    assert problem.startswith("line 16, column 1: the '[' opened on line 15 is not closed")
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.yml")


def test_ca_bundle_is_relative_to_the_config_file(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    text = BASE.replace("plan: standard", "plan: standard\n    ca_bundle: ca.pem")
    config = load_config(write(tmp_path, text), environ={"STAGING_TOKEN": "x" * 8})
    assert config.environments["staging"].ca_bundle == (tmp_path / "ca.pem").resolve()
    missing = BASE.replace("plan: standard", "plan: standard\n    ca_bundle: nope.pem")
    assert problems(tmp_path, missing) == [
        "environments.staging.ca_bundle (line 9): file not found: nope.pem"
    ]


def test_a_role_listed_twice_in_the_policy(tmp_path: Path) -> None:
    text = BASE + "policy:\n  required_signoffs: [sre, security, sre]\n"
    assert problems(tmp_path, text) == [
        "policy.required_signoffs (line 16): role 'sre' is listed twice"
    ]
