"""What every ``preprod`` command shares: exit codes, the options several commands take,
and the terminal: consoles that never let text from outside act on the terminal."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.text import Text

from bot.cli.safe_text import printable
from bot.input_limits import MAX_RUN_ID, is_run_id

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

EXIT_OK, EXIT_BLOCKED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143

EXIT_CODES = """exit codes:
  0    no blocking failure (pending attestations and non-critical failures do not block)
  1    a critical check failed or ended in error
  2    usage or configuration error
  130  interrupted (Ctrl-C): the run is recorded as cancelled, its reports still written
  143  terminated (SIGTERM, as a CI runner cancelling the job sends it): as for 130"""


def config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="FILE", help="config file (default $PREPROD_CONFIG, else preprod.yml)"
    )


def run_number(text: str) -> int:
    """An argparse type for an option naming a run: a number the database can hold, else a
    usage error (exit 2) rather than an overflow deep in the driver."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a run number") from None
    if not is_run_id(number):
        raise argparse.ArgumentTypeError(f"{text} is not a run number (1 to {MAX_RUN_ID})")
    return number


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
    """Print a line that may hold text from outside: not read as Rich markup, not
    highlighted, and its control characters escaped (bot/cli/safe_text.py)."""
    out.print(
        printable(text), markup=False, highlight=False, emoji=False, soft_wrap=True, style=style
    )


def plain(text: str, style: str = "") -> Text:
    """A table cell or line of text from outside: escaped, and never Rich markup (a plain
    ``str`` cell is parsed as markup: ``[/x]`` in a service name raised)."""
    return Text(printable(text), style=style)


class SafeConsole(Console):
    """A Console whose every text segment is escaped before it is written: the net under
    :func:`say` and :func:`plain`, for whatever text reaches the terminal another way (the
    live table included, which renders through here). Rich's own control sequences
    (styles, cursor moves) are segments of their own and pass unchanged. Text escaped
    before layout keeps its columns; what only this net escapes may overflow a cell."""

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control is None:
                text = printable(segment.text)
                if text != segment.text:
                    segment = Segment(text, segment.style)
            yield segment


class SafeArgumentParser(argparse.ArgumentParser):
    """argparse echoes what was typed (``unrecognized arguments: ...``) as is; this one
    escapes its messages like every other line the CLI prints."""

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        super()._print_message(printable(message), file)


class SafeFormatter(logging.Formatter):
    """Log lines (a check's crash message, a Slack error) escaped like the rest of the
    terminal; newlines and tabs kept, so tracebacks read as usual."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


LOG_WIDTH = 160
"""Columns when the output is not a terminal (a CI log, a file): Rich would assume 80 and
fold a table's words ("decisio n"); logs are read in wide windows and never wrap lines."""


def consoles() -> tuple[Console, Console]:
    """The CLI's standard output and standard error (``COLUMNS`` still wins, as in Rich)."""
    return _console(sys.stdout), _console(sys.stderr, stderr=True)


def _console(stream: TextIO, *, stderr: bool = False) -> Console:
    wide = not os.environ.get("COLUMNS") and not _is_terminal(stream)
    return SafeConsole(stderr=stderr, emoji=False, width=LOG_WIDTH if wide else None)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed
        return False
