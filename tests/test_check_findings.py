"""``findings`` on real scanner output: bandit's SARIF (committed, and made afresh by
running bandit as the check's command), Trivy and Grype JSON (tests/data/findings/README.md)."""

from __future__ import annotations

import json
import shutil
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.reports.figures import figures as report_figures
from checks.base import Status
from checks.findings import FindingsCheck, FindingsOptions, Severity, parse
from checks.findings.policy import AllowEntry, judge
from tests.support.target import REPO_ROOT
from tests.test_check_http import make_ctx

DATA = REPO_ROOT / "tests" / "data" / "findings"
TRIVY = REPO_ROOT / "examples" / "target" / "data" / "trivy.json"
TODAY = date.today()
LATER = str(TODAY + timedelta(days=90))


async def findings(target: Any, **options: Any) -> Any:
    return await FindingsCheck(FindingsOptions.model_validate(options)).run(make_ctx(target))


def test_each_format_reads_into_findings() -> None:
    sarif = parse(json.loads((DATA / "bandit.sarif").read_text()))
    assert {(f.id, f.severity) for f in sarif} >= {
        ("B602", Severity.HIGH),
        ("B324", Severity.HIGH),
        ("B307", Severity.MEDIUM),
        ("B105", Severity.LOW),
    }
    [shell] = [f for f in sarif if f.id == "B602"]
    assert shell.location == "tests/data/findings/vulnerable/app.py:12" and shell.tool == "Bandit"

    trivy = parse(json.loads(TRIVY.read_text()))
    [setuptools] = [f for f in trivy if f.package == "setuptools"]
    assert setuptools.line() == (
        "high CVE-2024-6345 setuptools 65.5.0 (fixed in 70.0.0) in Python: "
        "pypa/setuptools: Remote code execution via download functions in the package_index module"
    )

    grype = parse(json.loads((DATA / "grype.json").read_text()))
    assert [(f.id, f.severity.label, f.package, f.fixed_version) for f in grype] == [
        ("GHSA-9wx4-h78v-vm56", "medium", "requests", "2.32.0"),
        ("CVE-2023-4863", "critical", "libwebp7", "1.2.4-0.2+deb12u1"),
        ("CVE-2005-2541", "info", "tar", ""),
    ]


def test_unknown_documents_say_what_was_expected() -> None:
    with pytest.raises(ValueError, match=r"expected SARIF 2\.1"):
        parse({"hello": "world"})
    with pytest.raises(ValueError, match="Results should be a list"):
        parse({"SchemaVersion": 2, "Results": "x"})


async def test_sarif_thresholds_by_severity(healthy_target: Any) -> None:
    sarif = str(DATA / "bandit.sarif")
    result = await findings(healthy_target, file=sarif, max={"critical": 0, "high": 1})
    assert result.status is Status.FAILED
    assert result.summary.startswith(
        "2 high findings (max 1): high B324 tests/data/findings/vulnerable/app.py:"
    )
    assert "(+1 more blocking)" in result.summary
    ok = await findings(healthy_target, file=sarif, max={"critical": 0, "high": 3})
    assert ok.status is Status.PASSED
    assert ok.summary == "8 findings within thresholds (2 high, 3 medium, 3 low)"


async def test_bandit_run_as_the_command(healthy_target: Any) -> None:
    bandit = shutil.which("bandit", path=str(Path(sys.executable).parent))
    assert bandit, "bandit is a dev dependency"
    command = [bandit, "-q", "-f", "sarif", str(DATA / "vulnerable" / "app.py")]
    result = await findings(healthy_target, command=command, max={"high": 0})
    assert result.status is Status.FAILED, result.summary
    assert result.summary.startswith("2 high findings (max 0): high B")
    assert result.metrics["counted_findings"] == 8


