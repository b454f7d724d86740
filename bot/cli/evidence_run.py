"""What ``preprod evidence`` does: write a run's signed pack, or verify one
(``evidence_cmd`` holds the arguments and loads this module when the command runs)."""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from rich.console import Console

from bot.audit import keys
from bot.cli.common import EXIT_BLOCKED, EXIT_OK, EXIT_USAGE, say
from bot.cli.past_runs import stored_report
from bot.reports import evidence
from bot.reports.pack_zip import one_line
from bot.signing import MAX_KEY_FILE, signing_key
from bot.store.audit_log import AuditLog
from bot.store.models import utcnow
from bot.store.runs import RunStore

MAX_PACK_BYTES = 512 * 1024 * 1024


async def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    if args.subject != "verify" and args.key is not None:
        say(
            err,
            "preprod: --key is for `evidence verify`; the bot signs with $" + keys.SIGNING_KEY_ENV,
        )
        return EXIT_USAGE
    if args.subject == "verify":
        if args.pack is None:
            say(err, "preprod: evidence verify needs the pack: `preprod evidence verify pack.zip`")
            return EXIT_USAGE
        return check(args.pack, out, err, args.key)
    try:
        run_id = int(args.subject)
    except ValueError:
        say(err, f"preprod: expected a run number or `verify`, got {args.subject!r}")
        return EXIT_USAGE
    if args.output is None:
        say(err, "preprod: say where to write the pack: -o pack.zip")
        return EXIT_USAGE
    signing = _signing_key(err)
    if isinstance(signing, int):
        return signing
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
    if signing is not None:
        files = evidence.signed(files, signing)
    data = evidence.zipped(files)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(data)
    if config.text is None:
        say(err, f"preprod: note: run {run_id} predates kept configs; config.yml left out")
    if signing is None:
        say(err, f"preprod: note: the pack is unsigned: {keys.SIGNING_KEY_ENV} is not set")
    manifest_sha = evidence.sha256(files[evidence.MANIFEST])
    by = f"signed by {keys.fingerprint(signing.public_key())}" if signing else "unsigned"
    say(out, f"wrote {args.output}: {len(files)} files; manifest SHA-256 {manifest_sha}; {by}")
    return EXIT_OK


def _signing_key(err: Console) -> Ed25519PrivateKey | int | None:
    """The private key ``PREPROD_SIGNING_KEY_FILE`` names, None when it is not set, or
    EXIT_USAGE (said on one line) when it names a file that is not such a key: a pack
    is not written unsigned by mistake."""
    try:
        return signing_key()
    except keys.KeyProblem as exc:
        say(err, f"preprod: {one_line(str(exc))}")
        return EXIT_USAGE


def _read_key(path: Path) -> bytes:
    with path.open("rb") as file:
        data = file.read(MAX_KEY_FILE + 1)
    if len(data) > MAX_KEY_FILE:
        raise keys.KeyProblem(f"larger than {MAX_KEY_FILE} bytes; not a key file")
    return data


def check(path: Path, out: Console, err: Console, key_path: Path | None = None) -> int:
    """Exit 0 with one line when the pack verifies, 1 naming what differs (a bad or
    missing signature with ``--key``, a file or event changed), 2 with one line when the
    file is not a readable pack or the key is not a public key."""
    key: Ed25519PublicKey | None = None
    if key_path is not None:
        try:
            key = keys.load_public(_read_key(key_path))
        except (OSError, keys.KeyProblem) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            say(err, f"preprod: --key {key_path}: {one_line(str(reason))}")
            return EXIT_USAGE
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a directory, a FIFO that would block
            say(err, f"preprod: {path} is not a regular file")
            return EXIT_USAGE
        with path.open("rb") as pack:
            info = os.fstat(pack.fileno())
            if info.st_size > MAX_PACK_BYTES:
                say(err, f"preprod: {path} is {info.st_size} bytes, larger than a pack may be")
                return EXIT_USAGE
            checked = evidence.verify(pack, key)
    except OSError as exc:
        say(err, f"preprod: cannot read {path}: {exc.strerror or exc}")
        return EXIT_USAGE
    if checked.malformed is not None:
        why = one_line(checked.malformed, 400)
        say(err, f"preprod: {path} is not a readable evidence pack: {why}")
        return EXIT_USAGE
    if checked.problems:
        problems = [one_line(problem, 400) for problem in checked.problems]
        if len(problems) == 1:
            say(err, f"{path}: evidence pack does NOT verify: {problems[0]}")
        else:
            say(err, f"{path}: evidence pack does NOT verify:")
            for problem in problems:
                say(err, f"  {problem}")
        return EXIT_BLOCKED
    manifest = checked.manifest
    head = manifest["audit"]["chain_head"]
    chain = f"audit chain head #{head['seq']} {one_line(head['hash'])}" if head else "no chain head"
    say(
        out,
        f"{path}: evidence pack verifies: run {manifest['run']}, "
        f"{len(manifest['files'])} files, {chain}; {_signature_note(checked)}",
    )
    return EXIT_OK


def _signature_note(checked: evidence.Checked) -> str:
    if checked.signature_checked:
        return f"signature by {checked.signed_by} verified"
    if checked.signed_by is None:
        return "unsigned (no manifest.sig): signature not checked; nothing shows who wrote it"
    return (
        f"signature NOT checked (signed by {checked.signed_by}): give --key PUBLIC.pem "
        "to check that the bot wrote it"
    )
