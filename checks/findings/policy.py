"""The gate on scanner findings, pure: an allow-list whose entries expire, then a
maximum count per severity. A finding that an expired entry used to allow counts again,
and the evidence says so."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from checks.findings.parsers import Finding, Severity

SOON_DAYS = 14
"""An entry expiring within this many days is named in the evidence."""


class AllowEntry(BaseModel):
    """A finding id accepted for a while, with the reason someone signed up to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=3, max_length=500)
    expires: date
    package: str | None = None
    """Only for this package (the same CVE elsewhere still counts)."""

    def matches(self, finding: Finding) -> bool:
        return finding.id == self.id and self.package in (None, finding.package)


@dataclass
class Verdict:
    counted: list[Finding] = field(default_factory=list)
    allowed: list[tuple[Finding, AllowEntry]] = field(default_factory=list)
    expired: list[tuple[Finding, AllowEntry]] = field(default_factory=list)
    over: dict[Severity, int] = field(default_factory=dict)
    """Severity -> its maximum, for every severity over its maximum."""
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> Counter[Severity]:
        return Counter(f.severity for f in self.counted)

    @property
    def blocking(self) -> list[Finding]:
        """Every counted finding of a severity over its maximum, worst first."""
        found = [f for f in self.counted if f.severity in self.over]
        return sorted(found, key=lambda f: (-f.severity, f.id))


def judge(
    findings: list[Finding],
    maximum: dict[Severity, int],
    allow: list[AllowEntry],
    today: date,
) -> Verdict:
    verdict = Verdict()
    for finding in findings:
        entry = next((e for e in allow if e.matches(finding)), None)
        if entry is None:
            verdict.counted.append(finding)
        elif entry.expires < today:
            verdict.counted.append(finding)
            verdict.expired.append((finding, entry))
        else:
            verdict.allowed.append((finding, entry))
    counts = verdict.counts
    verdict.over = {sev: most for sev, most in maximum.items() if counts[sev] > most}
    for entry in allow:
        if entry.expires < today:
            verdict.notes.append(
                f"allow-list entry {entry.id} expired on {entry.expires} ({entry.reason}): "
                "it no longer allows"
            )
        elif (entry.expires - today).days <= SOON_DAYS:
            verdict.notes.append(f"allow-list entry {entry.id} expires on {entry.expires}")
    return verdict
