"""``audit_logging``: an action must leave an audit record. Performs a configured request
carrying a unique marker, then polls the audit trail (an endpoint or a JSON-lines file)
until a record with that marker appears, within a time limit, and verifies the fields
an auditor needs (actor, action, time) are there and plausible."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from checks._http import (
    evidence_redactor,
    or_list,
    status_line,
    timed_send,
    unreachable,
)
from checks.audit_logging_options import Action as Action
from checks.audit_logging_options import AuditLoggingOptions as AuditLoggingOptions
from checks.audit_logging_options import Source as Source
from checks.base import Check, CheckResult
from checks.context import CheckContext
from checks.pii.detectors import mask_found

MARKER = "{marker}"
MAX_RECORDS = 10_000
_LIST_KEYS = ("events", "records", "items", "data", "entries", "results")


class AuditLoggingCheck(Check[AuditLoggingOptions]):
    own_placeholders = frozenset({"marker"})
    type_name = "audit_logging"
    Options = AuditLoggingOptions

    def natural_timeout(self) -> float:
        return float(self.options.within) + 30.0

    async def run(self, ctx: CheckContext) -> CheckResult:
        o = self.options
        redact = evidence_redactor(ctx).with_secrets(
            v for v in [*o.action.headers.values(), *o.source.headers.values()]
        )
        marker = f"preprod-{ctx.run.run_id}-{uuid.uuid4().hex[:12]}"
        offset = _size(o.source.file) if o.source.file is not None else 0
        label = f"{o.action.method.upper()} {o.action.path}"
        lines = [f"marker: {marker}"]
        async with ctx.http_client() as client:
            request = client.build_request(
                o.action.method.upper(),
                o.action.path.replace(MARKER, marker),
                headers=_action_headers(o, marker),
                json=_fill(o.action.json_body, marker),
            )
            try:
                exchange = await timed_send(client, request, max_body=o.max_body)
            except httpx.HTTPError as exc:
                return unreachable(ctx, request.url, exc)
            acted_at = datetime.now(UTC)
            lines.append(status_line(exchange.response, exchange.elapsed_ms))
            status = exchange.response.status_code
            if status not in o.action.expect_status:
                expected = or_list(o.action.expect_status)
                summary = f"the audited action {label} answered {status} (expected {expected})"
                return CheckResult.error(redact(summary), evidence=redact("\n".join(lines)))
            ctx.progress(f"{label} -> {status}; waiting for the audit record of {marker}")
            started = time.monotonic()
            deadline = started + float(o.within)
            polls = 0
            while True:
                polls += 1
                try:
                    records = await self._records(client, marker, offset)
                except httpx.HTTPError as exc:
                    return unreachable(ctx, o.source.endpoint or "", exc)
                except (OSError, ValueError) as exc:
                    return CheckResult.error(redact(f"cannot read the audit trail: {exc}"))
                matching = [r for r in records if _mentions(r, marker)]
                if matching or time.monotonic() >= deadline:
                    break
                await asyncio.sleep(float(o.poll_interval))
        waited = time.monotonic() - started
        metrics = {"records_found": float(len(matching)), "wait_s": round(waited, 2)}
        where = (o.source.endpoint or "").replace(MARKER, marker) or str(o.source.file)
        if not matching:
            lines.append(f"{polls} look(s) at {where}: no record mentions the marker")
            summary = (
                f"no audit record for {label} within {float(o.within):g}s "
                f"(marker {marker}, source {where})"
            )
            return CheckResult.failed(
                redact(summary), metrics=metrics, evidence=redact("\n".join(lines))
            )
        record = matching[0]
        shown = mask_found(json.dumps(record, default=str)[:1000])
        lines.append(f"audit record after {waited:.1f}s: {shown}")
        problems = judge(record, o, acted_at)
        metrics["problems"] = float(len(problems))
        lines += [f"  ! {p}" for p in problems]
        if problems:
            summary = f"audit record for {label} is incomplete: {'; '.join(problems)}"
            return CheckResult.failed(
                redact(summary), metrics=metrics, evidence=redact("\n".join(lines))
            )
        summary = (
            f"audit record for {label} appeared after {waited:.1f}s with {', '.join(o.fields)}"
        )
        return CheckResult.passed(
            redact(summary), metrics=metrics, evidence=redact("\n".join(lines))
        )

    async def _records(self, client: httpx.AsyncClient, marker: str, offset: int) -> list[Any]:
        source = self.options.source
        if source.file is not None:
            return _read_lines(source.file, offset, source.max_bytes)
        assert source.endpoint is not None
        request = client.build_request(
            "GET", source.endpoint.replace(MARKER, marker), headers=source.headers
        )
        exchange = await timed_send(client, request, max_body=source.max_bytes)
        if not exchange.response.is_success:
            raise ValueError(f"{source.endpoint} answered {exchange.response.status_code}")
        try:
            return _as_records(exchange.body.json())
        except ValueError:
            return _parse_lines(exchange.body.text)


def judge(record: Any, o: AuditLoggingOptions, acted_at: datetime) -> list[str]:
    """What is missing or wrong in a matching record."""
    if not isinstance(record, dict):
        return ["the record is not a JSON object, so its fields cannot be verified"]
    problems = [f"missing {name}" for name in o.fields if _get(record, name) in (None, "")]
    for name, wanted in o.expect.items():
        got = _get(record, name)
        if got is not None and str(got) != wanted:
            problems.append(f"{name} is {str(got)[:80]!r} (expected {wanted!r})")
        elif got is None and name not in o.fields:
            problems.append(f"missing {name}")
    if o.time_field and (raw := _get(record, o.time_field)) not in (None, ""):
        when = _time(raw)
        if when is None:
            problems.append(f"{o.time_field} {str(raw)[:40]!r} is not a time")
        elif abs((when - acted_at).total_seconds()) > float(o.max_skew):
            problems.append(
                f"{o.time_field} {when.isoformat()} is far from the action ({acted_at.isoformat()})"
            )
    return problems


def _action_headers(o: AuditLoggingOptions, marker: str) -> dict[str, str]:
    headers = {k: v.replace(MARKER, marker) for k, v in o.action.headers.items()}
    if o.marker_header:
        headers[o.marker_header] = marker
    return headers


def _fill(value: Any, marker: str) -> Any:
    if isinstance(value, str):
        return value.replace(MARKER, marker)
    if isinstance(value, list):
        return [_fill(v, marker) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, marker) for k, v in value.items()}
    return value


def _mentions(value: Any, marker: str, depth: int = 0) -> bool:
    if depth > 20:
        return False
    if isinstance(value, str):
        return marker in value
    if isinstance(value, dict):
        return any(_mentions(v, marker, depth + 1) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, marker, depth + 1) for v in value)
    return False


def _get(record: dict[str, Any], dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _time(raw: Any) -> datetime | None:
    try:
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return datetime.fromtimestamp(float(raw), UTC)
        when = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _as_records(document: Any) -> list[Any]:
    if isinstance(document, dict):
        for key in _LIST_KEYS:
            if isinstance(document.get(key), list):
                return list(document[key][:MAX_RECORDS])
        return [document]
    if isinstance(document, list):
        return list(document[:MAX_RECORDS])
    raise ValueError("the audit endpoint did not answer JSON records")


def _parse_lines(text: str) -> list[Any]:
    records: list[Any] = []
    for line in text.splitlines()[-MAX_RECORDS:]:
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError:
                records.append(line)  # matched by text, reported as not verifiable
    return records


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _read_lines(path: Path, offset: int, limit: int) -> list[Any]:
    """What was appended after ``offset`` (all of it if the file was rotated), bounded."""
    try:
        file = path.open("rb")
    except FileNotFoundError:  # not written yet: no records so far
        return []
    with file:
        size = file.seek(0, 2)
        file.seek(offset if size >= offset else 0)
        data = file.read(limit)
    return _parse_lines(data.decode("utf-8", errors="replace"))
