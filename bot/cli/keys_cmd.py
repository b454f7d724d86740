"""``preprod keys generate`` (a new Ed25519 signing key pair) and ``preprod keys show``
(the public half of the key ``PREPROD_SIGNING_KEY_FILE`` names, and its fingerprint)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console

from bot.cli.common import EXIT_OK, EXIT_USAGE, say
from bot.settings import SIGNING_KEY_ENV

PRIVATE_NAME = "preprod-signing-key.pem"
PUBLIC_NAME = "preprod-signing-key.pub.pem"


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = commands.add_parser(
        "keys",
        help="the Ed25519 key that signs checkpoints: generate one, show its public half",
        description="preprod signs what it publishes (audit checkpoints) with the Ed25519 "
        f"private key in the file {SIGNING_KEY_ENV} names.",
    )
    actions = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    make = actions.add_parser(
        "generate",
        help="write a new key pair (the private key readable by its owner only)",
        description=f"Write {PRIVATE_NAME} (mode 0600) and {PUBLIC_NAME} in DIR; an "
        "existing file is never overwritten.",
    )
    make.add_argument(
        "--out", type=Path, default=Path("."), metavar="DIR", help="where to write (default .)"
    )
    actions.add_parser(
        "show",
        help=f"print the public key and fingerprint of the key in ${SIGNING_KEY_ENV}",
        description=f"Print the public key (PEM) and fingerprint of {SIGNING_KEY_ENV}'s key: "
        "give it to whoever verifies checkpoints (`preprod audit verify --key`).",
    )


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    from bot.audit.keys import KeyProblem, fingerprint  # cryptography: only here
    from bot.audit.keys import public_pem as pem_of
    from bot.signing import required_signing_key

    if args.keys_command == "generate":
        return _generate(args.out, out, err)
    try:
        key = required_signing_key()
    except KeyProblem as exc:
        say(err, f"preprod: {exc}")
        return EXIT_USAGE
    public = key.public_key()
    out.file.write(pem_of(public).decode("ascii"))
    say(out, fingerprint(public))
    return EXIT_OK


def _generate(folder: Path, out: Console, err: Console) -> int:
    private_path, public_path = folder / PRIVATE_NAME, folder / PUBLIC_NAME
    if existing := [p for p in (private_path, public_path) if p.exists()]:
        say(err, f"preprod: {existing[0]} exists; not overwritten (remove it or give --out)")
        return EXIT_USAGE
    from bot.audit.keys import fingerprint, generate, load_public

    pair = generate()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write_new(private_path, pair.private_pem, 0o600)
        _write_new(public_path, pair.public_pem, 0o644)
    except OSError as exc:
        say(err, f"preprod: cannot write the key in {folder}: {exc.strerror or exc}")
        return EXIT_USAGE
    say(out, f"wrote {private_path} (private, mode 0600) and {public_path}")
    say(out, f"fingerprint {fingerprint(load_public(pair.public_pem))}")
    say(out, f"sign with it: export {SIGNING_KEY_ENV}={private_path.resolve()}")
    return EXIT_OK


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` from the start (never readable by others, even
    briefly); fails if it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.chmod(path, mode)  # the umask may have taken bits away from the public file
