"""The bot's signing key: the Ed25519 private key in the PEM file that
``PREPROD_SIGNING_KEY_FILE`` names (bot/audit/keys.py signs with it). Read where it is
used (a checkpoint, ``keys show``, the well-known URL), so a rotated file is picked up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.audit.keys import SIGNING_KEY_ENV, KeyProblem, load_private

MAX_KEY_FILE = 64 * 1024


def signing_key(environ: Mapping[str, str] | None = None) -> Ed25519PrivateKey | None:
    """The key, or None when the variable is unset; KeyProblem naming the variable and
    the file when it cannot be read."""
    env = os.environ if environ is None else environ
    name = env.get(SIGNING_KEY_ENV, "").strip()
    if not name:
        return None
    path = Path(name)
    try:
        with path.open("rb") as file:
            pem = file.read(MAX_KEY_FILE + 1)
    except OSError as exc:
        raise KeyProblem(
            f"{SIGNING_KEY_ENV}={name}: cannot read the key file ({exc.strerror or exc})"
        ) from None
    if len(pem) > MAX_KEY_FILE:
        raise KeyProblem(f"{SIGNING_KEY_ENV}={name}: not a key file (over 64 KiB)")
    try:
        return load_private(pem)
    except KeyProblem as exc:
        raise KeyProblem(f"{SIGNING_KEY_ENV}={name}: {exc}") from None


def required_signing_key(environ: Mapping[str, str] | None = None) -> Ed25519PrivateKey:
    """The key; KeyProblem naming the variable when it is unset."""
    key = signing_key(environ)
    if key is None:
        raise KeyProblem(
            f"{SIGNING_KEY_ENV} is not set: set it to the private key file "
            "(`preprod keys generate` writes one)"
        )
    return key
