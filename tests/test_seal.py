"""Sealing an event without the JSON round trip for flat plain details (issue 26 point 4)
must give what the round trip gave: the same stored details, in the same key order, and
the same hash, for every kind of value an event's details can hold."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import pytest

from bot.audit.chain import GENESIS, Entry, bounded, canonical, digest, seal


class Colour(StrEnum):
    RED = "red"


def round_trip_seal(details: dict[str, Any]) -> Entry:
    """The sealing before the fast path: bounded, a JSON round trip, then the hash."""
    at = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    stored = json.loads(canonical(bounded(details)))
    unsealed = Entry(3, at, 7, "preprod", "check.finished", stored, GENESIS, "")
    return Entry(3, at, 7, "preprod", "check.finished", stored, GENESIS, digest(unsealed))


@pytest.mark.parametrize(
    "details",
    [
        {},
        {"check": "c1", "type": "http", "attempt": 2, "status": "passed", "critical": True},
        {"z": None, "a": False, "m": 10**30, "é": "ünïcode ✓", "b": "x" * 5000},
        {"ratio": 0.1, "n": 1},  # a float: the round trip
        {"nan": float("nan"), "inf": float("inf")},
        {"nested": {"b": [1, (2, 3)], "a": {"k": "v"}}, "flat": "x"},
        {"enum": Colour.RED, "when": datetime(2026, 1, 1, tzinfo=UTC)},
        {3: "int key", "3": "str key"},
        {f"k{n}": n for n in range(80)},  # more than 50 keys: cut
    ],
)
def test_sealing_gives_what_the_json_round_trip_gave(details: dict[str, Any]) -> None:
    at = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    sealed = seal(
        seq=3,
        at=at,
        run_id=7,
        actor="preprod",
        action="check.finished",
        details=details,
        prev_hash=GENESIS,
    )
    expected = round_trip_seal(details)
    assert sealed == expected
    assert list(sealed.details) == list(expected.details), "key order differs"
    assert json.dumps(sealed.details) == json.dumps(expected.details)
