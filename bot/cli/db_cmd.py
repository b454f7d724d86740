"""``preprod db upgrade`` / ``preprod db current``: the database schema, explicitly.

Servers upgrade the schema when they open the store too; the explicit command lets a
deployment migrate once, before replicas of a new version start, and shows what it did."""

from __future__ import annotations

import argparse

from rich.console import Console

from bot.cli.common import EXIT_OK, database_arg, say


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = commands.add_parser(
        "db",
        help="the database schema: upgrade, current",
        description="Apply or show the database's schema migrations (Alembic).",
    )
    actions = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = actions.add_parser(
        "upgrade",
        help="apply the migrations not applied yet",
        description="Apply every schema migration the database lacks and print from which "
        "revision to which. Exit 2 when the database is newer than this preprod.",
    )
    current = actions.add_parser(
        "current",
        help="show the database's schema revision",
        description="Print the database's schema revision and the newest this preprod knows.",
    )
    database_arg(upgrade)
    database_arg(current)


def run(args: argparse.Namespace, out: Console) -> int:
    from bot.store import migrate
    from bot.store.runs import database_url, make_engine

    url = database_url(args.database)
    engine = make_engine(url)
    try:
        where = engine.url.render_as_string(hide_password=True)
        before = migrate.current(engine)
        if args.db_command == "current":
            say(out, f"{where}: schema {_name(before)}; this preprod's newest is {migrate.head()}")
            return EXIT_OK
        migrate.upgrade(engine)  # SchemaError (newer than the code) exits 2 in main
        after = migrate.current(engine)
        if before == after:
            say(out, f"{where}: schema {_name(after)}, already the newest; nothing to do")
        else:
            say(out, f"{where}: schema upgraded from {_name(before)} to {_name(after)}")
        return EXIT_OK
    finally:
        engine.dispose()


def _name(revision: str | None) -> str:
    return revision if revision is not None else "none (empty database)"
