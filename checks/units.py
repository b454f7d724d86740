"""Human-friendly quantities in the plan: durations such as ``2m`` or ``500ms``, sizes
such as ``1MB`` or ``512KB``. Plain functions, free of pydantic, so that the command
line can parse ``--timeout 2m`` without loading it; the plan's field types built on them
are in checks/quantities.py."""

from __future__ import annotations

import re
from typing import Any

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from ``90``, ``"90s"``, ``"500ms"``, ``"2m"``, ``"24h"`` or ``"1d"``."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 2m or 500ms")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _SECONDS[match.group(2)]
    else:
        raise ValueError(f"expected a duration such as 30s, 2m or 500ms, got {value!r}")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def format_duration(seconds: float) -> str:
    """The inverse of :func:`parse_duration`, for summaries: ``1.5s``, ``2m``, ``340ms``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.3g}s"
    if seconds < 7200:
        return f"{seconds / 60:.3g}m"
    return f"{seconds / 3600:.3g}h"


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$", re.IGNORECASE)
_BYTES = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(value: Any) -> int:
    """Bytes from ``1048576``, ``"512KB"``, ``"1MB"`` or ``"1.5 MiB"``. A kilobyte is
    1024 bytes (KB and KiB alike), as nginx's ``client_max_body_size`` and most
    configuration files mean it."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 1MB, 512KB or a number of bytes")
    if isinstance(value, int | float):
        size = float(value)
    elif isinstance(value, str) and (match := _SIZE.match(value)):
        unit = (match.group(2) or "").lower()[:1]
        size = float(match.group(1)) * _BYTES[unit]
    else:
        raise ValueError(f"expected a size such as 1MB, 512KB or a number of bytes, got {value!r}")
    if size < 0:
        raise ValueError("a size cannot be negative")
    return int(size)


def format_size(size: int) -> str:
    """The inverse of :func:`parse_size`, for evidence: ``1 MB``, ``512 KB``, ``300 bytes``."""
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}"
    return f"{size} byte{'s' if size != 1 else ''}"
