"""The ``tls`` check against real example targets, one per certificate/protocol defect."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from checks.base import CheckResult, Status
from checks.context import CheckContext, RunInfo, Target
from checks.tls import TlsCheck, TlsOptions
from tests.support.target import RunningTarget

Factory = Callable[..., RunningTarget]


def make_ctx(
    target: RunningTarget, *, base_url: str | None = None, trust: bool = True
) -> CheckContext:
    return CheckContext(
        target=Target(
            name="staging",
            base_url=base_url or target.https_url,
            ca_bundle=target.ca_bundle if trust else None,
        ),
        run=RunInfo(
            run_id=1,
            service="checkout-api",
            version="2.14.0",
            environment="staging",
            plan="standard",
        ),
        check_id="tls",
    )


async def check(ctx: CheckContext, **options: Any) -> CheckResult:
    return await TlsCheck(TlsOptions(**options)).run(ctx)


async def test_healthy_target_passes(healthy_target: RunningTarget) -> None:
    result = await check(make_ctx(healthy_target))
    assert result.status is Status.PASSED, result.evidence
    assert result.summary.startswith("TLSv1.3, certificate valid 8")
    assert result.summary.endswith("more days, TLS 1.0/1.1 refused")
    assert result.metrics["days_left"] >= 88
    assert result.metrics["protocol_probes"] == 2
    assert "probe TLSv1.0: refused" in result.evidence
    assert "SANs: localhost, 127.0.0.1" in result.evidence


async def test_healthy_target_with_tls13_minimum_fails_on_tls12(
    healthy_target: RunningTarget,
) -> None:
    result = await check(make_ctx(healthy_target), min_version="TLSv1.3")
    assert result.status is Status.FAILED
    assert result.summary == "accepts TLSv1.2 (minimum TLSv1.3)"


async def test_expiring_cert_fails(target_factory: Factory) -> None:
    result = await check(make_ctx(target_factory("expiring-cert")))
    assert result.status is Status.FAILED
    assert result.summary == "certificate expires in 3 days (< 14)"
    assert result.metrics["days_left"] == 3
    relaxed = await check(make_ctx(target_factory("expiring-cert")), min_days_valid=2)
    assert relaxed.status is Status.PASSED


async def test_expired_cert_fails_and_still_reports_dates(target_factory: Factory) -> None:
    result = await check(make_ctx(target_factory("expired-cert")))
    assert result.status is Status.FAILED
    assert result.summary.startswith("certificate expired on ")
    assert result.summary.endswith("(1 day ago)")
    assert result.metrics["days_left"] == -1
    assert (
        "notAfter: " in result.evidence
        and "verification: certificate has expired" in result.evidence
    )


async def test_wrong_host_fails(target_factory: Factory) -> None:
    target = target_factory("wrong-host")
    result = await check(make_ctx(target))
    assert result.status is Status.FAILED
    assert result.summary == "certificate is for wrong.example, not 127.0.0.1"
    unchecked = await check(make_ctx(target), check_hostname=False)
    assert unchecked.status is Status.PASSED, unchecked.summary


async def test_tls10_fails(target_factory: Factory) -> None:
    result = await check(make_ctx(target_factory("tls10")))
    assert result.status is Status.FAILED
    assert result.summary == "accepts TLSv1.0 (minimum TLSv1.2); +1 more problem"
    assert "accepts TLSv1.1 (minimum TLSv1.2)" in result.evidence
    assert result.metrics["protocols_accepted_below_min"] == 2


async def test_untrusted_without_ca_bundle(healthy_target: RunningTarget) -> None:
    result = await check(make_ctx(healthy_target, trust=False))
    assert result.status is Status.FAILED
    assert result.summary.startswith("certificate is not trusted (")
    assert "subject: " in result.evidence  # the certificate is still described
    trusted = await check(make_ctx(healthy_target, trust=False), ca_bundle=healthy_target.ca_bundle)
    assert trusted.status is Status.PASSED


async def test_plain_http_fails(healthy_target: RunningTarget) -> None:
    result = await check(make_ctx(healthy_target, base_url=healthy_target.http_url))
    assert result.status is Status.FAILED
    assert result.summary.startswith("served over plain HTTP")


async def test_closed_port_is_an_error(healthy_target: RunningTarget) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await check(make_ctx(healthy_target, base_url=f"https://127.0.0.1:{port}"))
    assert result.status is Status.ERROR
    assert result.summary == f"cannot connect to 127.0.0.1:{port}: Connection refused"


async def test_plain_http_port_behind_https_url_fails(healthy_target: RunningTarget) -> None:
    port = healthy_target.http_url.rsplit(":", 1)[1]
    result = await check(make_ctx(healthy_target, base_url=f"https://127.0.0.1:{port}"))
    assert result.status is Status.FAILED
    assert result.summary.startswith(f"TLS handshake with 127.0.0.1:{port} failed")


async def test_missing_ca_bundle_is_an_error(healthy_target: RunningTarget, tmp_path: Path) -> None:
    result = await check(make_ctx(healthy_target), ca_bundle=tmp_path / "nope.pem")
    assert result.status is Status.ERROR
    assert result.summary.startswith("cannot load CA bundle ")


def test_options_are_strict(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        TlsOptions.model_validate({"min_version": "TLSv1.1"})
    with pytest.raises(ValidationError):
        TlsOptions.model_validate({"min_days": 3})
    assert TlsOptions.model_validate({"ca_bundle": str(tmp_path)}).ca_bundle == tmp_path
