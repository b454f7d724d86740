"""Options of the operational checks as the example plan writes them, and a context for
running a check against an example target (staging at 127.0.0.1, production at
localhost)."""

from __future__ import annotations

from typing import Any

from checks.context import CheckContext, RunInfo, Target
from tests.support.target import RunningTarget

OPS: dict[str, Any] = {
    "health": {"path": "/healthz", "expect_json": {"status": "ok"}},
    "metrics": {
        "require": [
            {"name": "http_requests_total", "type": "counter", "labels": ["path", "status"]},
            "http_requests_in_flight",
            {"name": "datastore_backup_last_success_timestamp_seconds", "type": "gauge"},
        ]
    },
    "alerts": {
        "url": "/ops/alerts.yml",
        "require": ["HighErrorRate", "InstanceDown", "BackupStale"],
    },
    "runbooks": {"sections": ["Rollback", "Escalation"]},
}
PARITY: dict[str, Any] = {
    "json": [{"path": "/version", "expect_differences": ["version"]}, {"path": "/ops/config"}],
    "headers": {"path": "/", "names": ["strict-transport-security", "x-frame-options"]},
    "routes": ["/", "/healthz", "/version", "/api/items", "/admin", "/ops/config"],
}


def make_ctx(
    target: RunningTarget, *, previous_version: str | None = "2.13.0", production: bool = True
) -> CheckContext:
    return CheckContext(
        target=Target(
            name="staging",
            base_url=target.https_url,
            production_url=target.production_url if production else None,
            previous_version=previous_version,
            ca_bundle=target.ca_bundle,
            headers={"Authorization": f"Bearer {target.token}"},
        ),
        run=RunInfo(
            run_id=7,
            service="checkout-api",
            version="2.14.0",
            environment="staging",
            plan="standard",
        ),
        check_id="ops",
    )
