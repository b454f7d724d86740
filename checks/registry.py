"""Maps a plan's ``type:`` to a check class: the built-in kinds plus third-party ones
registered under the ``preprod.checks`` entry-point group."""

from __future__ import annotations

import logging
from functools import cache
from importlib import import_module
from importlib.metadata import entry_points

from checks.base import Check, CheckKind

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "preprod.checks"

BUILTIN: dict[str, str] = {
    "http": "checks.http:HttpCheck",
    "security_headers": "checks.security_headers:SecurityHeadersCheck",
    "auth_required": "checks.auth_required:AuthRequiredCheck",
    "tls": "checks.tls:TlsCheck",
    "load": "checks.load:LoadCheck",
    "ops_readiness": "checks.ops:OpsReadinessCheck",
    "drill": "checks.drill:DrillCheck",
    "parity": "checks.parity:ParityCheck",
    "pii_scan": "checks.pii:PiiScanCheck",
    "audit_logging": "checks.audit_logging:AuditLoggingCheck",
    "authz": "checks.authz:AuthzCheck",
    "findings": "checks.findings:FindingsCheck",
}


class UnknownCheckType(ValueError):
    """A ValueError so pydantic reports it at the `type` key path."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown check type {name!r}; known types: {', '.join(known)}")
        self.name = name
        self.known = known


def _load(ref: str) -> CheckKind:
    module, _, attr = ref.partition(":")
    cls = getattr(import_module(module), attr)
    if not (isinstance(cls, type) and issubclass(cls, Check)):
        raise TypeError(f"{ref} is not a preprod Check class")
    return cls


@cache
def check_types() -> dict[str, CheckKind]:
    """Every known kind, built-ins first; a broken plug-in is logged and left out."""
    kinds: dict[str, CheckKind] = {}
    for name, ref in BUILTIN.items():
        try:
            kinds[name] = _load(ref)
        except Exception as exc:  # say why, and let the other kinds work
            log.error("cannot load built-in check type %r from %s: %s", name, ref, exc)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in kinds:
            log.warning("check type %r from %s shadows a built-in; ignored", ep.name, ep.value)
            continue
        try:
            kinds[ep.name] = _load(ep.value)
        except Exception as exc:  # a plug-in must not break the built-ins
            log.warning("cannot load check type %r from %s: %s", ep.name, ep.value, exc)
    return kinds


def get_check_type(name: str) -> CheckKind:
    kinds = check_types()
    try:
        return kinds[name]
    except KeyError:
        raise UnknownCheckType(name, sorted(kinds)) from None


def register(name: str, kind: CheckKind) -> None:
    """Add a kind at run time (embedding, tests). Packages should use the entry point."""
    check_types()[name] = kind


def unregister(name: str) -> None:
    check_types().pop(name, None)
