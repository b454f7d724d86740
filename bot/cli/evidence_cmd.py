"""``preprod evidence RUN -o pack.zip`` writes a run's evidence pack, signed with the key
``PREPROD_SIGNING_KEY_FILE`` names; ``preprod evidence verify pack.zip [--key public.pem]``
checks one (bot/reports/evidence.py): exit 1 when it was tampered with, 2 when it cannot
be read as a pack at all."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from bot.cli.common import config_arg, database_arg
from bot.settings import SIGNING_KEY_ENV


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "evidence",
        help="write a run's evidence pack (zip), or verify one",
        description="`preprod evidence RUN -o pack.zip` writes the run's HTML, JSON and JUnit "
        "reports, its audit trail (JSON lines), the config it used (secrets redacted) and "
        "manifest.json with the SHA-256 of every file and the audit chain head, and "
        f"manifest.sig, signed with the private key ${SIGNING_KEY_ENV} names. "
        "`preprod evidence verify pack.zip --key public.pem` checks a pack and its signature "
        "and names what differs (exit 1); a file that is not a readable pack exits 2.",
    )
    parser.add_argument("subject", metavar="RUN|verify", help="a run's number, or `verify`")
    parser.add_argument("pack", nargs="?", type=Path, metavar="PACK", help="the pack to verify")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="where to write the pack")
    parser.add_argument(
        "--key",
        type=Path,
        metavar="PUBLIC.pem",
        help="verify: the bot's public key; without it the signature is not checked",
    )
    config_arg(parser)
    database_arg(parser)


async def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    from bot.cli import evidence_run

    return await evidence_run.run(args, out, err)
