"""``pii_scan`` against the real example target (HTTPS on 127.0.0.1), and its detectors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from checks.base import Status
from checks.context import CheckContext
from checks.pii import PiiScanCheck, PiiScanOptions
from checks.pii.check import _inside
from checks.pii.detectors import KINDS, scan_text
from examples.target import compliance
from tests.test_check_http import UNREACHABLE, make_ctx

ALL = frozenset(KINDS)
PLAN: dict[str, Any] = {
    "paths": ["/api/customers"],
    "follow_links": 1,
    "allow": [{"value": compliance.PRIVACY_CONTACT, "reason": "public DPO contact"}],
}


async def scan(ctx: CheckContext, **options: Any) -> Any:
    return await PiiScanCheck(PiiScanOptions.model_validate(options)).run(ctx)


async def test_healthy_target_passes_with_its_fixture_allowed(healthy_target: Any) -> None:
    result = await scan(make_ctx(healthy_target), **PLAN)
    assert result.status is Status.PASSED, result.evidence
    assert result.summary == "no personal data or secrets in 2 pages (1 allowed fixture)"
    assert "GET /api/customers/1 -> 200" in result.evidence  # reached by following a link

    without_allow = await scan(make_ctx(healthy_target), paths=["/api/customers/1"])
    assert without_allow.status is Status.FAILED
    assert without_allow.summary.startswith("personal data or secrets exposed: 1 email")
    assert compliance.PRIVACY_CONTACT not in without_allow.summary + without_allow.evidence


async def test_pii_leak_fails_naming_each_kind_masked(target_factory: Any) -> None:
    target = target_factory("pii-leak")
    result = await scan(make_ctx(target), **PLAN)
    assert result.status is Status.FAILED
    assert result.summary.startswith("personal data or secrets exposed: ")
    for kind in ("email", "phone", "card", "iban", "cloud_key", "jwt"):
        assert kind in result.summary, kind
    assert "(first: GET /api/customers/1 header x-debug-token, eyJ...(118 chars))" in (
        result.summary
    )
    assert "GET /api/customers/1 $.email: email a***@***.org" in result.evidence
    assert "$.payment.card: card ending 6467 (16 digits)" in result.evidence
    assert result.metrics["secrets"] == 2
    for value in compliance.PLANTED:
        assert value not in result.summary + result.evidence, value
        assert value.replace(" ", "") not in result.evidence.replace(" ", ""), value


def test_checksums_keep_lookalikes_out() -> None:
    assert [h.kind for h in scan_text("card 4539 1488 0343 6467", ALL)] == ["card"]
    assert scan_text("order 4539 1488 0343 6468", ALL) == []  # Luhn fails
    assert [h.kind for h in scan_text("DE89370400440532013000", ALL)] == ["iban"]
    assert scan_text("DE89370400440532013001", ALL) == []  # IBAN checksum fails
    assert scan_text("build 20261127081241 at +0100", ALL) == []
    local = scan_text("030 9018 2077", ALL, key="mobile")
    assert [h.kind for h in local] == ["phone"]
    assert scan_text("030 9018 2077", ALL, key="sku") == []
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
    [hit] = scan_text(key, ALL)
    assert hit.kind == "private_key" and "b3Blbn" not in hit.masked


def test_only_links_inside_the_base_url_are_followed() -> None:
    base = httpx.URL("https://shop.example:8443/api")
    assert _inside(base, base.join("/api/customers/1?x=1")) == "/customers/1?x=1"
    assert _inside(base, base.join("/admin")) is None
    assert _inside(base, httpx.URL("https://evil.example:8443/api/x")) is None
    assert _inside(base, httpx.URL("http://shop.example:8443/api/x")) is None


async def test_unreachable_target_is_an_error(healthy_target: Any) -> None:
    result = await scan(make_ctx(healthy_target, base_url=UNREACHABLE), paths=["/"])
    assert result.status is Status.ERROR
    assert "cannot reach" in result.summary


def test_options_are_checked() -> None:
    with pytest.raises(ValidationError, match="must start with /"):
        PiiScanOptions.model_validate({"paths": ["api"]})
    with pytest.raises(ValidationError, match="either value or pattern"):
        PiiScanOptions.model_validate({"paths": ["/"], "allow": [{"reason": "x"}]})
    with pytest.raises(ValidationError, match="kinds"):
        PiiScanOptions.model_validate({"paths": ["/"], "kinds": ["ssn"]})
