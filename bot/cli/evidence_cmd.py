"""``preprod evidence RUN -o pack.zip`` writes a run's evidence pack;
``preprod evidence verify pack.zip`` checks one (bot/reports/evidence.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from bot.cli.common import EXIT_BLOCKED, EXIT_OK, EXIT_USAGE, config_arg, database_arg, say
from bot.cli.history import stored_report
from bot.reports import evidence
from bot.store.audit import AuditLog
from bot.store.models import utcnow
from bot.store.runs import RunStore

MAX_PACK_BYTES = 512 * 1024 * 1024


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "evidence",
        help="write a run's evidence pack (zip), or verify one",
        description="`preprod evidence RUN -o pack.zip` writes the run's HTML, JSON and JUnit "
        "reports, its audit trail (JSON lines), the config it used (secrets redacted) and "
        "manifest.json with the SHA-256 of every file and the audit chain head. "
        "`preprod evidence verify pack.zip` checks a pack and names what differs (exit 1).",
    )
    parser.add_argument("subject", metavar="RUN|verify", help="a run's number, or `verify`")
    parser.add_argument("pack", nargs="?", type=Path, metavar="PACK", help="the pack to verify")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="where to write the pack")
    config_arg(parser)
    database_arg(parser)


async def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    if args.subject == "verify":
        if args.pack is None:
            say(err, "preprod: evidence verify needs the pack: `preprod evidence verify pack.zip`")
            return EXIT_USAGE
        return check(args.pack, out, err)
    try:
        run_id = int(args.subject)
    except ValueError:
        say(err, f"preprod: expected a run number or `verify`, got {args.subject!r}")
        return EXIT_USAGE
    if args.output is None:
        say(err, "preprod: say where to write the pack: -o pack.zip")
        return EXIT_USAGE
    store = RunStore(args.database)
    args.run_id = run_id
    report = await stored_report(args, store, err)
    log = AuditLog(store)
    run = await store.get_run(run_id)
    assert run is not None
    snapshot = await log.config(run.config_digest) if run.config_digest else None
    config = evidence.ConfigUsed(
        path=run.config_path,
        digest=run.config_digest,
        text=snapshot.text if snapshot is not None else None,
    )
    files = evidence.build(report, await log.events(run_id), await log.head(), config, utcnow())
    data = evidence.zipped(files)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(data)
    if config.text is None:
        say(err, f"preprod: note: run {run_id} predates kept configs; config.yml left out")
    manifest_sha = evidence.sha256(files[evidence.MANIFEST])
    say(out, f"wrote {args.output}: {len(files)} files; manifest SHA-256 {manifest_sha}")
    return EXIT_OK


def check(path: Path, out: Console, err: Console) -> int:
    try:
        size = path.stat().st_size
        if size > MAX_PACK_BYTES:
            say(err, f"preprod: {path} is {size} bytes, larger than a pack may be")
            return EXIT_BLOCKED
        data = path.read_bytes()
    except OSError as exc:
        say(err, f"preprod: cannot read {path}: {exc.strerror or exc}")
        return EXIT_USAGE
    checked = evidence.verify(data)
    if not checked.ok:
        say(err, f"{path}: evidence pack does NOT verify:")
        for problem in checked.problems:
            say(err, f"  {problem}")
        return EXIT_BLOCKED
    manifest = checked.manifest
    head = manifest["audit"].get("chain_head") or {}
    say(
        out,
        f"{path}: evidence pack verifies: run {manifest.get('run')}, "
        f"{len(manifest['files'])} files, audit chain head #{head.get('seq')} "
        f"{head.get('hash')}",
    )
    return EXIT_OK
