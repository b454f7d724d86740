"""The success metrics against figures worked out by hand, on a seeded SQLite and
PostgreSQL database, and the same figures over HTTP at ``/insights.json`` and as a page
with inline SVG charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

from bot.reports.insights import compute, percentile
from bot.store.facts import rebuild
from bot.store.insights import insight_rows
from bot.store.models import (
    CheckRecord,
    DecisionRecord,
    ProductionOutcome,
    Run,
    RunStatus,
    Waiver,
)
from bot.store.runs import RunStore
from tests.slackbot import running_bot
from tests.support.signin import signed_in

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
UNTIL = datetime(2026, 1, 15, tzinfo=UTC)
M = 60  # seconds in a minute

# run: service, start, minutes to the checks' end, outcome, minutes to the decision,
# production result. Runs 9 and 10 start outside the period.
RUNS = {
    1: ("api", datetime(2026, 1, 2, 10, tzinfo=UTC), 10, "go", 40, "success"),
    2: ("api", datetime(2026, 1, 3, 10, tzinfo=UTC), 20, "no-go", 20, None),
    3: ("api", datetime(2026, 1, 3, 12, tzinfo=UTC), 5, "go", 65, "rolled-back"),
    4: ("api", datetime(2026, 1, 5, 9, tzinfo=UTC), 10, "expired", 1450, None),
    5: ("api", datetime(2026, 1, 6, 9, tzinfo=UTC), 3, "cancelled", 3, None),
    6: ("web", datetime(2026, 1, 2, 8, tzinfo=UTC), 15, "go", 30, "success"),
    7: ("web", datetime(2026, 1, 4, 8, tzinfo=UTC), 10, "no-go", 100, None),
    8: ("web", datetime(2026, 1, 7, 8, tzinfo=UTC), None, None, None, None),
    9: ("api", datetime(2025, 12, 31, 9, tzinfo=UTC), 10, "go", 20, "rolled-back"),
    10: ("web", datetime(2026, 1, 15, 0, tzinfo=UTC), 10, "no-go", 20, None),
}
# (run, check, attempt, status)
CHECKS = [
    *((n, "smoke", 1, "passed") for n in range(1, 8)),
    (1, "load", 1, "passed"),
    (2, "load", 1, "failed"),
    (3, "load", 1, "failed"),
    (3, "load", 2, "passed"),
    (4, "load", 1, "error"),
    (5, "load", 1, "skipped"),
    (6, "load", 1, "passed"),
    (7, "load", 1, "failed"),
    (8, "load", 1, "pending"),
    (6, "tls", 1, "passed"),
    (7, "tls", 1, "failed"),
    (9, "load", 1, "failed"),
]
WAIVED = [(1, "load"), (6, "load"), (9, "load")]


def seed(store: RunStore) -> None:
    with Session(store.engine) as session:
        for n, (service, start, checks_min, outcome, decided_min, production) in RUNS.items():
            status = (
                RunStatus.RUNNING
                if checks_min is None
                else RunStatus.CANCELLED
                if outcome == "cancelled"
                else RunStatus.FINISHED
            )
            finished = start + timedelta(minutes=checks_min) if checks_min is not None else None
            session.add(
                Run(
                    id=n,
                    service=service,
                    version="1.0",
                    environment="staging",
                    plan="standard",
                    base_url="http://127.0.0.1:9",
                    status=status,
                    created_at=start,
                    finished_at=finished,
                )
            )
            session.flush()
            if outcome is not None and decided_min is not None:
                at = start + timedelta(minutes=decided_min)
                session.add(DecisionRecord(run_id=n, outcome=outcome, at=at))
            if production is not None:
                session.add(ProductionOutcome(run_id=n, result=production, user="U0RM"))
        for position, (n, check, attempt, status) in enumerate(CHECKS):
            session.add(
                CheckRecord(
                    run_id=n,
                    check_id=check,
                    check_type="http",
                    position=position,
                    attempt=attempt,
                    status=status,
                )
            )
        for n, check in WAIVED:
            session.add(
                Waiver(run_id=n, check_id=check, attempt=1, user="U0SRE1", justification="x")
            )
        session.commit()
    with store.engine.begin() as connection:  # rows written without audit events
        rebuild(connection)


# Worked out by hand from RUNS (seconds):
# cycles (runs 1,2,3,4,6,7): 2400, 1200, 3900, 87000, 1800, 6000
#   sorted 1200 1800 2400 3900 6000 87000: median (2400+3900)/2, p90 at rank 4.5
# automated: 600 1200 300 600 900 600 -> median 600; waiting: 1800 0 3600 86400 900 5400
# -> median (1800+3600)/2; share 4200 / (4200 + 98100)
HAND_OVERALL = {
    "runs": 8,
    "decided": 6,
    "go": 3,
    "no_go": 2,
    "expired": 1,
    "cancelled": 1,
    "cycle_median": 3150.0,
    "cycle_p90": 6000 + (87000 - 6000) * 0.5,
    "automated_median": 600.0,
    "waiting_median": 2700.0,
    "automated_share": 4200 / 102300,
    "succeeded": 2,
    "rolled_back": 1,
    "success_rate": 2 / 3,
    "prevented": 2,
    "escaped": 1,
    "prevention_rate": 2 / 3,
    "waivers": 2,
}
HAND_FAILING = [("load", 4, 7), ("tls", 1, 2)]
HAND_API = {"runs": 5, "cycle_median": 3150.0, "cycle_p90": 3900 + (87000 - 3900) * 0.7}
HAND_WEB = {"runs": 3, "cycle_median": 3900.0, "cycle_p90": 1800 + 4200 * 0.9, "waivers": 1}


def assert_hand_figures(figures: dict[str, object]) -> None:
    for key, expected in HAND_OVERALL.items():
        assert figures[key] == pytest.approx(expected), key


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/insights.db"
    url: str = request.getfixturevalue("postgres_database")
    return url


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 0.5) is None and percentile([7.0], 0.9) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([10.0, 20.0], 0.9) == pytest.approx(19.0)


async def test_insights_match_the_figures_worked_out_by_hand(database_url: str) -> None:
    store = RunStore(database_url)
    seed(store)
    insights = compute(await insight_rows(store, SINCE, UNTIL), SINCE, UNTIL)
    assert_hand_figures(vars(insights.overall))
    failing = [(c.check_id, c.failed, c.total) for c in insights.overall.failing_checks]
    assert failing == HAND_FAILING
    assert set(insights.services) == {"api", "web"}
    for service, hand in (("api", HAND_API), ("web", HAND_WEB)):
        for key, expected in hand.items():
            assert vars(insights.services[service])[key] == pytest.approx(expected), key
    assert insights.bucket == "day" and len(insights.trend) == 14
    by_day = {p.start.day: p for p in insights.trend}
    assert (by_day[2].runs, by_day[2].go, by_day[2].cycle_median) == (2, 2, 2100.0)
    assert (by_day[3].go, by_day[3].no_go, by_day[3].cycle_median) == (1, 1, 2550.0)
    assert (by_day[7].runs, by_day[7].cycle_median) == (1, None)
    only_web = compute(await insight_rows(store, SINCE, UNTIL, "web"), SINCE, UNTIL)
    assert only_web.overall.runs == 3 and set(only_web.services) == {"web"}
    store.engine.dispose()


async def test_insights_page_and_json_over_http(tmp_path: Path) -> None:
    config = tmp_path / "preprod.yml"
    config.write_text(
        "channel: C0RELEASES\nenvironments:\n  staging: {base_url: 'http://127.0.0.1:9', "
        "plan: standard}\nplans:\n  standard:\n    checks:\n"
        "      - {id: smoke, type: http, requests: [{path: /}]}\n"
    )
    async with running_bot(config, tmp_path, web=True) as harness:
        seed(harness.bot.store)
        async with await signed_in(harness.url, harness.standin, "U0RM") as http:
            period = {"since": "2026-01-01", "until": "2026-01-15"}
            answer = (await http.get("/insights.json", params=period)).json()
            page = await http.get("/insights", params=period)
            bad = await http.get("/insights.json", params={"since": "yesterday"})
            too_long = await http.get("/insights.json", params={"days": "9999"})
    assert answer["schema"] == "preprod.insights/1" and answer["bucket"] == "day"
    assert_hand_figures(answer["overall"])
    assert [
        (c["check_id"], c["failed"], c["total"]) for c in answer["overall"]["failing_checks"]
    ] == HAND_FAILING
    assert page.status_code == 200 and page.text.count("<svg") == 2
    assert "<script" not in page.text and "http" not in page.text.split("<svg", 1)[1].replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )  # no external asset in the charts
    assert "52 min 30 s" in page.text  # the overall median cycle time, 3150 s
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.json()["error"]
    assert too_long.status_code == 400
