"""``preprod tokens create|list|revoke``: the deployment pipelines' API tokens
(bot/store/tokens.py). A token is printed once, at creation; only its hash is kept."""

from __future__ import annotations

import argparse
import getpass
from datetime import datetime
from typing import TYPE_CHECKING

from rich.console import Console

from bot.cli.common import EXIT_OK, EXIT_USAGE, database_arg, say

if TYPE_CHECKING:
    from bot.store.tokens import Listed


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tokens = commands.add_parser(
        "tokens",
        help="pipeline tokens for the HTTP API: create, list, revoke",
        description="Tokens a deployment pipeline sends to /api/v1 (Authorization: Bearer). "
        "Each may request and read runs of the services and environments its patterns match.",
    )
    actions = tokens.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create",
        help="create a token and print it (once)",
        description="Create a token and print it once: only its SHA-256 is stored.",
    )
    create.add_argument("name", help="the token's name; the audit trail says token:NAME")
    create.add_argument(
        "--service", required=True, help="services it may request (fnmatch: checkout-*, *)"
    )
    create.add_argument(
        "--environment", required=True, help="environments it may request (fnmatch: stag*, *)"
    )
    listing = actions.add_parser("list", help="show the tokens (never their secrets)")
    revoke = actions.add_parser("revoke", help="revoke a token: refused from now on")
    revoke.add_argument("name", help="the name given at creation")
    for parser in (create, listing, revoke):
        database_arg(parser)


async def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    from bot.store.runs import RunStore
    from bot.store.tokens import TokenProblem, Tokens

    store = RunStore(args.database)
    tokens = Tokens(store)
    by = f"cli:{_who()}"
    try:
        if args.tokens_command == "create":
            token = await tokens.create(args.name, args.service, args.environment, by)
            say(err, f"token {args.name} created; it is shown once, keep it in a secret store:")
            say(out, token)
        elif args.tokens_command == "revoke":
            await tokens.revoke(args.name, by)
            say(out, f"token {args.name} revoked")
        else:
            found = await tokens.listing()
            if not found:
                say(out, "no tokens")
            for listed in found:
                say(out, line(listed))
        return EXIT_OK
    except TokenProblem as exc:
        say(err, f"preprod: {exc}")
        return EXIT_USAGE
    finally:
        store.engine.dispose()


def line(listed: Listed) -> str:
    text = (
        f"{listed.name}  service {listed.service}  environment {listed.environment}"
        f"  created {_when(listed.created_at)} by {listed.created_by}"
        f"  last used {_when(listed.last_used_at) if listed.last_used_at else 'never'}"
    )
    if listed.revoked_at:
        text += f"  revoked {_when(listed.revoked_at)}"
    return text


def _who() -> str:
    try:
        return getpass.getuser()[:40]
    except Exception:
        return "unknown"


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")
