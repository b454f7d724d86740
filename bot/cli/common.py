"""What every ``preprod`` command shares: exit codes and the options several commands take."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

EXIT_OK, EXIT_BLOCKED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

EXIT_CODES = """exit codes:
  0    no blocking failure (pending attestations and non-critical failures do not block)
  1    a critical check failed or ended in error
  2    usage or configuration error
  130  interrupted (Ctrl-C): the run is recorded as cancelled, its reports still written"""


def config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="FILE", help="config file (default $PREPROD_CONFIG, else preprod.yml)"
    )


def database_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        metavar="URL",
        help="where runs are stored (default $DATABASE_URL, else sqlite:///.preprod/preprod.db)",
    )


def report_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, metavar="FILE", help="write a JSON report")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report")
    parser.add_argument("--html", type=Path, metavar="FILE", help="write an HTML report")


def say(out: Console, text: str, style: str | None = None) -> None:
    """Print text as is: no Rich markup or highlighting of user-controlled content."""
    out.print(text, markup=False, highlight=False, soft_wrap=True, style=style)
