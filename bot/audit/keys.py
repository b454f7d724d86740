"""Ed25519 keys that sign what preprod publishes (evidence manifests, chain checkpoints),
so that a copy rewritten by someone with the database but without the private key never
verifies. Pure: keys and signatures in, bytes and verdicts out; reading files is the
caller's."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bot.settings import (
    SIGNING_KEY_ENV as SIGNING_KEY_ENV,  # named here too: its users read it with the key
)

ALGORITHM = "ed25519"


class KeyProblem(ValueError):
    """A key that cannot be read; the message says why, never the key."""


@dataclass(frozen=True)
class KeyPair:
    private_pem: bytes
    public_pem: bytes


def generate() -> KeyPair:
    """A new key pair as PEM (PKCS#8 private key, unencrypted: protect the file)."""
    private = Ed25519PrivateKey.generate()
    return KeyPair(
        private_pem=private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        public_pem=public_pem(private.public_key()),
    )


def load_private(pem: bytes) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyProblem(f"not a PEM private key without a password ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyProblem(f"an Ed25519 key is needed, not {type(key).__name__}")
    return key


def load_public(pem: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyProblem(f"not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyProblem(f"an Ed25519 key is needed, not {type(key).__name__}")
    return key


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def fingerprint(key: Ed25519PublicKey) -> str:
    """A short name for a public key: ``ed25519:`` and the first 16 hex digits of the
    SHA-256 of its raw 32 bytes (shown beside every signature, so a reader can tell
    which key to ask for)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"{ALGORITHM}:{hashlib.sha256(raw).hexdigest()[:16]}"


def sign(key: Ed25519PrivateKey, data: bytes) -> str:
    """The signature of ``data``, base64 (standard alphabet, padded)."""
    return base64.b64encode(key.sign(data)).decode("ascii")


def verify(key: Ed25519PublicKey, data: bytes, signature: str) -> bool:
    """True when ``signature`` (base64) is ``key``'s signature of ``data``; a malformed
    signature is False, never an exception."""
    try:
        raw = base64.b64decode(signature.encode("ascii"), validate=True)
        key.verify(raw, data)
    except (InvalidSignature, binascii.Error, UnicodeEncodeError, ValueError):
        return False
    return True
