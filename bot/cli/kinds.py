"""``preprod checks``: the kinds of check and their options (rendered by ``kind_docs``, which
loads the whole catalog, so only when the command runs)."""

from __future__ import annotations

import argparse

from rich.console import Console


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    kinds = commands.add_parser(
        "checks",
        help="list the kinds of check and their options",
        description="List the kinds of check a plan's `type:` accepts (built-in and "
        "plug-ins), with each option's type, default and meaning.",
    )
    kinds.add_argument("kind", nargs="?", help="show only this kind")


def run(args: argparse.Namespace, out: Console) -> int:
    from bot.cli.kind_docs import show_kinds

    return show_kinds(args.kind, out)
