"""Maps a plan's ``type:`` to a check class: the built-in kinds plus third-party ones
registered under the ``preprod.checks`` entry-point group.

Loading a plan needs only each kind's options model and the placeholders it fills itself
(:func:`kind_facts`); for the built-ins those come from light modules (pydantic only), so
that ``preprod config validate`` imports no check implementation (httpx, locust ...). The
check class itself (:func:`get_check_type`) is imported when a check is built or run."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from importlib.metadata import entry_points

from checks.base import Check, CheckKind, CheckOptions

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

BUILTIN_OPTIONS: dict[str, tuple[str, frozenset[str]]] = {
    "http": ("checks.http_options:HttpOptions", frozenset()),
    "security_headers": ("checks.security_headers_options:SecurityHeadersOptions", frozenset()),
    "auth_required": ("checks.auth_required_options:AuthRequiredOptions", frozenset()),
    "tls": ("checks.tls_options:TlsOptions", frozenset()),
    "load": ("checks.load.options:LoadOptions", frozenset()),
    "ops_readiness": ("checks.ops.options:OpsReadinessOptions", frozenset()),
    "drill": (
        "checks.drill.options:DrillOptions",
        frozenset({"previous_version", "marker", "python"}),
    ),
    "parity": ("checks.parity.options:ParityOptions", frozenset()),
    "pii_scan": ("checks.pii.options:PiiScanOptions", frozenset()),
    "audit_logging": ("checks.audit_logging_options:AuditLoggingOptions", frozenset({"marker"})),
    "authz": ("checks.authz_options:AuthzOptions", frozenset()),
    "findings": ("checks.findings.options:FindingsOptions", frozenset()),
}
"""Each built-in kind's options model (``module:class``) and own placeholders, the same
objects its check class holds (tests/test_registry_light.py keeps them in step)."""


@dataclass(frozen=True)
class KindFacts:
    """What validating a plan reads of a kind, without importing its implementation."""

    options: type[CheckOptions]
    own_placeholders: frozenset[str]


class UnknownCheckType(ValueError):
    """A ValueError so pydantic reports it at the `type` key path."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown check type {name!r}; known types: {', '.join(known)}")
        self.name = name
        self.known = known


_added: dict[str, CheckKind] = {}
"""Kinds registered at run time (:func:`register`); they win over the others."""


def _load(ref: str) -> CheckKind:
    module, _, attr = ref.partition(":")
    cls = getattr(import_module(module), attr)
    if not (isinstance(cls, type) and issubclass(cls, Check)):
        raise TypeError(f"{ref} is not a preprod Check class")
    return cls


@cache
def _plugins() -> dict[str, CheckKind]:
    """The entry-point kinds, loaded (a broken plug-in is logged and left out)."""
    kinds: dict[str, CheckKind] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in BUILTIN:
            log.warning("check type %r from %s shadows a built-in; ignored", ep.name, ep.value)
            continue
        try:
            kinds[ep.name] = _load(ep.value)
        except Exception as exc:  # a plug-in must not break the built-ins
            log.warning("cannot load check type %r from %s: %s", ep.name, ep.value, exc)
    return kinds


@cache
def _builtin(name: str) -> CheckKind | None:
    ref = BUILTIN[name]
    try:
        return _load(ref)
    except Exception as exc:  # say why, and let the other kinds work
        log.error("cannot load built-in check type %r from %s: %s", name, ref, exc)
        return None


@cache
def _builtin_facts(name: str) -> KindFacts:
    ref, own = BUILTIN_OPTIONS[name]
    module, _, attr = ref.partition(":")
    options = getattr(import_module(module), attr)
    if not (isinstance(options, type) and issubclass(options, CheckOptions)):
        raise TypeError(f"{ref} is not a preprod options model")
    return KindFacts(options, own)


def kind_names() -> list[str]:
    """Every known kind's name, built-ins first (plug-ins are loaded, as before)."""
    return list(dict.fromkeys([*BUILTIN, *_plugins(), *_added]))


def kind_facts(name: str) -> KindFacts:
    """The options model and own placeholders of ``name``; a built-in's from its light
    options module. Raises :class:`UnknownCheckType`.

    A plug-in never shadows a built-in (:func:`_plugins`), so a built-in's facts do not
    wait for the entry points to be read: a plan of built-ins loads without them."""
    if (kind := _added.get(name)) is not None:
        return KindFacts(kind.Options, kind.own_placeholders)
    if name in BUILTIN:
        return _builtin_facts(name)
    if (kind := _plugins().get(name)) is not None:
        return KindFacts(kind.Options, kind.own_placeholders)
    raise UnknownCheckType(name, sorted(kind_names()))


def check_types() -> dict[str, CheckKind]:
    """Every known kind's class, built-ins first (imports every implementation: for the
    catalog pages, not for loading a plan)."""
    kinds = {name: kind for name in BUILTIN if (kind := _builtin(name)) is not None}
    return {**kinds, **_plugins(), **_added}


def get_check_type(name: str) -> CheckKind:
    kind = _added.get(name)
    if kind is None and name in BUILTIN:
        kind = _builtin(name)
    if kind is None and name not in BUILTIN:
        kind = _plugins().get(name)
    if kind is None:
        raise UnknownCheckType(name, sorted(check_types()))
    return kind


def register(name: str, kind: CheckKind) -> None:
    """Add a kind at run time (embedding, tests). Packages should use the entry point."""
    _added[name] = kind


def unregister(name: str) -> None:
    _added.pop(name, None)
