"""What ``preprod runs``, ``show`` and ``report`` do with the database (``history`` holds
their arguments and loads this module only when one of them runs)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from rich.console import Console
from rich.table import Table
from sqlmodel import Session, col, select

from bot.cli import results
from bot.cli.common import EXIT_BLOCKED, EXIT_OK, plain, say
from bot.config.loader import ConfigError, load_config
from bot.config.paths import resolve_config_path
from bot.config.schema import Config
from bot.gate.summary import decision_labels
from bot.input_limits import is_run_id
from bot.record.report import RunReport, Verdict
from bot.reports.html import format_time
from bot.store.models import CheckRecord, Run, as_utc
from bot.store.record import full_report
from bot.store.runs import RunStore


@dataclass(frozen=True)
class RunLine:
    run_id: int
    started: datetime
    service: str
    version: str
    environment: str
    status: str
    blocking: bool


def _run_lines(limit: int) -> Callable[[Session], tuple[list[Run], list[RunLine]]]:
    """The newest runs, and each one's line with its automated verdict, in one session:
    two queries (the runs; their check records' latest attempts, three columns)."""

    def work(session: Session) -> tuple[list[Run], list[RunLine]]:
        runs = list(session.exec(select(Run).order_by(col(Run.id).desc()).limit(limit)))
        ids = [run.id for run in runs]
        latest: dict[tuple[int, str], bool] = {}
        query = select(
            col(CheckRecord.run_id), col(CheckRecord.check_id), col(CheckRecord.blocking)
        )
        query = query.where(col(CheckRecord.run_id).in_(ids)).order_by(col(CheckRecord.attempt))
        for run_id, check_id, blocking in session.exec(query):
            latest[(run_id, check_id)] = blocking
        blocked = {run_id for (run_id, _), blocking in latest.items() if blocking}
        lines = [
            RunLine(
                run_id=run.id,
                started=as_utc(run.created_at),
                service=run.service,
                version=run.version,
                environment=run.environment,
                status=run.status.value,
                blocking=run.id in blocked,
            )
            for run in runs
            if run.id is not None
        ]
        return runs, lines

    return work


async def list_runs(args: argparse.Namespace, out: Console) -> int:
    store = RunStore(args.database)
    runs, lines = await store.call(_run_lines(args.limit))
    labels = await decision_labels(_config_or_none(args), store, runs)
    store.engine.dispose()
    if not lines:
        say(out, "no runs yet: start one with `preprod check`")
        return EXIT_OK
    table = Table()
    for name in ("run", "started", "service", "version", "env", "status", "verdict", "decision"):
        table.add_column(name, overflow="fold")
    for line in lines:
        verdict = _verdict(line.status, line.blocking)
        table.add_row(
            f"#{line.run_id}",
            format_time(line.started),
            plain(line.service),
            plain(line.version),
            plain(line.environment),
            line.status,
            verdict,
            plain(labels.get(line.run_id, "")),
        )
    out.print(table)
    return EXIT_OK


def _config_or_none(args: argparse.Namespace) -> Config | None:
    """The config, to name the roles an undecided run awaits; None when it does not load."""
    try:
        return load_config(resolve_config_path(args.config))
    except (ConfigError, OSError):
        return None


def _verdict(status: str, blocking: bool) -> str:
    if blocking:
        return Verdict.FAIL.value
    return Verdict.PASS.value if status == "finished" else Verdict.INCOMPLETE.value


async def stored_report(args: argparse.Namespace, store: RunStore, err: Console) -> RunReport:
    """The stored run with its attestations, as ``preprod check`` reported it, and what
    people did about it (sign-offs, waivers, decision, outcome) with its audit trail."""
    run = await store.get_run(args.run_id) if is_run_id(args.run_id) else None
    if run is None:
        raise LookupError(f"no run {args.run_id}")
    path = resolve_config_path(args.config or run.config_path or None)
    try:
        config = load_config(path)
    except ConfigError as exc:
        first = exc.render().splitlines()
        say(err, f"preprod: attestations left out: {' '.join(first[:2])}", style="yellow")
        return await full_report(store, args.run_id)
    if run.config_digest and config.digest != run.config_digest:
        say(err, f"preprod: note: {path} changed since run {args.run_id}", style="yellow")
    report = await full_report(store, args.run_id, config.role_labels)
    return results.with_attestations(report, config, await results.ticks_of(store, run.id or 0))


async def show(args: argparse.Namespace, out: Console, err: Console) -> int:
    store = RunStore(args.database)
    report = await stored_report(args, store, err)
    say(
        out,
        f"run #{report.run_id}: {report.service} {report.version} on {report.environment} "
        f"(plan {report.plan}), {report.status}, requested by {report.requester}, "
        f"started {format_time(report.started_at)}",
        style="bold",
    )
    results.show(report, out, verbose=args.verbose)
    for line in results.gate_lines(report):
        say(out, line)
    return EXIT_BLOCKED if report.verdict is Verdict.FAIL else EXIT_OK


async def rewrite_report(args: argparse.Namespace, out: Console, err: Console) -> int:
    store = RunStore(args.database)
    report = await stored_report(args, store, err)
    results.show(report, out)
    written = results.write(report, args, out)
    if not written:
        say(out, "no report asked for: give --json, --junit or --html FILE", style="dim")
    return EXIT_BLOCKED if report.verdict is Verdict.FAIL else EXIT_OK
