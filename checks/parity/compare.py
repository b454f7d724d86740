"""Differences between the environment and production, as people read them:
``/ops/config database.pool_size: 5 vs 20``. Pure: values in, differences out."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_DIFFERENCES = 200
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Any = _Absent()
"""A key or header one side does not have."""


def show(value: Any, limit: int = 80) -> str:
    if value is ABSENT:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


@dataclass(frozen=True)
class Difference:
    where: str
    """``/version version``, ``header x-frame-options on /``, ``TLS protocol``."""
    staging: str
    production: str

    def line(self) -> str:
        return f"{self.where}: {self.staging} vs {self.production}"


def _child(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    name = str(key) if _IDENTIFIER.match(str(key)) else json.dumps(str(key))
    return f"{path}.{name}" if path else name


def json_differences(staging: Any, production: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Every key path whose values differ (``database.pool_size``, ``items[2].id``);
    lists of different lengths differ as a whole."""
    out: list[tuple[str, Any, Any]] = []
    _walk(staging, production, path, out)
    return out


def _walk(a: Any, b: Any, path: str, out: list[tuple[str, Any, Any]]) -> None:
    if len(out) >= MAX_DIFFERENCES:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [*a, *(k for k in b if k not in a)]:
            _walk(a.get(key, ABSENT), b.get(key, ABSENT), _child(path, key), out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            _walk(x, y, _child(path, index), out)
    elif not _same(a, b):
        out.append((path or "(document)", a, b))


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same JSON type (``true`` is not ``1``; ``1`` is ``1.0``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    numbers = isinstance(a, int | float) and isinstance(b, int | float)
    return bool(a == b) and (numbers or type(a) is type(b))


def covers(pattern: str, path: str) -> bool:
    """``flags`` covers ``flags`` and everything under it (``flags.new_checkout``)."""
    return path == pattern or path.startswith((f"{pattern}.", f"{pattern}["))


def value_at(document: Any, path: str) -> Any:
    """The value at a dotted key path, or ABSENT."""
    current = document
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("[") and isinstance(current, list):
            index = int(part[1:-1])
            current = current[index] if index < len(current) else ABSENT
        elif isinstance(current, dict):
            current = current.get(part.strip('"'), ABSENT)
        else:
            return ABSENT
    return current


def judge_json(
    endpoint: str,
    staging: Any,
    production: Any,
    *,
    ignore: Sequence[str] = (),
    expect_differences: Sequence[str] = (),
) -> tuple[list[Difference], list[Difference], list[str]]:
    """(unexpected differences, expected ones, expected differences that are not)."""
    unexpected: list[Difference] = []
    expected: list[Difference] = []
    for path, a, b in json_differences(staging, production):
        if any(covers(p, path) for p in ignore):
            continue
        found = Difference(f"{endpoint} {path}", show(a), show(b))
        (expected if any(covers(p, path) for p in expect_differences) else unexpected).append(found)
    same = [
        f"{endpoint} {p}: {show(value_at(staging, p))} on both (expected to differ)"
        for p in expect_differences
        if not any(covers(p, d.where.split(" ", 1)[1]) for d in expected)
    ]
    return unexpected, expected, same


def count_values(document: Any) -> int:
    """How many leaf values a JSON document has (what "compared N values" counts)."""
    if isinstance(document, dict):
        return sum(count_values(v) for v in document.values())
    if isinstance(document, list):
        return sum(count_values(v) for v in document)
    return 1
