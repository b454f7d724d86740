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
from bot.engine.report import AttestationItem, RunReport
from bot.reports import write_reports
from bot.store.gate import GateStore
from bot.store.runs import RunStore
from checks.spec import AttestationSpec


def with_attestations(
    report: RunReport, config: Config, ticks: Mapping[str, str] | None = None
) -> RunReport:
    """The run's plan attestations from the config, ticked by whom the database says."""
    plan = config.plans.get(report.plan)
    items: list[AttestationSpec] = plan.attestations if plan is not None else []
    ticks = ticks or {}
    attestations = [
        AttestationItem(**item.model_dump(), ticked_by=ticks.get(item.id)) for item in items
    ]
    return report.model_copy(update={"attestations": attestations})


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
