"""``preprod sessions list`` / ``preprod sessions revoke --user U…``: the web pages'
sessions, as stored in the shared database (bot/store/sessions.py).

A revocation ends every session of the person at once on every replica: their next
request is sent to sign in again."""

from __future__ import annotations

import argparse
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from rich.console import Console

from bot.cli.common import EXIT_OK, EXIT_USAGE, database_arg, say
from bot.settings import session_limits

USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")
"""A Slack user id (``U0RM``, ``W0123ABC``)."""

if TYPE_CHECKING:
    from bot.store.sessions import Listed


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sessions = commands.add_parser(
        "sessions",
        help="the web pages' sign-in sessions: list, revoke",
        description="List or end the web pages' sessions (stored in the database, so a "
        "revocation holds on every replica at once).",
    )
    actions = sessions.add_subparsers(dest="sessions_command", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list",
        help="show the live sessions",
        description="Show the live sessions, most recently seen first: who, when they "
        "signed in and were last seen (to the minute), and the session's key.",
    )
    listing.add_argument(
        "--all", action="store_true", help="also the ended sessions still kept, and why"
    )
    revoke = actions.add_parser(
        "revoke",
        help="end every session of a person",
        description="End every live session of a Slack user: their next request is sent "
        "to sign in again.",
    )
    revoke.add_argument("--user", required=True, metavar="USER_ID", help="a Slack user id")
    database_arg(listing)
    database_arg(revoke)


async def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    from bot.store.runs import RunStore
    from bot.store.sessions import REVOKED, Limits, WebSessions

    ttl, idle = session_limits()
    store = RunStore(args.database)
    sessions = WebSessions(store, Limits(timedelta(seconds=ttl), timedelta(seconds=idle)))
    try:
        if args.sessions_command == "revoke":
            user = args.user.strip()
            if not USER_ID.fullmatch(user):
                say(
                    err,
                    f"preprod: --user wants a Slack user id such as U0123ABC, not {user[:40]!r}",
                )
                return EXIT_USAGE
            ended = await sessions.end_user(user, REVOKED)
            say(out, f"ended {ended} session{'' if ended == 1 else 's'} of {user}")
            return EXIT_OK
        found = await sessions.listing(ended=args.all)
        if not found:
            say(out, "no sessions" if args.all else "no live sessions")
        for listed in found:
            say(out, line(listed))
        return EXIT_OK
    finally:
        store.engine.dispose()


def line(listed: Listed) -> str:
    """One session on one line (names are the person's own: printed as text, no markup)."""
    text = (
        f"{_plain(listed.user)}  {_plain(listed.name[:40])}  signed in {_when(listed.created_at)}"
        f"  last seen {_when(listed.last_seen)}  session {listed.key}"
    )
    if listed.ended_why:
        text += f"  ended: {listed.ended_why}"
        if listed.ended_at:
            text += f" at {_when(listed.ended_at)}"
    return text


def _plain(text: str) -> str:
    """Control characters (a terminal escape in a display name) shown as ``?``."""
    return "".join(char if char.isprintable() else "?" for char in text)


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")