async def test_healthy_image_scan_passes_with_its_allowed_high(healthy_target: Any) -> None:
    allow = [{"id": "CVE-2024-6345", "reason": "setuptools is build-time only", "expires": LATER}]
    result = await findings(
        healthy_target, file=str(TRIVY), max={"critical": 0, "high": 0}, allow=allow
    )
    assert result.status is Status.PASSED, result.evidence
    # the summary counts as the figures do: 3 counted (beside "Counted findings 3"), 1 allowed
    assert (
        result.summary == "3 findings within thresholds (1 medium, 2 low), not counting 1 allowed"
    )
    figures = {f.label: f.value for f in report_figures(result.metrics)}
    assert figures["Counted findings"] == "3" and figures["Allowed findings"] == "1"
    assert f"until {LATER}: setuptools is build-time only" in result.evidence


async def test_an_expired_allow_entry_no_longer_allows(healthy_target: Any) -> None:
    allow = [{"id": "CVE-2024-6345", "reason": "build-time only", "expires": "2025-01-31"}]
    result = await findings(healthy_target, file=str(TRIVY), max={"high": 0}, allow=allow)
    assert result.status is Status.FAILED
    assert result.summary == (
        "1 high finding (max 0): high CVE-2024-6345 setuptools 65.5.0 (fixed in 70.0.0) in "
        "Python: pypa/setuptools: Remote code execution via download functions in the "
        "package_index module [its allow-list entry expired]"
    )
    assert "expired on 2025-01-31 (build-time only): it no longer allows" in result.evidence


async def test_critical_finding_in_the_targets_scan_fails(target_factory: Any) -> None:
    target = target_factory("critical-finding")
    report = target.ca_bundle.parent / "trivy.json"
    result = await findings(target, file=str(report))
    assert result.status is Status.FAILED
    assert result.summary.startswith(
        "1 critical finding (max 0): critical CVE-2023-50447 pillow 10.1.0 (fixed in 10.2.0)"
    )
    assert "blocking findings:\n  critical CVE-2023-50447 pillow 10.1.0" in result.evidence


async def test_grype_critical_blocks(healthy_target: Any) -> None:
    result = await findings(healthy_target, file=str(DATA / "grype.json"), format="grype")
    assert result.status is Status.FAILED
    assert (
        "critical CVE-2023-4863 libwebp7 1.2.4-0.2 (fixed in 1.2.4-0.2+deb12u1)" in result.summary
    )


async def test_unreadable_sources_are_errors(healthy_target: Any, tmp_path: Path) -> None:
    missing = await findings(healthy_target, file=str(tmp_path / "nope.json"))
    assert missing.status is Status.ERROR and "No such file" in missing.summary
    silent = await findings(
        healthy_target, command=[sys.executable, "-c", "import sys; sys.exit(3)"]
    )
    assert silent.status is Status.ERROR and "exited 3 with no output" in silent.summary
    slow = await findings(
        healthy_target,
        command=[sys.executable, "-c", "import time; time.sleep(30)"],
        command_timeout="300ms",
    )
    assert slow.status is Status.ERROR and "ran longer than 0.3s" in slow.summary


def test_policy_counts_and_options() -> None:
    entry = AllowEntry(id="X", reason="accepted", expires=TODAY, package="p")
    verdict = judge(
        parse(
            {
                "matches": [
                    {"vulnerability": {"id": "X", "severity": "High"}, "artifact": {"name": "p"}}
                ]
            }
        ),
        {Severity.HIGH: 0},
        [entry],
        TODAY,
    )
    assert verdict.over == {} and len(verdict.allowed) == 1  # valid through its expiry day
    with pytest.raises(ValidationError, match="unknown severity 'severe'"):
        FindingsOptions.model_validate({"file": "x", "max": {"severe": 1}})
    with pytest.raises(ValidationError, match="either file"):
        FindingsOptions.model_validate({"max": {"high": 1}})
    with pytest.raises(ValidationError, match="reason"):
        FindingsOptions.model_validate({"file": "x", "allow": [{"id": "X", "expires": LATER}]})
