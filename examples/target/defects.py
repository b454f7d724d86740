"""The defect switches: each plants exactly one real problem in the target."""

from __future__ import annotations

from collections.abc import Iterable

DEFECTS: dict[str, str] = {
    "slow": "/api/items and /api/items/{id} take about 1.2 s",
    "errors": "/api/items and /api/items/{id} always answer 500",
    "flaky": "about 10% of /api/* requests answer 500",
    "no-hsts": "no Strict-Transport-Security header",
    "no-csp": "no Content-Security-Policy header",
    "open-admin": "/admin answers 200 without credentials",
    "insecure-cookie": "session cookie without Secure, HttpOnly and SameSite",
    "server-version": "sends Server and X-Powered-By headers with versions",
    "expiring-cert": "TLS certificate valid for only 3 more days",
    "expired-cert": "TLS certificate expired yesterday",
    "wrong-host": "TLS certificate issued for wrong.example only",
    "tls10": "also accepts TLS 1.0 and 1.1",
    "degrade": "/api/* slows with concurrency and answers 503 above 40 in flight",
    "contention": "/api/items/{id} take 350 ms under load (more than 20 a second)",
    # operational readiness, drills and parity (examples/target/site.py and its modules)
    "health-degraded": "/healthz answers 200 but says the status is degraded",
    "metrics-missing": "/metrics lacks datastore_backup_last_success_timestamp_seconds",
    "alert-no-runbook": "the BackupStale alert in /ops/alerts.yml has no runbook_url",
    "runbook-missing-section": "the high-error-rate runbook lacks its Rollback section",
    "rollback-stuck": "POST /ops/rollback answers 200 but leaves the new version live",
    "switch-drops": "a blue/green switch answers 503 for about 1 s",
    "restore-loses-data": "backups miss the writes of the last 30 s",
    "parity-drift": "/ops/config has another database pool size than production",
    "pii-leak": "/api/customers/1 shows full personal data, a card, an IBAN and secrets",
    "no-audit": "POST /api/orders writes no audit record",
    "user-admin": "a normal user (not only an admin) reaches /admin/users",
    "critical-finding": "the image scan report (trivy.json) has a critical vulnerability",
    # a release measurably slower than the last one (issue 25): ``regress=15``
    "regress": "regress=N: /api/* answers N% later than its own handling time (regress=15)",
}
"""Every known defect and what it does."""

ENV_VAR = "TARGET_DEFECTS"


PARAMETERS = {"regress": (1.0, 1000.0)}
"""Defects that take a number (``regress=15``), with its allowed range."""


class UnknownDefectError(ValueError):
    """A defect name the target does not know; the message lists the known ones."""

    def __init__(self, unknown: list[str]) -> None:
        names = ", ".join(repr(name) for name in unknown)
        super().__init__(f"unknown defect {names}; known defects: {', '.join(DEFECTS)}")
        self.unknown = unknown


class DefectValueError(UnknownDefectError):
    """A known switch with a bad or missing number (``regress=fast``)."""

    def __init__(self, message: str) -> None:
        ValueError.__init__(self, message)
        self.unknown = []


def parse_defects(names: Iterable[str], env_value: str | None = None) -> tuple[str, ...]:
    """Validate and merge defect names (from the CLI, and ``TARGET_DEFECTS`` if given).

    Each name may itself be a comma list (``--defect slow,no-hsts``, as ``make demo
    DEFECTS=slow,no-hsts`` passes it). Returns them deduplicated in first-seen order;
    raises :class:`UnknownDefectError` (:class:`DefectValueError` for a bad number).
    """
    merged = [part for item in [*names, env_value or ""] for part in item.split(",")]
    wanted = list(dict.fromkeys(name.strip() for name in merged if name.strip()))
    unknown = [name for name in wanted if defect_name(name) not in DEFECTS]
    if unknown:
        raise UnknownDefectError(unknown)
    for name in wanted:
        try:
            parameter(name)
        except ValueError as exc:
            raise DefectValueError(str(exc)) from None
    return tuple(wanted)


def defect_name(defect: str) -> str:
    """``regress=15`` -> ``regress``."""
    return defect.partition("=")[0].strip()


def parameter(defect: str) -> float | None:
    """The number of ``regress=15`` (None for a plain switch); ValueError when a switch
    that takes no number gets one, or one that needs a number gets none or a bad one."""
    name, equals, raw = defect.partition("=")
    name = name.strip()
    bounds = PARAMETERS.get(name)
    if bounds is None:
        if equals:
            raise ValueError(f"defect {name!r} takes no value; got {defect!r}")
        return None
    low, high = bounds
    try:
        number = float(raw.strip().rstrip("%"))
    except ValueError:
        number = -1.0
    if not low <= number <= high:
        raise ValueError(
            f"defect {name!r} needs a percentage from {low:g} to {high:g}, e.g. "
            f"{name}=15; got {defect!r}"
        )
    return number
