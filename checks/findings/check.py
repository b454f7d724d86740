"""``findings``: gate the release on a vulnerability scanner's report, read from a file
or from a command's output (an argv list, never a shell string), with maximum counts per
severity and an allow-list whose entries carry a reason and an expiry date."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime

from checks.base import Check, CheckResult
from checks.context import CheckContext
from checks.findings.options import FindingsOptions as FindingsOptions
from checks.findings.parsers import Severity, parse
from checks.findings.policy import Verdict, judge

MAX_SHOWN = 30


class FindingsCheck(Check[FindingsOptions]):
    type_name = "findings"
    Options = FindingsOptions

    def natural_timeout(self) -> float:
        return float(self.options.command_timeout) + 30.0 if self.options.command else 60.0

    async def run(self, ctx: CheckContext) -> CheckResult:
        o = self.options
        source = str(o.file) if o.file is not None else " ".join(o.command or [])
        try:
            raw = await (self._run_command() if o.command else asyncio.to_thread(self._read))
            document = json.loads(raw)
            findings = parse(document, o.format)
        except (OSError, ValueError, RecursionError) as exc:
            return CheckResult.error(ctx.redact(f"cannot read scanner output from {source}: {exc}"))
        today = datetime.now(UTC).date()
        verdict = judge(findings, o.maximum, o.allow, today)
        ctx.progress(f"{len(findings)} findings in {source}")
        metrics = _metrics(verdict)
        evidence = ctx.redact("\n".join(_evidence(verdict, source, o.maximum)))
        if verdict.over:
            worst = max(verdict.over)
            count = verdict.counts[worst]
            first = verdict.blocking[0]
            more = len(verdict.blocking) - 1
            summary = (
                f"{count} {worst.label} finding{'s' if count != 1 else ''} "
                f"(max {verdict.over[worst]}): {first.line()}"
            )
            if more:
                summary += f" (+{more} more blocking)"
            if any(f is first for f, _ in verdict.expired):
                summary += " [its allow-list entry expired]"
            return CheckResult.failed(ctx.redact(summary), metrics=metrics, evidence=evidence)
        summary = _within(verdict)
        status = CheckResult.warned if verdict.expired else CheckResult.passed
        return status(ctx.redact(summary), metrics=metrics, evidence=evidence)

    def _read(self) -> bytes:
        assert self.options.file is not None
        with self.options.file.open("rb") as file:
            data = file.read(self.options.max_bytes + 1)
        if len(data) > self.options.max_bytes:
            raise ValueError(f"the report is larger than max_bytes ({self.options.max_bytes})")
        return data

    async def _run_command(self) -> bytes:
        o = self.options
        assert o.command is not None
        proc = await asyncio.create_subprocess_exec(
            *o.command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(float(o.command_timeout)):
                assert proc.stdout is not None and proc.stderr is not None
                out, err = await asyncio.gather(
                    proc.stdout.read(o.max_bytes + 1), _tail(proc.stderr, 4096)
                )
                if len(out) > o.max_bytes:
                    raise ValueError(f"its output is larger than max_bytes ({o.max_bytes})")
                await proc.wait()
        except TimeoutError:
            raise ValueError(f"it ran longer than {float(o.command_timeout):g}s") from None
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if not out.strip():
            tail = err.decode(errors="replace").strip().splitlines()[-3:]
            raise ValueError(
                f"it exited {proc.returncode} with no output"
                + (f": {' | '.join(tail)}" if tail else "")
            )
        return out


async def _tail(stream: asyncio.StreamReader, keep: int) -> bytes:
    """Read a stream to its end (a full pipe would stall the scanner), keeping its end."""
    kept = b""
    while chunk := await stream.read(64 * 1024):
        kept = (kept + chunk)[-keep:]
    return kept


def _counts(verdict: Verdict) -> str:
    counts = verdict.counts
    return ", ".join(f"{counts[s]} {s.label}" for s in sorted(Severity, reverse=True) if counts[s])


def _within(verdict: Verdict) -> str:
    """The passing summary, counting as the figures do: allowed findings apart."""
    counted = len(verdict.counted)
    summary = f"{counted} finding{'s' if counted != 1 else ''} within thresholds"
    if counted:
        summary += f" ({_counts(verdict)})"
    if verdict.allowed:
        summary += f", not counting {len(verdict.allowed)} allowed"
    return summary


def _metrics(verdict: Verdict) -> dict[str, float]:
    counts = verdict.counts
    metrics = {f"findings.{s.label}": float(counts[s]) for s in Severity if counts[s]}
    metrics["counted_findings"] = float(len(verdict.counted))
    metrics["allowed_findings"] = float(len(verdict.allowed))
    metrics["blocking_findings"] = float(len(verdict.blocking))
    return metrics


def _evidence(verdict: Verdict, source: str, maximum: dict[Severity, int]) -> list[str]:
    limits = ", ".join(f"{sev.label} <= {most}" for sev, most in sorted(maximum.items()))
    lines = [f"report: {source}", f"thresholds: {limits or 'none'}"]
    lines.append(f"counted: {_counts(verdict) or 'none'}")
    if verdict.blocking:
        lines.append("blocking findings:")
        lines += [f"  {f.line()}" for f in verdict.blocking[:MAX_SHOWN]]
        if len(verdict.blocking) > MAX_SHOWN:
            lines.append(f"  ... and {len(verdict.blocking) - MAX_SHOWN} more")
    if verdict.allowed:
        lines.append("allowed:")
        lines += [
            f"  {f.line()} -- until {e.expires}: {e.reason}" for f, e in verdict.allowed[:MAX_SHOWN]
        ]
    lines += verdict.notes
    return lines
