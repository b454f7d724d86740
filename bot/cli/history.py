"""Past runs from the database: ``preprod runs`` (the list with each decision),
``preprod show RUN`` (one run) and ``preprod report RUN`` (its reports written again).

The arguments live here; the work in ``past_runs``, loaded when a command runs."""

from __future__ import annotations

import argparse

from rich.console import Console

from bot.cli.common import config_arg, database_arg, report_args
from bot.input_limits import MAX_RUN_ID


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    runs = commands.add_parser(
        "runs",
        help="list past runs with their verdict and go/no-go decision",
        description="List past runs, newest first, with the automated verdict and the "
        "go/no-go decision of the sign-offs (Slack).",
    )
    runs.add_argument(
        "--limit", type=_how_many, default=20, metavar="N", help="how many (default 20)"
    )
    config_arg(runs)
    database_arg(runs)

    show = commands.add_parser(
        "show",
        help="print one stored run: its checks, attestations and decision",
        description="Print one stored run as `preprod check` showed it, with its "
        "attestations and its go/no-go decision.",
    )
    show.add_argument("run_id", type=int, metavar="RUN", help="the run's number")
    show.add_argument(
        "-v", "--verbose", action="store_true", help="every figure and the full evidence"
    )
    config_arg(show)
    database_arg(show)

    report = commands.add_parser(
        "report",
        help="write the reports of a stored run again",
        description="Write the JSON, JUnit and HTML reports of a stored run again, the same "
        "as `preprod check` wrote them (attestations from the run's config, ticks from the "
        "database).",
    )
    report.add_argument("run_id", type=int, metavar="RUN", help="the run's number")
    report_args(report)
    config_arg(report)
    database_arg(report)


def _how_many(word: str) -> int:
    """``--limit``: at least 1; a number past every run id lists every run (a larger one
    was a crash: SQLite's int too large, PostgreSQL's bigint out of range)."""
    try:
        number = int(word)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {word!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"at least 1, not {number}")
    return min(number, MAX_RUN_ID)


async def list_runs(args: argparse.Namespace, out: Console) -> int:
    from bot.cli import past_runs

    return await past_runs.list_runs(args, out)


async def show(args: argparse.Namespace, out: Console, err: Console) -> int:
    from bot.cli import past_runs

    return await past_runs.show(args, out, err)


async def rewrite_report(args: argparse.Namespace, out: Console, err: Console) -> int:
    from bot.cli import past_runs

    return await past_runs.rewrite_report(args, out, err)
