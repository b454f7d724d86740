"""What ``preprod audit`` does: verify the chain and the tables against it, publish a
checkpoint, export the trail (``audit_cmd`` holds the arguments)."""

from __future__ import annotations

import argparse
import sys
import time

from rich.console import Console

from bot.cli import audit_checkpoints
from bot.cli.common import EXIT_BLOCKED, EXIT_OK, say
from bot.reports.evidence import trail_line
from bot.store.agreement import check_all
from bot.store.audit_log import AuditLog
from bot.store.runs import RunStore


async def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    store = RunStore(args.database)
    log = AuditLog(store)
    if args.audit_command == "verify":
        code = await _verify_chain(args, log, out, err)
        if not await tables_agree(store, out, err):
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
    """The hash chain alone (and ``--head``), read in keyset pages (bounded memory); the
    pace is printed: a long trail takes minutes, and how many is worth knowing."""
    began = time.monotonic()
    result = await log.verify(args.head)
    pace = result.count / max(time.monotonic() - began, 1e-6)
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
            f"{result.head.hash} ({pace:,.0f} events/s)",
        )
    return EXIT_OK


async def tables_agree(store: RunStore, out: Console, err: Console) -> bool:
    """Replay every run's events against the check results and the sign-off, waiver,
    tick, decision, outcome and run tables; each difference on one line (stderr). True
    when none."""
    began = time.monotonic()
    found = await check_all(
        store, lambda d: say(err, f"tables DISAGREE with the audit trail: {d.line()}")
    )
    pace = found.runs / max(time.monotonic() - began, 1e-6)
    if found.ok:
        runs = f"{found.runs} run" + ("" if found.runs == 1 else "s")
        say(out, f"tables agree with the audit trail: {runs} ({pace:,.0f} runs/s)")
    else:
        say(err, f"{found.differences} differences between the tables and the audit trail")
    return found.ok
