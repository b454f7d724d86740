"""Check metrics as people read them: a readable name, a unit and sensible precision.

Checks record raw floats under internal keys (``latency_ms.1``, ``p95_ms``,
``error_rate_pct``) because machines (the JSON report, thresholds) want exact numbers.
Every place that shows metrics to a person (HTML report, terminal, Slack) goes through
this one pure module so a figure reads the same everywhere: ``Request 1 latency 47 ms``.
Unknown names (plug-in kinds) still get a unit from their suffix and a humanised name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_PERCENTILE = re.compile(r"^p(\d{2})$")
_REQUEST_LATENCY = re.compile(r"^latency_ms\.(\d+)$")


@dataclass(frozen=True)
class Figure:
    """One metric ready to show: ``label`` and ``value`` (with its unit)."""

    key: str
    label: str
    value: str


def _number(value: float, decimals: int = 0) -> str:
    """Thousands separators, no ``.0`` noise: ``1,204``, ``3.5``."""
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def ms(value: float) -> str:
    """``0.8 ms``, ``47 ms``, ``1.23 s``: milliseconds to the precision a timer deserves."""
    if value >= 1000:
        return seconds(value / 1000)
    return f"{_number(value, 1 if value < 10 else 0)} ms"


def seconds(value: float) -> str:
    """``1.23 s``, ``12.4 s``, ``2 min 05 s``."""
    if value < 60:
        return f"{_number(value, 2 if value < 10 else 1)} s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def percent(value: float) -> str:
    """``0 %``, ``0.25 %``, ``12.5 %``."""
    return f"{_number(value, 2 if abs(value) < 10 else 1)} %"


def rate(value: float) -> str:
    return f"{_number(value, 1)} req/s"


def count(value: float) -> str:
    return _number(value)


def ratio(value: float) -> str:
    return f"{_number(value, 2)}x"


def days(value: float) -> str:
    whole = round(value)
    return f"{whole} day{'' if whole == 1 else 's'}"


def max_age(value: float) -> str:
    """HSTS ``max-age`` is seconds; people think of it in days."""
    return f"{_number(value)} s ({_number(value / 86400)} days)"


def yes_no(value: float) -> str:
    return "yes" if value else "no"


def workers(value: float) -> str:
    return "none (one local process)" if value == 0 else _number(value)


Formatter = Callable[[float], str]

KNOWN: dict[str, tuple[str, Formatter]] = {
    # http, auth_required, security_headers
    "requests": ("Requests", count),
    "problems": ("Problems", count),
    "paths": ("Paths checked", count),
    "unprotected": ("Unprotected paths", count),
    "latency_ms": ("Latency", ms),
    "latency_ms_max": ("Slowest response", ms),
    "latency_ms_total": ("Total response time", ms),
    "hsts_max_age": ("HSTS max-age", max_age),
    # tls
    "days_left": ("Certificate valid for", days),
    "handshake_ms": ("TLS handshake", ms),
    # load
    "rps": ("Throughput", rate),
    "avg_ms": ("Average latency", ms),
    "max_ms": ("Slowest request", ms),
    "error_rate_pct": ("Error rate", percent),
    "failures": ("Failed requests", count),
    "users": ("Peak users", count),
    "duration_s": ("Test duration", seconds),
    "workers": ("Locust workers", workers),
    "steps_run": ("Stress steps run", count),
    "sustained_rps": ("Sustained throughput", rate),
    "last_good_users": ("Most users handled", count),
    "breaking_users": ("Breaking point", count),
    "headroom_ratio": ("Capacity headroom", ratio),
    "required_rps": ("Required throughput", rate),
    "degradation_pct": ("Latency growth", percent),
    "baseline_p95_ms": ("p95 latency before the spike", ms),
    "spike_p95_ms": ("p95 latency during the spike", ms),
    "spike_error_rate_pct": ("Error rate during the spike", percent),
    "spike_rps": ("Throughput during the spike", rate),
    "recovery_s": ("Recovery time", seconds),
    # ops_readiness
    "metric_families": ("Metric families", count),
    "alerts": ("Alerts", count),
    "runbooks": ("Runbooks", count),
    # drill
    "script_s": ("Drill script duration", seconds),
    "rto_s": ("Recovery time (RTO)", seconds),
    "max_outage_ms": ("Longest outage", ms),
    "probe_requests": ("Probe requests", count),
    "probe_errors": ("Failed probe requests", count),
    "probe_error_rate_pct": ("Probe error rate", percent),
    "probe_p50_ms": ("p50 latency during the drill", ms),
    "probe_p95_ms": ("p95 latency during the drill", ms),
    "probe_p99_ms": ("p99 latency during the drill", ms),
    "probe_max_ms": ("Slowest request during the drill", ms),
    "rpo_ok": ("Data written before the drill kept", yes_no),
    # parity
    "differences": ("Differences from production", count),
    "expected_differences": ("Expected differences", count),
    "compared": ("Items compared", count),
}

_SUFFIXES: tuple[tuple[str, Formatter], ...] = (
    ("_ms", ms),
    ("_s", seconds),
    ("_pct", percent),
    ("_rps", rate),
    ("_ratio", ratio),
    ("_days", days),
)


def _latency_name(stem: str) -> str:
    """``p95`` -> ``p95 latency``, ``avg`` -> ``average latency``."""
    if _PERCENTILE.match(stem):
        return f"{stem} latency"
    return {"avg": "average latency", "max": "slowest request"}.get(stem, stem.replace("_", " "))


def _describe(key: str) -> tuple[str, Formatter]:
    if key in KNOWN:
        return KNOWN[key]
    if match := _REQUEST_LATENCY.match(key):
        return f"Request {match.group(1)} latency", ms
    if (match := re.match(r"^(p\d{2})_ms$", key)) is not None:
        return f"{match.group(1)} latency", ms
    if (match := re.match(r"^(first|last)_(\w+)_ms$", key)) is not None:
        window = "first" if match.group(1) == "first" else "last"
        return _first_upper(f"{_latency_name(match.group(2))}, {window} window"), ms
    for suffix, formatter in _SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return _humanise(key.removesuffix(suffix)), formatter
    return _humanise(key), _plain


def _plain(value: float) -> str:
    """Unknown metrics: whole numbers as counts, others to four significant digits."""
    if value.is_integer() or abs(value) >= 100:
        return _number(value, 0 if value.is_integer() else 1)
    return f"{value:.4g}"


def _first_upper(text: str) -> str:
    """Capitalise a label, but not a percentile (``p95 latency`` stays as written)."""
    return text if _PERCENTILE.match(text.split(" ")[0]) else text[:1].upper() + text[1:]


def _humanise(key: str) -> str:
    words = re.sub(r"[_.]+", " ", key).strip()
    return _first_upper(words) if words else key


def label(key: str) -> str:
    """The readable name of a metric key."""
    return _describe(key)[0]


def value(key: str, number: float) -> str:
    """The metric's value with its unit; ``n/a`` for a missing or non-finite number."""
    if not isinstance(number, int | float) or isinstance(number, bool):
        return str(number)
    if not math.isfinite(number):
        return "n/a"
    return _describe(key)[1](float(number))


