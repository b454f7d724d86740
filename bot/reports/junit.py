"""JUnit XML report, so CI systems (Jenkins, GitLab, GitHub reporters) show each check as a test.

Built with ElementTree, never by string concatenation, so escaping is always right.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from urllib.parse import urlsplit

from bot.record.report import RunReport
from checks.base import CheckResult, Status

NON_BLOCKING_PREFIX = "[non-blocking] "

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
# Everything outside the XML 1.0 Char production: C0 controls except tab/LF/CR,
# lone surrogates and the U+FFFE/U+FFFF non-characters.
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean_text(text: str) -> str:
    """Drop terminal colour codes and characters XML cannot carry, so the file always parses.

    Evidence often comes from subprocess output (ANSI colours) or raw response bodies
    (NUL bytes); one stray byte would make the whole report unreadable to CI.
    """
    return _XML_INVALID.sub("", _ANSI_ESCAPE.sub("", text))


def format_number(value: float) -> str:
    """Metrics as people read them: ``412`` rather than ``412.0``, six significant digits."""
    if value.is_integer():
        return str(int(value))
    return f"{value:.6g}"


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def _timestamp(moment: datetime) -> str:
    """ISO 8601 without offset (what the JUnit XSD accepts), in UTC when the time is aware."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds")


def _metrics_lines(result: CheckResult) -> list[str]:
    return [f"{name}={format_number(value)}" for name, value in result.metrics.items()]


def _body(*parts: str) -> str:
    return clean_text("\n".join(part for part in parts if part))


def _message(result: CheckResult) -> str:
    prefix = "" if result.critical else NON_BLOCKING_PREFIX
    return clean_text(prefix + result.summary)


def _testcase(parent: ET.Element, result: CheckResult, index: int, environment: str) -> None:
    check_type = result.check_type or "check"
    case = ET.SubElement(
        parent,
        "testcase",
        classname=clean_text(f"preprod.{environment}.{check_type}"),
        name=clean_text(result.check_id or f"check-{index}"),
        time=_seconds(result.duration_s),
    )
    metrics = "\n".join(_metrics_lines(result))
    kind = {Status.FAILED: "failure", Status.ERROR: "error", Status.INTERRUPTED: "error"}.get(
        result.status
    )
    if kind is not None:
        child = ET.SubElement(case, kind, message=_message(result), type=clean_text(check_type))
        child.text = _body(result.evidence, metrics)
    elif result.status is Status.SKIPPED:
        ET.SubElement(case, "skipped", message=clean_text(result.summary))
    elif result.status is Status.WARNED:
        out = ET.SubElement(case, "system-out")
        out.text = _body(f"warning: {result.summary}", result.evidence, metrics)
    else:
        out = ET.SubElement(case, "system-out")
        out.text = _body(result.summary, metrics)


def _properties(parent: ET.Element, report: RunReport) -> None:
    props = ET.SubElement(parent, "properties")
    values = {
        "service": report.service,
        "version": report.version,
        "environment": report.environment,
        "plan": report.plan,
        "base_url": report.base_url,
        "run_id": str(report.run_id),
        "verdict": report.verdict.value,
        "status": report.status,
        "requester": report.requester,
        "preprod_version": report.preprod_version,
    }
    if report.gate is not None:
        values["decision"] = report.gate.decision or "undecided"
        values["production_outcome"] = report.gate.outcome or "unknown"
        for sig in report.gate.signatures:
            if sig.counts:
                values[f"signoff.{sig.role}.{sig.user}"] = f"{sig.vote} {sig.reason}".strip()
        for waiver in report.gate.waivers:
            values[f"waiver.{waiver.check_id}"] = f"{waiver.user}: {waiver.justification}"
    if report.audit:
        values["audit_head"] = f"#{report.audit[-1].seq} {report.audit[-1].hash}"
    for name, value in values.items():
        ET.SubElement(props, "property", name=name, value=clean_text(value))


def _suite_time(report: RunReport) -> float:
    """Wall time of the run; the checks' sum when the run has not finished."""
    if report.finished_at is not None:
        return report.duration_s
    return sum(result.duration_s for result in report.results)


def render_junit(report: RunReport, *, hostname: str | None = None) -> str:
    """The report as a JUnit XML document (pure: no I/O).

    ``hostname`` defaults to the host under test (from ``base_url``) rather than this
    machine's name: it is what a reader of a pre-production report cares about, and it
    keeps the output deterministic.
    """
    counts = report.counts
    totals = {
        "tests": str(len(report.results)),
        "failures": str(counts[Status.FAILED.value]),
        "errors": str(counts[Status.ERROR.value]),
        "skipped": str(counts[Status.SKIPPED.value]),
        "time": _seconds(_suite_time(report)),
    }
    root = ET.Element("testsuites", {"name": "preprod", **totals})
    suite_attrib = {
        "name": clean_text(f"preprod.{report.service}.{report.environment}"),
        **totals,
        "timestamp": _timestamp(report.started_at),
        "hostname": clean_text(hostname or urlsplit(report.base_url).hostname or "localhost"),
    }
    suite = ET.SubElement(root, "testsuite", suite_attrib)
    _properties(suite, report)
    environment = clean_text(report.environment)
    for index, result in enumerate(report.results, start=1):
        _testcase(suite, result, index, environment)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'
