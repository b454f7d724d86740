"""The TLS trust store is loaded once per CA bundle, not once per check: loading it took
10 to 130 ms and every check paid it (bench/engine.py, issue 26 point 4)."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import certifi
import pytest

from checks.context import Target, verifying_context


def test_one_context_per_bundle_and_a_new_one_when_the_file_changes(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes())
    first = Target("staging", "https://127.0.0.1:1", ca_bundle=bundle).ssl_context()
    assert first is verifying_context(bundle)  # shared by every client of the run
    assert first.verify_mode is ssl.CERT_REQUIRED and first.check_hostname
    assert verifying_context(None) is verifying_context(None)
    assert verifying_context(None) is not first
    bundle.write_bytes(bundle.read_bytes() + b"\n")  # a rotated bundle
    os.utime(bundle, ns=(1, 1))
    assert verifying_context(bundle) is not first


def test_a_missing_bundle_still_says_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(OSError) as raised:  # ssl's own error, as before the cache
        verifying_context(tmp_path / "nope.pem")
    assert raised.value.errno is not None


def test_ssl_cert_file_set_later_is_honoured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The system store follows SSL_CERT_FILE: a context cached before it was set must not
    be handed out after (the README recipe trusts a private CA that way)."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    before = verifying_context(None)
    bundle = tmp_path / "private-ca.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes())
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    after = verifying_context(None)
    assert after is not before
    assert after is verifying_context(None)
