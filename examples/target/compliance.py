"""The target's compliance side: users with roles, customers (personal data), orders
with an audit trail, an admin-only user list and the scan report of the release's image.

Four defect switches live here: ``pii-leak`` (a customer record and a debug header carry
real personal data and secrets), ``no-audit`` (creating an order writes no audit record),
``user-admin`` (a normal user reaches ``/admin/users``) and ``critical-finding`` (the scan
report has a critical vulnerability). The planted values are the module's constants so
tests can prove no report ever shows them."""

from __future__ import annotations

import hmac
import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from examples.target.settings import Settings

USER_TOKEN = os.environ.get("TARGET_USER_TOKEN") or "demo-user-token"
"""The bearer token of ``u-anna``, a normal user (the admin's is ``Settings.token``)."""
ADMIN_ID, USER_ID = "u-admin", "u-anna"

SCAN_REPORT = "trivy.json"
"""Written into the state directory at start: the image scan of the release."""
AUDIT_LOG = "audit.jsonl"
"""Audit records, one JSON object a line, in the state directory."""
DATA = Path(__file__).resolve().parent / "data"

# What `pii-leak` exposes (values made up for the demo; the card and IBAN pass their
# checksums, the key and the token have the real formats).
LEAKED_EMAIL = "anna.jensen@example.org"
LEAKED_PHONE = "+49 30 9018 2077"
LEAKED_CARD = "4539 1488 0343 6467"
LEAKED_IBAN = "DE89 3704 0044 0532 0130 00"
LEAKED_AWS_KEY = "AKIAZ7EXAMPLE4PREPR0D"
LEAKED_JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJ1LWFubmEiLCJyb2xlIjoidXNlciJ9."
    "c2lnbmF0dXJlLW9mLXRoZS1kZW1vLXRva2VuLTAx"
)
PLANTED = (LEAKED_EMAIL, LEAKED_PHONE, LEAKED_CARD, LEAKED_IBAN, LEAKED_AWS_KEY, LEAKED_JWT)
PRIVACY_CONTACT = "privacy@example.com"
"""Public on purpose: the plans allow it as a known fixture."""

CRITICAL_FINDING: dict[str, Any] = {
    "VulnerabilityID": "CVE-2023-50447",
    "PkgName": "pillow",
    "InstalledVersion": "10.1.0",
    "FixedVersion": "10.2.0",
    "Severity": "CRITICAL",
    "Title": "pillow: Arbitrary Code Execution via the environment parameter",
    "PrimaryURL": "https://avd.aquasec.com/nvd/cve-2023-50447",
}


def customer(settings: Settings) -> dict[str, Any]:
    """Customer 1 as the API shows it: masked, unless ``pii-leak`` is planted."""
    if settings.has("pii-leak"):
        return {
            "id": 1,
            "name": "Anna Jensen",
            "email": LEAKED_EMAIL,
            "phone": LEAKED_PHONE,
            "payment": {"card": LEAKED_CARD, "iban": LEAKED_IBAN},
            "debug": {"aws_access_key_id": LEAKED_AWS_KEY},
            "contact": PRIVACY_CONTACT,
        }
    return {
        "id": 1,
        "name": "Anna J.",
        "email": "a***@example.org",
        "phone": "+49 ** **** **77",
        "payment": {"card_last4": "6467", "iban_last4": "3000"},
        "contact": PRIVACY_CONTACT,
    }


def scan_report(settings: Settings) -> dict[str, Any]:
    """The image scan (Trivy JSON, schema 2) from ``data/trivy.json``, plus a critical
    vulnerability under ``critical-finding``."""
    report: dict[str, Any] = json.loads((DATA / "trivy.json").read_text())
    if settings.has("critical-finding"):
        report["Results"][1]["Vulnerabilities"].append(dict(CRITICAL_FINDING))
    return report


@dataclass
class Compliance:
    """Endpoint handlers holding the process's orders and audit records."""

    settings: Settings
    audit: list[dict[str, Any]] = field(default_factory=list)
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        state = self.settings.state_dir
        self.audit_path = Path(state) / AUDIT_LOG if state else None
        if state:
            Path(state).mkdir(parents=True, exist_ok=True)
            report = json.dumps(scan_report(self.settings), indent=2)
            (Path(state) / SCAN_REPORT).write_text(report + "\n")

    def identity(self, request: Request) -> str | None:
        """``u-admin``, ``u-anna`` or None, from the bearer token."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        for user, known in ((ADMIN_ID, self.settings.token), (USER_ID, USER_TOKEN)):
            if hmac.compare_digest(token.strip().encode(), known.encode()):
                return user
        return None

    @staticmethod
    def refuse(status: int) -> Response:
        message = "authentication required" if status == 401 else "forbidden"
        headers = {"WWW-Authenticate": 'Bearer realm="checkout-api"'} if status == 401 else {}
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    async def customers(self, request: Request) -> Response:
        if self.identity(request) is None:
            return self.refuse(401)
        return JSONResponse([{"id": 1, "href": "/api/customers/1"}])

    async def customer(self, request: Request) -> Response:
        if self.identity(request) is None:
            return self.refuse(401)
        if request.path_params["id"] != "1":
            return JSONResponse({"error": "no such customer"}, status_code=404)
        headers = {"X-Debug-Token": LEAKED_JWT} if self.settings.has("pii-leak") else {}
        return JSONResponse(customer(self.settings), headers=headers)

    async def create_order(self, request: Request) -> Response:
        actor = self.identity(request)
        if actor is None:
            return self.refuse(401)
        try:
            wanted = json.loads(await request.body() or b"{}")
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        order_id = len(self.orders) + 1
        self.orders[order_id] = {"id": order_id, "owner": actor, "sku": str(wanted.get("sku"))}
        if not self.settings.has("no-audit"):
            self.record(actor, "order.create", f"/api/orders/{order_id}", request)
        return JSONResponse(self.orders[order_id], status_code=201)

    def record(self, actor: str, action: str, resource: str, request: Request) -> None:
        event = {
            "id": str(uuid.uuid4()),
            "time": datetime.now(UTC).isoformat(),
            "actor": actor,
            "action": action,
            "resource": resource,
            "request_id": request.headers.get("x-request-id", "")[:200],
        }
        self.audit.append(event)
        del self.audit[:-1000]  # bounded: the newest thousand
        if self.audit_path is not None:
            with self.audit_path.open("a") as log:
                log.write(json.dumps(event) + "\n")

    async def audit_events(self, request: Request) -> Response:
        if self.identity(request) != ADMIN_ID:
            return self.refuse(403 if self.identity(request) else 401)
        wanted = request.query_params.get("request_id")
        events = [e for e in self.audit if wanted is None or e["request_id"] == wanted]
        return JSONResponse({"events": events})

    async def admin_users(self, request: Request) -> Response:
        who = self.identity(request)
        if who is None:
            return self.refuse(401)
        if who != ADMIN_ID and not self.settings.has("user-admin"):
            return self.refuse(403)
        return JSONResponse({"users": [{"id": ADMIN_ID, "role": "admin"}, {"id": USER_ID}]})


def compliance_routes(settings: Settings) -> list[Route]:
    """The routes of this module, for :func:`examples.target.app.build_app`."""
    c = Compliance(settings)
    return [
        Route("/api/customers", c.customers),
        Route("/api/customers/{id}", c.customer),
        Route("/api/orders", c.create_order, methods=["POST"]),
        Route("/audit/events", c.audit_events),
        Route("/admin/users", c.admin_users),
    ]
