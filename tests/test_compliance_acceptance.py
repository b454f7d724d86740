"""Acceptance of the compliance checks through the real CLI and the example plan: the
four compliance defects planted in one target fail pii, audit, authz and findings with
summaries naming the problem, and no output (terminal, logs, JSON, JUnit, HTML reports,
the database) ever holds a planted personal value or secret in full."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from examples.target.compliance import PLANTED, USER_TOKEN
from tests.cli import EXAMPLE_CONFIG, run_cli, target_env
from tests.support.target import RunningTarget

COMPLIANCE = ("--only", "pii", "audit", "authz", "findings")
EXPECTED = {
    "pii": "personal data or secrets exposed: ",
    "audit": "no audit record for POST /api/orders within 3s",
    "authz": "user reached GET /admin/users (200; expected denied)",
    "findings": "1 critical finding (max 0): critical CVE-2023-50447 pillow 10.1.0 (fixed in "
    "10.2.0)",
}


def test_compliance_defects_fail_their_checks_and_leak_nothing(
    target_factory: Callable[..., RunningTarget], tmp_path: Path
) -> None:
    target = target_factory("pii-leak", "no-audit", "user-admin", "critical-finding")
    env = target_env(target)
    run = run_cli(
        "check", "--config", str(EXAMPLE_CONFIG), "--env", "staging", *COMPLIANCE, "--verbose",
        tmp_path=tmp_path, env=env,
    )  # fmt: skip
    assert run.code == 1, run.stdout + run.stderr
    for check_id, words in EXPECTED.items():
        result = run.result(check_id)
        assert result["status"] == "failed", result
        assert result["summary"].startswith(words), result["summary"]
    pii = run.result("pii")["summary"]
    for kind in ("email", "phone", "card", "iban", "cloud_key", "jwt"):
        assert kind in pii, pii
    assert "a***@***.org" in run.result("pii")["evidence"]  # masked, yet recognisable

    outputs = {"stdout": run.stdout, "stderr": run.stderr}
    for path in tmp_path.rglob("*"):  # the reports, the database (and its WAL), any log
        if path.is_file():
            outputs[str(path.relative_to(tmp_path))] = path.read_bytes().decode("latin-1")
    assert {"out/run.json", "out/junit.xml", "out/report.html", "preprod.db"} <= set(outputs)
    # The search sees what the checks wrote: the findings' evidence is stored and shown.
    assert all("CVE-2023-50447" in outputs[name] for name in ("stdout", "out/report.html"))
    assert any("CVE-2023-50447" in text for name, text in outputs.items() if "preprod.db" in name)
    secrets = [*PLANTED, USER_TOKEN, target.token]
    for name, text in outputs.items():
        squeezed = re.sub(r"\s", "", text)
        for value in secrets:
            assert value not in text, f"{value!r} in {name}"
            assert re.sub(r"\s", "", value) not in squeezed, f"{value!r} (spaces removed) in {name}"
