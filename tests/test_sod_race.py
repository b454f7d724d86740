"""Acceptance of separation of duties under a race, small: two real `preprod serve`
replicas on one database (SQLite, then PostgreSQL); sue (in SRE and Security) approves
both roles at once through Slack and the dashboard, and rita approves, waives and ticks
her own run at once. No round ends with two roles signed by one person, or anything of
the requester's stored. bench/sod_race.py runs 200 rounds of each."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.sod_race import Figures, race
from tests.support.target import RunningTarget

ROUNDS = 4


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/bot.db"
    return str(request.getfixturevalue("postgres_database"))


async def test_no_round_ends_with_one_person_in_two_roles_or_a_requesters_action(
    healthy_target: RunningTarget, tmp_path: Path, database: str
) -> None:
    figures, outcome = await race(database, tmp_path, healthy_target, ROUNDS, "test")
    two, own = figures
    assert two.violations == [] and own.violations == [], figures
    assert (two.rounds, own.rounds) == (ROUNDS, ROUNDS)
    # each of sue's rounds stores one approval (whichever came first) and refuses the other
    assert two.stored == ROUNDS and two.refused == ROUNDS, two.line()
    assert own.stored == 0 and own.refused == own.sent == 6 * ROUNDS, own.line()
    assert outcome.verified, "the audit trail no longer verifies"
    assert outcome.tracebacks == 0, "a replica logged a traceback"


def test_figures_read_as_a_line() -> None:
    figures = Figures("two roles", "sqlite", rounds=2, sent=4, stored=2, refused=2, seconds=1.25)
    assert figures.line() == (
        "sqlite     two roles  rounds=2 sent=4 stored=2 refused=2 violations=0 time=1.2s"
    )
