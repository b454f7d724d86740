"""``authz`` and ``audit_logging`` against the real example target over HTTPS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from checks.audit_logging import AuditLoggingCheck, AuditLoggingOptions
from checks.authz import AuthzCheck, AuthzOptions
from checks.base import Status
from checks.context import CheckContext, ProgressEvent
from examples.target.compliance import AUDIT_LOG, LEAKED_EMAIL, USER_TOKEN
from tests.test_check_http import make_ctx


def matrix(target: Any) -> dict[str, Any]:
    return {
        "identities": {
            "anonymous": {},
            "user": {"Authorization": f"Bearer {USER_TOKEN}"},
            "admin": {"Authorization": f"Bearer {target.token}"},
        },
        "rules": [
            {"path": "/admin/users", "allow": ["admin"], "deny": ["user", "anonymous"]},
            {"path": "/audit/events", "allow": ["admin"], "deny": ["user", "anonymous"]},
            {
                "path": "/api/orders",
                "methods": ["POST"],
                "json": {"sku": "X1"},
                "allow": ["user", "admin"],
                "deny": ["anonymous"],
            },
        ],
    }


async def authz(ctx: CheckContext, **options: Any) -> Any:
    return await AuthzCheck(AuthzOptions.model_validate(options)).run(ctx)


async def audit(ctx: CheckContext, **options: Any) -> Any:
    return await AuditLoggingCheck(AuditLoggingOptions.model_validate(options)).run(ctx)


async def test_authz_matrix_holds_on_the_healthy_target(healthy_target: Any) -> None:
    result = await authz(make_ctx(healthy_target), **matrix(healthy_target))
    assert result.status is Status.PASSED, result.evidence
    assert result.summary == "9 requests by 3 identities as expected (3 rules)"
    assert "user             GET /admin/users" in result.evidence
    assert USER_TOKEN not in result.evidence and healthy_target.token not in result.evidence


async def test_a_normal_user_reaching_an_admin_route_fails(target_factory: Any) -> None:
    target = target_factory("user-admin")
    result = await authz(make_ctx(target), **matrix(target))
    assert result.status is Status.FAILED
    assert result.summary == "user reached GET /admin/users (200; expected denied)"
    assert result.metrics["escalations"] == 1
    assert USER_TOKEN not in result.summary + result.evidence


async def test_an_allowed_identity_that_is_refused_fails(healthy_target: Any) -> None:
    options = matrix(healthy_target)
    options["rules"] = [{"path": "/admin/users", "allow": ["user"]}]
    result = await authz(make_ctx(healthy_target), **options)
    assert result.status is Status.FAILED
    assert result.summary == "user got 403 on GET /admin/users (expected allowed: a 2xx)"


def test_authz_options_name_their_problems() -> None:
    with pytest.raises(ValidationError, match="names identity 'root'"):
        AuthzOptions.model_validate(
            {"identities": {"a": {}}, "rules": [{"path": "/x", "allow": ["root"]}]}
        )
    with pytest.raises(ValidationError, match="both allowed and denied"):
        AuthzOptions.model_validate(
            {"identities": {"a": {}}, "rules": [{"path": "/x", "allow": ["a"], "deny": ["a"]}]}
        )


ACTION = {"method": "POST", "path": "/api/orders", "json": {"sku": "X1", "note": "{marker}"}}


async def test_audit_record_found_through_the_endpoint(healthy_target: Any) -> None:
    result = await audit(
        make_ctx(healthy_target),
        action=ACTION,
        source={"endpoint": "/audit/events?request_id={marker}"},
        expect={"action": "order.create", "actor": "u-admin"},
    )
    assert result.status is Status.PASSED, result.evidence
    assert result.summary.startswith("audit record for POST /api/orders appeared after ")
    assert result.summary.endswith("with actor, action, time")


async def test_audit_record_found_in_the_log_file(healthy_target: Any) -> None:
    log = healthy_target.ca_bundle.parent / AUDIT_LOG
    result = await audit(make_ctx(healthy_target), action=ACTION, source={"file": str(log)})
    assert result.status is Status.PASSED, result.evidence


async def test_a_missing_audit_record_fails(target_factory: Any) -> None:
    target = target_factory("no-audit")
    result = await audit(
        make_ctx(target),
        action=ACTION,
        source={"endpoint": "/audit/events?request_id={marker}"},
        within="1s",
        poll_interval="200ms",
    )
    assert result.status is Status.FAILED
    assert result.summary.startswith("no audit record for POST /api/orders within 1s")
    assert result.metrics["records_found"] == 0


async def test_a_record_without_required_fields_fails(healthy_target: Any, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_text('{"note": "an older record"}\n')

    def lazy_logger(event: ProgressEvent) -> None:
        """Logs the marker but no actor and a bogus time, as a careless service would."""
        if "waiting for the audit record of " in event.message:
            marker = event.message.rsplit(" ", 1)[1]
            with log.open("a") as file:
                record = {"msg": f"order {marker}", "time": "yesterday", "by": LEAKED_EMAIL}
                file.write(json.dumps(record) + "\n")

    ctx = make_ctx(healthy_target)
    ctx.on_progress = lazy_logger
    result = await audit(ctx, action=ACTION, source={"file": str(log)}, fields=["actor"])
    assert result.status is Status.FAILED, result.evidence
    assert result.summary == (
        "audit record for POST /api/orders is incomplete: missing actor; "
        "time 'yesterday' is not a time"
    )
    assert "an older record" not in result.evidence  # only what the action appended
    assert LEAKED_EMAIL not in result.evidence and "<email: a***@***.org>" in result.evidence


def test_audit_source_needs_one_place() -> None:
    with pytest.raises(ValidationError, match="either endpoint or file"):
        AuditLoggingOptions.model_validate({"action": ACTION, "source": {}})
