"""A finished (or running) run as the reports and renderers see it: pure data."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, computed_field

from bot import __version__
from bot.record.lines import AuditLine, GateRecord
from checks.base import CheckResult, Status


class Verdict(StrEnum):
    """The automated phase's verdict. (GO / NO-GO also needs the human sign-offs.)"""

    PASS = "pass"
    FAIL = "fail"
    INCOMPLETE = "incomplete"


class AttestationItem(BaseModel):
    """A readiness item only a person can confirm; pending until ticked in Slack."""

    id: str
    text: str
    role: str
    blocking: bool = True
    ticked_by: str | None = None


class RunReport(BaseModel):
    run_id: int
    service: str
    version: str
    environment: str
    plan: str
    base_url: str
    requester: str = "cli"
    status: str = "finished"
    started_at: datetime
    finished_at: datetime | None = None
    results: list[CheckResult]
    attestations: list[AttestationItem] = []
    keep_going: bool = False
    """Every stage runs even after a stage's blocking failure (``--keep-going``), as stored
    with the run."""
    quarantines: dict[str, str] = {}
    """The plan's quarantined checks: id to the note every page says ("quarantined until
    2026-12-20 by sam: flaky under load"); the gate lets such a failure pass until then."""
    gate: GateRecord | None = None
    """Sign-offs, waivers, ticks, decision and outcome (None for a run never gated)."""
    audit: list[AuditLine] = []
    """The run's audit trail, oldest first."""
    preprod_version: str = __version__

    @computed_field  # type: ignore[prop-decorator]
    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(result.status.value for result in self.results)
        return {status.value: counted.get(status.value, 0) for status in Status}

    @computed_field  # type: ignore[prop-decorator]
    @property
    def blocking_failures(self) -> list[str]:
        return [result.check_id for result in self.results if result.blocking]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verdict(self) -> Verdict:
        if self.blocking_failures:
            return Verdict.FAIL
        if self.status != "finished":
            return Verdict.INCOMPLETE
        return Verdict.PASS

    @property
    def duration_s(self) -> float:
        if self.finished_at is None:
            return 0.0
        return (self.finished_at - self.started_at).total_seconds()
