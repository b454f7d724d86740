"""``{service}``, ``{version}``, ``{environment}`` and ``{plan}`` in a check's options:
filled once when the run starts the check, ``{{``/``}}`` literal, a kind's own names left
to it, an unknown name a config error at load time naming its key path (issue 24,
points 1 and 10)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config.loader import ConfigError
from bot.engine.request import RunRequest
from checks.base import Status
from checks.context import RunInfo
from checks.load import LoadOptions
from checks.placeholders import fill, run_values, unknown_names
from checks.spec import CheckSpec
from tests.test_engine import make_config, make_engine

pytestmark = pytest.mark.usefixtures("scripted_kinds")

RUN = RunInfo(7, "checkout-api", "2.15.0", "staging", "standard")


def test_fill_replaces_run_names_in_values_only() -> None:
    options = {
        "path": "/{service}/health",
        "argv": ["deploy", "{version}", "--env={environment}"],
        "expect_json": {"{plan}": "{version}"},
        "body": '{{"v": "{version}"}} \\d{3}',
        "count": 3,
    }
    assert fill(options, run_values(RUN)) == {
        "path": "/checkout-api/health",
        "argv": ["deploy", "2.15.0", "--env=staging"],
        "expect_json": {"{plan}": "2.15.0"},
        "body": '{"v": "2.15.0"} \\d{3}',
        "count": 3,
    }


def test_a_value_never_becomes_more_than_one_argument() -> None:
    hostile = RunInfo(1, "svc; rm -rf /", "1.0 && reboot", "env $(id)", "p")
    argv = fill(["tool", "{service}", "{version}", "{environment}"], run_values(hostile))
    assert argv == ["tool", "svc; rm -rf /", "1.0 && reboot", "env $(id)"]


def test_a_kinds_own_names_pass_through() -> None:
    keep = frozenset({"marker"})
    assert fill("/audit?id={marker}&v={version}", run_values(RUN), keep) == (
        "/audit?id={marker}&v=2.15.0"
    )
    assert unknown_names({"a": "{marker}"}, keep) == []


def test_unknown_names_name_the_key_path() -> None:
    found = unknown_names({"requests": [{"path": "/"}, {"expect_json": {"v": "{verison}"}}]})
    assert len(found) == 1
    assert found[0].startswith("requests[1].expect_json.v: unknown placeholder {verison}; known:")
    assert "{version}" in found[0]
    assert unknown_names({"body": "{{verison}} \\d{3} {1}"}) == []


def test_unknown_placeholder_is_a_config_error_at_load_time(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        make_config(tmp_path, '- {id: a, type: scripted, evidence: "built {verison}"}\n')
    text = str(caught.value)
    assert "plans.standard.checks[0]" in text
    assert "evidence: unknown placeholder {verison}" in text


async def test_the_engine_fills_the_runs_values(tmp_path: Path) -> None:
    engine = make_engine(
        tmp_path,
        '- {id: a, type: scripted, evidence: "{service} {version} {environment} {plan} {{x}}"}\n',
    )
    report = await engine.run(RunRequest("checkout-api", "2.15.0", "staging"))
    assert report.results[0].evidence == "checkout-api 2.15.0 staging standard {x}"


async def test_a_drill_gets_the_values_as_single_argv_items(tmp_path: Path) -> None:
    engine = make_engine(
        tmp_path,
        """\
        - id: d
          type: drill
          script:
            argv: ["{python}", -c, "import sys; print(sys.argv[1:])", "{version}", "{environment}"]
        """,
    )
    report = await engine.run(RunRequest("checkout-api", "2.15.0; id", "staging"))
    result = report.results[0]
    assert result.status is Status.PASSED, result.summary
    assert "['2.15.0; id', 'staging']" in result.evidence


def test_a_file_named_by_environment_is_read_when_the_run_starts(tmp_path: Path) -> None:
    """`tasks_from: {access_log: logs/{environment}.log}`: no file of that literal name
    exists at load time; the run reads its own environment's log."""
    logs = tmp_path / "logs"
    logs.mkdir()
    line = '1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET /api/items HTTP/1.1" 200 5 "-" "x"\n'
    (logs / "staging.log").write_text(line * 3)
    options = {
        "users": 1, "duration": "1s",
        "tasks_from": {"access_log": f"{logs}/{{environment}}.log"},
    }  # fmt: skip
    spec = CheckSpec.model_validate({"id": "load", "type": "load", **options})
    spec.bind()  # what the config loader does: no file named "{environment}.log" is read
    check = spec.build(run_values(RUN))
    assert isinstance(check.options, LoadOptions)
    assert [task.path for task in check.options.tasks] == ["/api/items"]
    with pytest.raises(ValidationError, match="cannot read access log"):
        spec.build(run_values(RunInfo(1, "s", "1", "prod", "p")))
