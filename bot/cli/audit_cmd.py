"""``preprod audit verify`` (walk the hash chain, name the first tampered event; with
``--checkpoints`` / ``--from-slack``, compare it with the heads published outside the
database), ``preprod audit checkpoint`` (publish the head now) and ``preprod audit
export`` (the trail, or one run's, as JSON lines)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from bot.cli import audit_checkpoints
from bot.cli.common import EXIT_BLOCKED, EXIT_OK, database_arg, run_number, say
from bot.reports.evidence import trail_line
from bot.store.agreement import check_all
from bot.store.audit import AuditLog
from bot.store.runs import RunStore


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
    audit_checkpoints.add_verify_args(verify)
    database_arg(verify)
    audit_checkpoints.add_checkpoint_parser(actions)
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


async def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    log = AuditLog(RunStore(args.database))
    if args.audit_command == "verify":
        code = await _verify_chain(args, log, out, err)
        if not await tables_agree(log.store, out, err):
            code = EXIT_BLOCKED
        if audit_checkpoints.wanted(args):
            checked = await audit_checkpoints.verify(args, log, out, err)
            code = max(code, checked)
        return code
    if args.audit_command == "checkpoint":
        return await audit_checkpoints.publish(args, out, err)
    if args.output is None:
        await log.export(lambda event: sys.stdout.write(trail_line(event)), args.run)
        return EXIT_OK
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("w", encoding="utf-8") as out_file:
        count = await log.export(lambda event: out_file.write(trail_line(event)), args.run)
    say(err, f"wrote {args.output} ({count} events)")
    return EXIT_OK


async def _verify_chain(args: argparse.Namespace, log: AuditLog, out: Console, err: Console) -> int:
    """The hash chain alone (and ``--head``)."""
    result = await log.verify(args.head)
    if result.problem is not None:
        say(err, f"audit trail BROKEN ({result.problem.kind.value}): {result.problem.message}")
        if result.head is not None:
            say(err, f"intact up to {result.head.describe()}", style="dim")
        return EXIT_BLOCKED
    if result.head is None:
        say(out, "audit trail empty: nothing recorded yet")
    else:
        say(
            out,
            f"audit trail intact: {result.count} events; head #{result.head.seq} "
            f"{result.head.hash}",
        )
    return EXIT_OK


async def tables_agree(store: RunStore, out: Console, err: Console) -> bool:
    """Replay every run's events against the check results and the sign-off, waiver,
    tick, decision, outcome and run tables; each difference on one line (stderr). True
    when none."""
    found = await check_all(
        store, lambda d: say(err, f"tables DISAGREE with the audit trail: {d.line()}")
    )
    if found.ok:
        runs = f"{found.runs} run" + ("" if found.runs == 1 else "s")
        say(out, f"tables agree with the audit trail: {runs}")
    else:
        say(err, f"{found.differences} differences between the tables and the audit trail")
    return found.ok
