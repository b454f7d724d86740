"""Running the real ``preprod`` command line in a subprocess, as a user or CI would."""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.processes import preprod_command
from tests.support.target import REPO_ROOT, RunningTarget

EXAMPLE_CONFIG = REPO_ROOT / "examples" / "preprod.yml"


@dataclass(frozen=True)
class CliRun:
    code: int
    stdout: str
    stderr: str
    json_report: dict[str, Any] | None
    junit: ET.Element | None

    def result(self, check_id: str) -> dict[str, Any]:
        assert self.json_report is not None
        [found] = [r for r in self.json_report["results"] if r["check_id"] == check_id]
        return found

    def testcase(self, check_id: str) -> ET.Element:
        assert self.junit is not None
        found = self.junit.find(f".//testcase[@name='{check_id}']")
        assert found is not None, f"no testcase {check_id}"
        return found


def target_env(target: RunningTarget) -> dict[str, str]:
    return {
        "TARGET_HTTPS_URL": target.https_url,
        "TARGET_CA_BUNDLE": str(target.ca_bundle),
        "TARGET_TOKEN": target.token,
        "PRODUCTION_URL": target.production_url,
        "TARGET_SCAN_REPORT": str(target.ca_bundle.parent / "trivy.json"),
    }


def run_cli(
    *args: str, tmp_path: Path, env: dict[str, str] | None = None, reports: bool = True
) -> CliRun:
    """``preprod <args>`` with its own database; with ``reports``, JSON and JUnit too."""
    json_path, junit_path = tmp_path / "out" / "run.json", tmp_path / "out" / "junit.xml"
    command = preprod_command(*args)
    if reports:
        html_path = tmp_path / "out" / "report.html"
        command += ["--json", str(json_path), "--junit", str(junit_path), "--html", str(html_path)]
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TARGET_", "PREPROD_"))},
        "DATABASE_URL": f"sqlite:///{tmp_path}/preprod.db",
        "PREPROD_WORK_DIR": str(tmp_path / "work"),  # run-1 of each test's own database
        "COLUMNS": "200",
        **(env or {}),
    }
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=120
    )
    return CliRun(
        code=done.returncode,
        stdout=done.stdout,
        stderr=done.stderr,
        json_report=json.loads(json_path.read_text()) if json_path.exists() else None,
        junit=ET.parse(junit_path).getroot() if junit_path.exists() else None,
    )