def figure(key: str, number: float) -> Figure:
    return Figure(key, label(key), value(key, number))


def figures(metrics: Mapping[str, float]) -> list[Figure]:
    """Every metric, in the check's order, per-request latencies last (they are detail)."""
    keyed = list(metrics.items())
    main = [(k, v) for k, v in keyed if not _REQUEST_LATENCY.match(k)]
    detail = [(k, v) for k, v in keyed if _REQUEST_LATENCY.match(k)]
    return [figure(k, v) for k, v in main + detail]


HEADLINE = (
    "differences",
    "max_outage_ms",
    "rto_s",
    "probe_errors",
    "latency_ms",
    "latency_ms_max",
    "days_left",
    "rps",
    "p95_ms",
    "error_rate_pct",
    "breaking_users",
    "headroom_ratio",
    "recovery_s",
    "degradation_pct",
    "unprotected",
    "handshake_ms",
    "users",
)
"""The figures that say most about a check, shown first when only a few fit."""


def brief(metrics: Mapping[str, float], limit: int = 4, separator: str = ", ") -> str:
    """A one-line digest, the telling figures first: ``Throughput 52.1 req/s, p95 latency
    212 ms``."""
    first = [key for key in HEADLINE if key in metrics]
    rest = [f.key for f in figures(metrics) if f.key not in first]
    shown = [figure(key, metrics[key]) for key in [*first, *rest][:limit]]
    return separator.join(f"{f.label} {f.value}" for f in shown)
