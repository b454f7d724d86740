"""The JSON, JUnit and HTML reports, rendered from hand-built RunReports."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.record.report import RunReport
from bot.reports import SCHEMA, render_html, render_json, render_junit, write_reports
from checks.base import CheckResult, Status

T0 = datetime(2026, 11, 27, 8, 0, 0, tzinfo=UTC)


def _result(
    status: Status,
    check_id: str,
    check_type: str,
    summary: str,
    *,
    seconds: float = 1.5,
    critical: bool = True,
    **kwargs: object,
) -> CheckResult:
    return CheckResult(
        status=status,
        summary=summary,
        check_id=check_id,
        check_type=check_type,
        critical=critical,
        blocking=critical and status.is_problem,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=seconds),
        **kwargs,
    )


def _report(results: list[CheckResult] | None = None, **kwargs: object) -> RunReport:
    fields: dict[str, object] = {
        "run_id": 42,
        "service": "checkout-api",
        "version": "2.14.0",
        "environment": "staging",
        "plan": "standard",
        "base_url": "https://staging.internal.example",
        "requester": "U0ALICE",
        "started_at": T0,
        "finished_at": T0 + timedelta(minutes=3, seconds=7),
        "results": results if results is not None else _mixed_results(),
    }
    fields.update(kwargs)
    return RunReport.model_validate(fields)


def _mixed_results() -> list[CheckResult]:
    return [
        _result(
            Status.PASSED, "smoke", "http", "3/3 requests ok", metrics={"p95_ms": 41.0, "ok": 3}
        ),
        _result(Status.WARNED, "tls", "tls", "certificate expires in 20 days", evidence="CN=x"),
        _result(
            Status.FAILED,
            "load",
            "load",
            "p95 812ms > 500ms",
            metrics={"p95_ms": 812.25},
            evidence="\x1b[31mthreshold breached\x1b[0m\x00 at 50 users",
            seconds=120,
        ),
        _result(
            Status.FAILED,
            "headers",
            "security_headers",
            "missing Content-Security-Policy",
            critical=False,
            evidence="GET / -> no CSP",
        ),
        _result(
            Status.ERROR, "parity", "parity", "production unreachable", evidence="ECONNREFUSED"
        ),
        _result(Status.SKIPPED, "pii", "pii_scan", "no paths configured", seconds=0),
    ]


# --- JUnit -----------------------------------------------------------------------------


def _cases(root: ET.Element) -> dict[str, ET.Element]:
    return {case.attrib["name"]: case for case in root.iter("testcase")}


def test_junit_counts_match_the_results() -> None:
    root = ET.fromstring(render_junit(_report()))
    suite = root.find("testsuite")
    assert root.tag == "testsuites" and root.attrib["name"] == "preprod"
    assert suite is not None
    assert suite.attrib["name"] == "preprod.checkout-api.staging"
    assert suite.attrib["timestamp"] == "2026-11-27T08:00:00"
    assert suite.attrib["hostname"] == "staging.internal.example"
    for element in (root, suite):
        assert element.attrib["tests"] == "6"
        assert element.attrib["failures"] == "2"
        assert element.attrib["errors"] == "1"
        assert element.attrib["skipped"] == "1"
        assert element.attrib["time"] == "187.000"
    assert len(suite.findall("testcase")) == 6


def test_junit_properties_describe_the_run() -> None:
    root = ET.fromstring(render_junit(_report()))
    props = {p.attrib["name"]: p.attrib["value"] for p in root.iter("property")}
    assert props["service"] == "checkout-api"
    assert props["version"] == "2.14.0"
    assert props["environment"] == "staging"
    assert props["plan"] == "standard"
    assert props["base_url"] == "https://staging.internal.example"
    assert props["run_id"] == "42"
    assert props["verdict"] == "fail"


def test_junit_each_testcase_carries_its_outcome() -> None:
    cases = _cases(ET.fromstring(render_junit(_report())))
    assert [child.tag for child in cases["smoke"]] == ["system-out"]
    smoke_out = cases["smoke"].findtext("system-out") or ""
    assert "3/3 requests ok" in smoke_out and "p95_ms=41" in smoke_out
    assert cases["smoke"].attrib["classname"] == "preprod.staging.http"
    assert cases["smoke"].attrib["time"] == "1.500"

    assert [child.tag for child in cases["tls"]] == ["system-out"]
    assert (cases["tls"].findtext("system-out") or "").startswith(
        "warning: certificate expires in 20 days\nCN=x"
    )

    failure = cases["load"].find("failure")
    assert failure is not None
    assert failure.attrib == {"message": "p95 812ms > 500ms", "type": "load"}
    assert failure.text is not None and "threshold breached at 50 users" in failure.text
    assert "p95_ms=812.25" in failure.text

    non_blocking = cases["headers"].find("failure")
    assert non_blocking is not None
    assert non_blocking.attrib["message"] == "[non-blocking] missing Content-Security-Policy"
    assert non_blocking.attrib["type"] == "security_headers"

    error = cases["parity"].find("error")
    assert error is not None and cases["parity"].find("failure") is None
    assert error.attrib == {"message": "production unreachable", "type": "parity"}
    assert error.text == "ECONNREFUSED"

    skipped = cases["pii"].find("skipped")
    assert skipped is not None and skipped.attrib["message"] == "no paths configured"


def test_junit_strips_characters_xml_cannot_carry() -> None:
    nasty = "bad\x00byte \x1b[1mbold\x1b[0m \x07bell \x1b \ufffe end & <tag> \"q\" 'a'"
    report = _report(
        [_result(Status.FAILED, "x\x01", "http", f"summary {nasty}", evidence=nasty)],
        service="svc\x0b",
    )
    text = render_junit(report)
    root = ET.fromstring(text)  # parses: that is the point
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    clean = "badbyte bold bell   end & <tag> \"q\" 'a'"
    assert failure.text == clean
    assert failure.attrib["message"] == f"summary {clean}"
    assert root.find("testsuite/testcase[@name='x']") is not None
    assert root.find("testsuite[@name='preprod.svc.staging']") is not None


def test_junit_is_well_formed_for_an_empty_unfinished_run() -> None:
    root = ET.fromstring(render_junit(_report([], finished_at=None, status="running")))
    assert root.attrib["tests"] == "0" and root.attrib["time"] == "0.000"
    props = {p.attrib["name"]: p.attrib["value"] for p in root.iter("property")}
    assert props["verdict"] == "incomplete"


# --- JSON ------------------------------------------------------------------------------


def test_json_round_trips_with_schema_verdict_and_counts() -> None:
    report = _report()
    data = json.loads(render_json(report))
    assert data["schema"] == SCHEMA == "preprod.run/1"
    assert data["verdict"] == "fail"
    assert data["blocking_failures"] == ["load", "parity"]
    assert data["counts"] == {
        "passed": 1, "warned": 1, "failed": 2, "error": 1, "skipped": 1, "interrupted": 0
    }  # fmt: skip
    assert data["duration_s"] == 187.0
    assert [r["check_id"] for r in data["results"]] == [r.check_id for r in report.results]
    assert data["results"][2]["duration_s"] == 120.0
    assert RunReport.model_validate(data).results == report.results


def test_json_is_stable_and_always_valid() -> None:
    nan_metrics = [_result(Status.PASSED, "m", "http", "ok", metrics={"x": float("nan")})]
    report = _report(nan_metrics)
    assert render_json(report) == render_json(report)
    assert json.loads(render_json(report))["results"][0]["metrics"]["x"] is None
    assert json.loads(render_json(_report([])))["verdict"] == "pass"


# --- HTML ------------------------------------------------------------------------------


def test_html_shows_the_run_and_every_check() -> None:
    page = render_html(_report())
    for check_id in ("smoke", "tls", "load", "headers", "parity", "pii"):
        assert f">{check_id}<" in page
    for label in ("PASSED", "WARNED", "FAILED", "ERROR", "SKIPPED"):
        assert label in page
    assert "Verdict: FAIL" in page and "verdict-fail" in page
    assert "checkout-api" in page and "2.14.0" in page and "U0ALICE" in page
    assert "2026-11-27 08:00:00 UTC" in page and "3 min 07 s" in page
    assert "non-blocking" in page
    assert "threshold breached at 50 users" in page and "\x00" not in page


def test_html_opens_details_only_for_problems() -> None:
    page = render_html(_report())
    opened = set(re.findall(r'<details id="(check-\d+)" open>', page))
    assert opened == {"check-3", "check-4", "check-5"}  # load, headers (failed), parity (error)


@pytest.mark.parametrize(
    ("report", "banner"),
    [
        (_report([_result(Status.PASSED, "smoke", "http", "ok")]), "Verdict: PASS"),
        (_report([], status="cancelled"), "Verdict: INCOMPLETE"),
    ],
)
def test_html_verdict_banner(report: RunReport, banner: str) -> None:
    assert banner in render_html(report)


def test_html_escapes_user_content_and_loads_nothing_external() -> None:
    evil = '<script>alert("x")</script>'
    report = _report(
        [_result(Status.FAILED, "xss", "http", f"got {evil}", evidence=evil)],
        service=f"svc{evil}",
        base_url='javascript:alert(1)//"><img src=x>',
    )
    page = render_html(report)
    assert "&lt;script&gt;" in page
    assert "<script" not in page.lower()
    assert "<img" not in page
    assert not re.search(r"<link[^>]+https?://", page, re.IGNORECASE)
    assert not re.search(r"src\s*=\s*[\"']?https?://", page, re.IGNORECASE)
    assert "@import" not in page and "url(" not in page


# --- write_reports ---------------------------------------------------------------------


def test_write_reports_creates_directories_and_writes_all_three(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "run-42"
    report = _report()
    write_reports(
        report,
        json_path=out / "run.json",
        junit_path=out / "junit.xml",
        html_path=str(out / "html" / "report.html"),
    )
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["schema"] == SCHEMA
    assert ET.parse(out / "junit.xml").getroot().attrib["tests"] == "6"
    assert (out / "html" / "report.html").read_text(encoding="utf-8") == render_html(report)


def test_write_reports_writes_only_what_was_asked(tmp_path: Path) -> None:
    write_reports(_report(), junit_path=tmp_path / "a" / "junit.xml")
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["junit.xml"]
