"""A run's results on the terminal and in report files, shared by ``check``, ``show`` and
``report`` so that a stored run reads the same as it did when it ran."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console

from bot.cli.common import say
from bot.cli.console import attestation_lines, details, summary_table, verdict_line
from bot.config.schema import Config
from bot.gate.quarantine import quarantines_of
from bot.record.report import AttestationItem, RunReport
from bot.reports import write_reports
from bot.reports.html import format_time
from bot.store.gate import GateStore
from bot.store.runs import RunStore
from checks.spec import AttestationSpec


def with_attestations(
    report: RunReport, config: Config, ticks: Mapping[str, str] | None = None
) -> RunReport:
    """The run's plan attestations from the config, ticked by whom the database says,
    and the plan's quarantines."""
    plan = config.plans.get(report.plan)
    items: list[AttestationSpec] = plan.attestations if plan is not None else []
    ticks = ticks or {}
    attestations = [
        AttestationItem(**item.model_dump(), ticked_by=ticks.get(item.id)) for item in items
    ]
    quarantines = {c: q.note() for c, q in quarantines_of(plan).items()}
    return report.model_copy(update={"attestations": attestations, "quarantines": quarantines})


async def ticks_of(store: RunStore, run_id: int) -> dict[str, str]:
    """Who ticked each attestation item of a run (in Slack)."""
    return {tick.item_id: tick.user for tick in await GateStore(store).ticks(run_id)}


def show(report: RunReport, out: Console, *, verbose: bool = False) -> None:
    """The summary table, the verdict and what still waits for people."""
    out.print(summary_table(report))
    if verbose:
        for line in details(report):
            out.print(line)
    out.print(verdict_line(report))
    for line in attestation_lines(report):
        out.print(line)


def write(report: RunReport, args: argparse.Namespace, out: Console) -> list[Path]:
    """Write the reports the command line asked for; the paths written."""
    paths: tuple[Path | None, ...] = (args.json, args.junit, args.html)
    write_reports(report, json_path=args.json, junit_path=args.junit, html_path=args.html)
    written = [path for path in paths if path is not None]
    for path in written:
        say(out, f"wrote {path}")
    return written


def gate_lines(report: RunReport) -> list[str]:
    """The decision, who signed for each role, rejections, waivers, ticks, the production
    outcome and where the audit trail is, as plain lines (printed without markup)."""
    gate = report.gate
    lines: list[str] = []
    disputed = f" — {gate.trail_disagrees}" if gate is not None and gate.trail_disagrees else ""
    if gate is None or gate.decision is None:
        lines.append(f"decision: none yet (sign-offs are gathered in Slack){disputed}")
    else:
        lines.append(
            f"decision: {gate.decision.upper()} at {format_time(gate.decided_at)}{disputed}"
        )
        lines.extend(f"  {reason}" for reason in gate.decision_reasons)
    if gate is not None:
        lines.extend(f"  ! {line}" for line in gate.trail_differences)
    if gate is not None:
        for sig in gate.signatures:
            verb = "approved" if sig.vote == "approve" else "REJECTED"
            why = f": {sig.reason}" if sig.reason else ""
            stale = "" if sig.counts else " (before a re-run; no longer counts)"
            lines.append(
                f"  {sig.role_label}: {sig.user} {verb} at {format_time(sig.at)}{why}{stale}"
            )
        for waiver in gate.waivers:
            lines.append(
                f"  waived {waiver.check_id} (attempt {waiver.attempt}) by {waiver.user}: "
                f"{waiver.justification}"
            )
        for tick in gate.ticks:
            lines.append(f"  ticked {tick.item_id} by {tick.user} at {format_time(tick.at)}")
        if gate.outcome is not None:
            lines.append(
                f"production outcome: {gate.outcome} (recorded by {gate.outcome_by} at "
                f"{format_time(gate.outcome_at)})"
            )
        elif gate.decision == "go":
            lines.append("production outcome: not recorded yet")
    if report.audit:
        last = report.audit[-1]
        lines.append(
            f"audit trail: {len(report.audit)} events, last #{last.seq} {last.hash[:16]}… "
            f"(`preprod audit export --run {report.run_id}`)"
        )
    return lines
