"""Ed25519 keys (bot/audit/keys.py): what one key signs, only its public key verifies."""

from __future__ import annotations

import pytest

from bot.audit import keys


def test_a_signature_verifies_with_its_key_and_no_other() -> None:
    pair, other = keys.generate(), keys.generate()
    private = keys.load_private(pair.private_pem)
    public = keys.load_public(pair.public_pem)
    signature = keys.sign(private, b"manifest")
    assert keys.verify(public, b"manifest", signature)
    assert not keys.verify(public, b"manifest!", signature)
    assert not keys.verify(keys.load_public(other.public_pem), b"manifest", signature)
    assert keys.fingerprint(public).startswith("ed25519:")
    assert keys.fingerprint(public) != keys.fingerprint(keys.load_public(other.public_pem))


@pytest.mark.parametrize("signature", ["", "not base64!", "AAAA", "é"])
def test_a_malformed_signature_is_false_not_an_exception(signature: str) -> None:
    pair = keys.generate()
    assert not keys.verify(keys.load_public(pair.public_pem), b"x", signature)


def test_unreadable_keys_are_named_problems() -> None:
    pair = keys.generate()
    with pytest.raises(keys.KeyProblem, match="private key"):
        keys.load_private(pair.public_pem)
    with pytest.raises(keys.KeyProblem, match="public key"):
        keys.load_public(b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
