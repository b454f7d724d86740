"""Run-time TLS material: a throw-away CA (``ca.pem``) and a server context for its leaf.

Only the CA certificate and the leaf certificate are written to the state directory;
private keys stay in memory (trustme loads them into the context through temp files).
"""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trustme

HOSTS = ("127.0.0.1", "localhost")
WRONG_HOST = "wrong.example"
LEAF_DAYS = 90


@dataclass(frozen=True)
class TlsMaterial:
    """What the HTTPS listener needs, and where clients find the CA to trust."""

    context: ssl.SSLContext
    ca_bundle: Path
    not_after: datetime


def leaf_validity(defects: Collection[str], now: datetime) -> tuple[datetime, datetime]:
    """The leaf's notBefore/notAfter: 90 days by default, or as a certificate defect says."""
    if "expired-cert" in defects:
        return now - timedelta(days=30), now - timedelta(days=1)
    if "expiring-cert" in defects:
        # An hour of slack so "3 more days" still reads 3 days when a check runs.
        return now - timedelta(days=1), now + timedelta(days=3, hours=1)
    return now - timedelta(days=1), now + timedelta(days=LEAF_DAYS)


def server_context(leaf: trustme.LeafCert, *, allow_legacy: bool) -> ssl.SSLContext:
    """A server context serving ``leaf``: TLS 1.2+ only, or 1.0+ with ``allow_legacy``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(context)
    context.set_alpn_protocols(["http/1.1"])
    if allow_legacy:
        # OpenSSL 3 needs security level 0 for TLS 1.0/1.1 (SHA-1 signatures).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    else:
        context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def make_tls(state_dir: Path, defects: Collection[str]) -> TlsMaterial:
    """Create a CA and a leaf (shaped by the certificate defects) under ``state_dir``."""
    state_dir.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="preprod example target")
    not_before, not_after = leaf_validity(defects, datetime.now(UTC))
    identities = (WRONG_HOST,) if "wrong-host" in defects else HOSTS
    leaf = ca.issue_cert(
        *identities,
        common_name=identities[0],
        not_before=not_before,
        not_after=not_after,
    )
    ca_bundle = (state_dir / "ca.pem").resolve()
    ca.cert_pem.write_to_path(str(ca_bundle))
    leaf.cert_chain_pems[0].write_to_path(str(state_dir / "server.pem"))
    context = server_context(leaf, allow_legacy="tls10" in defects)
    return TlsMaterial(context=context, ca_bundle=ca_bundle, not_after=not_after)
