"""Scanner output into one shape: SARIF 2.1 (bandit, Semgrep, CodeQL, Trivy's own SARIF),
Trivy's JSON (``trivy ... -f json``, schema 2) and Grype's JSON (``grype -o json``).
Pure: a parsed document in, findings out; anything unexpected is a ``ValueError`` that
says what was expected."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal

Format = Literal["auto", "sarif", "trivy", "grype"]
MAX_FINDINGS = 100_000


class Severity(IntEnum):
    """Ordered, so ``severity >= Severity.HIGH`` reads as it should."""

    UNKNOWN = 0
    INFO = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, word: object) -> Severity:
        text = str(word or "").strip().lower()
        aliases = {"negligible": "info", "informational": "info", "note": "low", "none": "info"}
        text = aliases.get(text, text)
        return cls[text.upper()] if text.upper() in cls.__members__ else cls.UNKNOWN

    @classmethod
    def from_score(cls, score: float) -> Severity:
        """CVSS bands, as GitHub reads SARIF's ``security-severity``."""
        if score >= 9.0:
            return cls.CRITICAL
        if score >= 7.0:
            return cls.HIGH
        if score >= 4.0:
            return cls.MEDIUM
        return cls.LOW if score > 0 else cls.INFO


@dataclass(frozen=True)
class Finding:
    id: str
    severity: Severity
    title: str = ""
    package: str = ""
    version: str = ""
    fixed_version: str = ""
    location: str = ""
    tool: str = ""

    def line(self) -> str:
        """``critical CVE-2023-50447 pillow 10.1.0 (fixed in 10.2.0): title``."""
        what = f"{self.package} {self.version}".strip() or self.location
        if self.package:
            what += f" (fixed in {self.fixed_version})" if self.fixed_version else " (no fix yet)"
            if self.location:
                what += f" in {self.location}"
        title = f": {self.title[:120]}" if self.title else ""
        return f"{self.severity.label} {self.id} {what}{title}"


def detect(document: Any) -> Format:
    if isinstance(document, dict):
        if "runs" in document and str(document.get("version", "")).startswith("2.1"):
            return "sarif"
        if "SchemaVersion" in document or "Results" in document:
            return "trivy"
        if "matches" in document:
            return "grype"
    raise ValueError(
        "not a scanner report preprod reads: expected SARIF 2.1 (`version: 2.1.0` and "
        "`runs`), Trivy JSON (`SchemaVersion`, `Results`) or Grype JSON (`matches`)"
    )


def parse(document: Any, fmt: Format = "auto") -> list[Finding]:
    kind = detect(document) if fmt == "auto" else fmt
    if not isinstance(document, dict):
        raise ValueError(f"a {kind} report is a JSON object, got {type(document).__name__}")
    found = {"sarif": sarif, "trivy": trivy, "grype": grype}[kind](document)
    if len(found) > MAX_FINDINGS:
        raise ValueError(f"{len(found)} findings: more than {MAX_FINDINGS} is not a real report")
    return found


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{where} should be a list, got {type(value).__name__}")
    return value


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def trivy(document: dict[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    for result in _list(document.get("Results"), "Results"):
        result = _dict(result)
        target = str(result.get("Target", ""))
        for vuln in _list(result.get("Vulnerabilities"), f"Results[{target}].Vulnerabilities"):
            vuln = _dict(vuln)
            out.append(
                Finding(
                    id=str(vuln.get("VulnerabilityID", "?")),
                    severity=Severity.parse(vuln.get("Severity")),
                    title=str(vuln.get("Title", "")),
                    package=str(vuln.get("PkgName", "")),
                    version=str(vuln.get("InstalledVersion", "")),
                    fixed_version=str(vuln.get("FixedVersion", "")),
                    location=target,
                    tool="trivy",
                )
            )
    return out


def grype(document: dict[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    for match in _list(document.get("matches"), "matches"):
        match = _dict(match)
        vuln, artifact = _dict(match.get("vulnerability")), _dict(match.get("artifact"))
        fix = _dict(vuln.get("fix"))
        versions = [str(v) for v in _list(fix.get("versions"), "fix.versions")]
        locations = _list(artifact.get("locations"), "artifact.locations")
        out.append(
            Finding(
                id=str(vuln.get("id", "?")),
                severity=Severity.parse(vuln.get("severity")),
                title=str(vuln.get("description", ""))[:200],
                package=str(artifact.get("name", "")),
                version=str(artifact.get("version", "")),
                fixed_version=", ".join(versions) if fix.get("state") == "fixed" else "",
                location=str(_dict(locations[0]).get("path", "")) if locations else "",
                tool="grype",
            )
        )
    return out


def sarif(document: dict[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    for run in _list(document.get("runs"), "runs"):
        run = _dict(run)
        driver = _dict(_dict(run.get("tool")).get("driver"))
        tool = str(driver.get("name", "sarif"))
        rules = {
            str(_dict(rule).get("id")): _dict(rule)
            for rule in _list(driver.get("rules"), "tool.driver.rules")
        }
        for result in _list(run.get("results"), "results"):
            result = _dict(result)
            rule_id = str(result.get("ruleId") or _dict(result.get("rule")).get("id") or "?")
            rule = rules.get(rule_id, {})
            out.append(
                Finding(
                    id=rule_id,
                    severity=_sarif_severity(result, rule),
                    title=str(_dict(result.get("message")).get("text", "")),
                    location=_sarif_location(result),
                    tool=tool,
                )
            )
    return out


def _sarif_severity(result: dict[str, Any], rule: dict[str, Any]) -> Severity:
    """``security-severity`` (a CVSS score, on the result or its rule) first, then a
    scanner's own severity word (bandit's ``issue_severity``), then the SARIF level
    (whose default, by the specification, is ``warning``)."""
    for props in (_dict(result.get("properties")), _dict(rule.get("properties"))):
        score = props.get("security-severity")
        if score is not None:
            try:
                return Severity.from_score(float(score))
            except (TypeError, ValueError):
                pass
        for key in ("issue_severity", "severity"):
            if props.get(key):
                return Severity.parse(props[key])
    level = result.get("level") or _dict(rule.get("defaultConfiguration")).get("level")
    return {"error": Severity.HIGH, "warning": Severity.MEDIUM, "note": Severity.LOW}.get(
        str(level or "warning"), Severity.INFO
    )


def _sarif_location(result: dict[str, Any]) -> str:
    locations = _list(result.get("locations"), "locations")
    if not locations:
        return ""
    physical = _dict(_dict(locations[0]).get("physicalLocation"))
    uri = str(_dict(physical.get("artifactLocation")).get("uri", ""))
    line = _dict(physical.get("region")).get("startLine")
    return f"{uri}:{line}" if line else uri
