"""``preprod check``: run an environment's plan, show it live, write the reports, exit with
a code CI can gate on. Ctrl-C still writes the reports of the cancelled run."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from rich.console import Console

from bot.cli.common import (
    EXIT_BLOCKED,
    EXIT_CODES,
    EXIT_OK,
    EXIT_USAGE,
    config_arg,
    database_arg,
    report_args,
    say,
)
from bot.config.paths import resolve_config_path

if TYPE_CHECKING:
    from bot.config.schema import Config
    from bot.record.report import RunReport


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = commands.add_parser(
        "check",
        help="run an environment's validation plan",
        description="Run an environment's validation plan against its base URL, show the "
        "results, write the requested reports and exit with a code CI can gate on.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    config_arg(check)
    check.add_argument("--env", required=True, help="environment name from the config")
    check.add_argument("--plan", help="plan to run instead of the environment's own")
    check.add_argument(
        "--only",
        nargs="+",
        metavar="ID",
        default=[],
        help="run only these checks; the others are reported as skipped",
    )
    check.add_argument(
        "--keep-going",
        action="store_true",
        help="run every stage even after a stage's blocking failure (default: stop there)",
    )
    check.add_argument("--service", default="service", help="service name recorded with the run")
    check.add_argument(
        "--release",
        dest="release",
        help="version being released (required when the plan uses {version}; "
        "else recorded as 'unversioned')",
    )
    report_args(check)
    database_arg(check)
    check.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="after the table, every figure and the full evidence of every problem",
    )


async def run(args: argparse.Namespace, out: Console) -> int:
    # The engine, the store and the checks load here, not at import: `--help` stays instant.
    import asyncio

    from bot.cli import results
    from bot.cli.console import TerminalProgress
    from bot.config.loader import load_config
    from bot.engine.release import UNVERSIONED, no_version_note
    from bot.engine.request import RunRequest, default_workdir
    from bot.engine.runner import Engine
    from bot.record.report import Verdict
    from bot.store.record import full_report
    from bot.store.runs import RunStore

    config = load_config(resolve_config_path(args.config))
    if (version := args.release) is None:
        if (problem := missing_version(config, args)) is not None:
            print(f"preprod check: error: {problem}", file=sys.stderr)
            return EXIT_USAGE
        version = UNVERSIONED
        print(f"preprod check: {no_version_note()}", file=sys.stderr)
    store = RunStore(args.database)
    progress = TerminalProgress(out)
    workdir = default_workdir(store.url)
    engine = Engine(config, store, workdir, listeners=[progress], cancelled_by="cli")
    request = RunRequest(
        service=args.service,
        version=version,
        environment=args.env,
        plan=args.plan,
        only=tuple(args.only),
        keep_going=args.keep_going,
    )
    stored = await engine.start(request)
    assert stored.id is not None
    print(f"preprod check: work files in {workdir / f'run-{stored.id}'}", file=sys.stderr)
    try:
        await engine.execute(stored, request)
    except asyncio.CancelledError:
        # Ctrl-C: the engine recorded the run as cancelled; the reports CI asked for are
        # still written (a missing file would hide what ran before the interruption).
        progress.stop()
        cancelled = results.with_attestations(await full_report(store, stored.id), config)
        _finish(cancelled, args, out)
        raise
    finally:
        progress.stop()
    # As stored, with its audit trail: `preprod report` later writes the same files.
    report = results.with_attestations(await full_report(store, stored.id), config)
    _finish(report, args, out)
    return EXIT_BLOCKED if report.verdict is Verdict.FAIL else EXIT_OK


def missing_version(config: Config, args: argparse.Namespace) -> str | None:
    """Why this run cannot go without --release (its plan uses {version}), or None."""
    from bot.engine.release import missing_version_problem

    env = config.environments.get(args.env)
    plan_name = args.plan or (env.plan if env is not None else None)
    if plan_name is None or plan_name not in config.plans:
        return None  # the engine names the unknown environment or plan
    return missing_version_problem(plan_name, config.plans[plan_name], list(args.only))


def _finish(report: RunReport, args: argparse.Namespace, out: Console) -> None:
    from bot.cli import results

    results.show(report, out, verbose=args.verbose)
    results.write(report, args, out)
    say(out, f"run {report.run_id} stored in the database", style="dim")
