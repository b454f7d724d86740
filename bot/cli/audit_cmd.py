"""``preprod audit verify`` (walk the hash chain, name the first tampered event; with
``--checkpoints`` / ``--from-slack``, compare it with the heads published outside the
database), ``preprod audit checkpoint`` (publish the head now) and ``preprod audit
export`` (the trail, or one run's, as JSON lines)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from bot.cli.common import config_arg, database_arg, run_number


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = commands.add_parser(
        "audit",
        help="the audit trail: verify its hash chain, export it",
        description="Every action on a run is an audit event carrying the hash of the one "
        "before it. `verify` walks the chain; `export` writes it as JSON lines.",
    )
    actions = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify",
        help="check the hash chain; name the first changed, deleted, inserted or reordered event",
        description="Walk the audit chain from the first event, then replay every run's "
        "events against the check results and the sign-off, waiver, tick, decision and "
        "outcome tables. Exit 0 when the chain is intact (it prints the head to keep "
        "elsewhere) and the tables agree; 1 naming the first event that was changed, "
        "deleted, inserted or reordered, and each difference between a table and the trail "
        "(run, table, field, what each says) on one line. With --checkpoints or "
        "--from-slack, also compare the chain with the heads published outside the "
        "database: exit 1 naming a cut tail, a rewritten event or (with --key) a forged "
        "checkpoint.",
    )
    verify.add_argument(
        "--head",
        metavar="HASH",
        help="a head recorded earlier (printed by verify, kept in evidence packs): the "
        "chain must still contain it, which catches a deleted tail or a rewritten chain",
    )
    add_verify_args(verify)
    database_arg(verify)
    add_checkpoint_parser(actions)
    export = actions.add_parser(
        "export",
        help="write the audit trail as JSON lines",
        description="Write the audit events (of one run with --run) as JSON lines, each "
        "with its hash and the previous event's hash.",
    )
    export.add_argument("--run", type=run_number, metavar="N", help="only the events of run N")
    export.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write to FILE (default: stdout)"
    )
    database_arg(export)


def add_verify_args(verify: argparse.ArgumentParser) -> None:
    verify.add_argument(
        "--checkpoints",
        type=Path,
        action="append",
        metavar="FILE",
        help="check the trail against every checkpoint line in FILE (as the file sink "
        "writes them, or copied from Slack); repeatable",
    )
    verify.add_argument(
        "--from-slack",
        action="store_true",
        help="check the trail against the checkpoints in the audit channel (audit.channel "
        "of the config; needs SLACK_BOT_TOKEN)",
    )
    verify.add_argument(
        "--key",
        type=Path,
        metavar="PEM",
        help="the bot's public key: every checkpoint must carry a valid signature by it",
    )
    config_arg(verify)


def add_checkpoint_parser(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    checkpoint = actions.add_parser(
        "checkpoint",
        help="publish the trail's head now (a signed checkpoint line)",
        description="Make a checkpoint of the trail's head (signed when "
        "PREPROD_SIGNING_KEY_FILE names a key). With --print it is printed, with --file "
        "appended to FILE; with neither, published where the config's `audit:` section "
        "says (channel, file, url).",
    )
    checkpoint.add_argument("--file", type=Path, metavar="FILE", help="append the line to FILE")
    checkpoint.add_argument("--print", action="store_true", help="print the line")
    config_arg(checkpoint)
    database_arg(checkpoint)


async def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    from bot.cli import audit_run  # the store and the trail load only when a command runs

    return await audit_run.run(args, out, err)
