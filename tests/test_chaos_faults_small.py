"""bench/chaos.py --faults, small: the slack-outage fault end to end on real processes (a
SQLite ``preprod serve``, the Slack stand-in, the example target) for 2 s of 503 and 1 s
of 429, and the tally's rules on hand-made records. The figures come from the bench; this
checks that each one is counted from what really happened, not what the product fixes."""

from __future__ import annotations

from pathlib import Path

from bench.fault_tally import FaultRecord, Interaction, judge, mark_clicks, row, table
from bench.faults import Scenario
from bench.faults_plan import PLANS, Options, parse_faults, plan_yaml


async def test_a_short_slack_outage_is_counted_from_the_records(tmp_path: Path) -> None:
    options = Options(("slack-outage",), {"slack-outage": (2.0, 1.0)}, executing=1,
                      spacing=1.0, recovery=30.0, defects=(), database="sqlite", workers=0,
                      told_within=1.5, settle=1.0)  # fmt: skip
    scenario = Scenario("slack-outage", options, tmp_path)
    record = await scenario.run()
    assert record.problems == [] and record.skipped == "", record.problems
    # the outage was real: the bot's Web API calls met 503s and then 429s
    statuses = {c.status for c in scenario.standin.calls}
    assert {503, 200} <= statuses, statuses
    # the runs are the database's: the waiting one, the executing one, the started ones
    services = [service for _, service, _, _ in record.runs]
    assert services[:2] == ["svc-waiting", "svc-run0"]
    assert len(record.interactions) == 2  # at +1 s a click, at +2 s a start
    click, start = record.interactions
    assert (click.kind, click.subject, start.kind) == ("click", "run 1 sre", "start")
    assert click.status is not None and start.status is not None  # real HTTP answers
    assert start.recorded == (start.subject in services)
    # messages are the stand-in's, by outbox key; requests are the target's own counters
    for run_id, _, _, _ in record.runs:
        assert record.keys.get(f"run:{run_id}:parent", 0) >= 1, record.keys
    executed = sum(1 for run_id, check, _, status in record.checks if check == "version"
                   and status.lower() == "passed")  # fmt: skip
    assert record.served.get("/version", 0) >= executed >= 2
    counted = row(record)
    assert counted.runs == len(record.runs) and counted.honest + counted.silent == 2
    lines = table([record])
    assert lines[3].split()[0] == "fault" and lines[4].startswith("slack-outage")


def test_the_tally_calls_silent_what_nobody_was_told() -> None:
    cases = {
        "500": (Interaction("click", "U1", "run 1 sre", 1, status=500, elapsed=0.1), False),
        "dropped": (Interaction("start", "U1", "s", 1, error="ReadError", elapsed=0.1), False),
        "late": (Interaction("click", "U1", "run 1 sre", 1, 200, 3.4, recorded=True), False),
        "recorded": (Interaction("click", "U1", "run 1 sre", 1, 200, 0.2, recorded=True), True),
        "told": (Interaction("click", "U1", "run 1 sre", 1, 200, 0.2,
                             said=["Could not record your approval"], recorded=False), True),
        "said nothing": (Interaction("click", "U1", "run 1 sre", 1, 200, 0.2, recorded=False),
                         False),
        "ack lied": (Interaction("start", "U1", "s", 1, 200, 0.2,
                                 said=["Starting the validation of s 1.0"], recorded=False),
                     False),
    }  # fmt: skip
    assert {name: judge(i)[0] for name, (i, _) in cases.items()} == {
        name: honest for name, (_, honest) in cases.items()
    }


def test_a_row_counts_unfinished_runs_lost_results_duplicates_and_checks_run_twice() -> None:
    record = FaultRecord("db-restart", injected="stopped")
    record.runs = [(1, "a", "quick", "finished"), (2, "b", "staging", "failed")]
    record.checks = [(1, "version", 1, "passed"), (1, "health", 1, "passed"),
                     (2, "version", 1, "passed"), (2, "version", 2, "passed"),
                     (2, "items", 1, "pending")]  # fmt: skip
    record.served = {"/version": 3, "/healthz": 1, "/api/items": 5}
    record.keys = {"run:1:parent": 1, "run:2:parent": 2}
    record.interactions = [Interaction("click", "U1", "run 1 sre", 1, 200, 0.1, recorded=True)]
    counted = row(record)
    assert (counted.finished, counted.runs) == (1, 2)
    assert counted.lost == 3  # run 2's items pending, item and health absent
    assert counted.duplicates == 1 and (counted.honest, counted.silent) == (1, 0)
    # /version served 3 times for 2 executions, /api/items 5 times (one execution of
    # staging's items) with none finished: 2 (run 2's version also has 2 attempts)
    assert counted.doubled == 2 and not counted.met
    assert any("/api/items 5 (plan 0)" in d for d in counted.details)
    assert sorted(PLANS["quick"]) == ["health", "version"] and "plan: long" in plan_yaml("u")
    assert parse_faults("db-hang, disk-full") == ("db-hang", "disk-full")
    try:
        parse_faults("db-hang,fire")
    except ValueError as exc:
        assert "unknown fault fire" in str(exc)
    else:
        raise AssertionError("an unknown fault was accepted")


def test_a_click_counts_as_recorded_only_by_a_sign_off_stored_before_the_next_one() -> None:
    first = Interaction("click", "U1", "run 1 sre", 1, 200, 0.1, sent=100.0)
    second = Interaction("click", "U1", "run 1 sre", 5, 200, 0.1, sent=104.0)
    other = Interaction("click", "U2", "run 1 security", 3, 200, 0.1, sent=102.0)
    mark_clicks([second, other, first], {(1, "sre", "U1"): 104.5})
    assert (first.recorded, second.recorded, other.recorded) == (False, True, False)
    mark_clicks([first, second], {(1, "sre", "U1"): 100.2})
    assert (first.recorded, second.recorded) == (True, True)  # the second: already recorded
