"""Reminder decisions without Slack: cron fire times across daylight saving, working
hours, who is awaited, nudge numbers, warnings, and the config errors for bad values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config.cron import cron_trigger, latest_fire, next_fires
from bot.config.hours import parse_working_hours
from bot.config.loader import ConfigError, load_config
from bot.schedule.due import Awaited, Item, PendingRun, by_person, digest, nudge_number, warning_due
from bot.schedule.jobs import upcoming
from bot.slack.limits import MAX_BLOCKS
from bot.slack.render_reminders import digest_message, direct_message
from tests.test_slack_blocks import assert_valid

BERLIN = ZoneInfo("Europe/Berlin")
MINIMAL = """\
timezone: {zone}
channel: C0RELEASES
schedule: {schedule}
roles:
  sre: {{members: [U0SRE1]}}
environments:
  staging: {{base_url: "http://127.0.0.1:1", plan: p}}
plans:
  p: {{checks: [{{id: smoke, type: http, requests: [{{path: /}}]}}]}}
"""


def config(tmp_path: Path, schedule: str = "{}", zone: str = "Europe/Berlin") -> Path:
    path = tmp_path / "preprod.yml"
    path.write_text(MINIMAL.format(schedule=schedule, zone=zone))
    return path


def test_weekday_digest_is_at_nine_local_across_the_end_of_summer_time(tmp_path: Path) -> None:
    cfg = load_config(config(tmp_path, '{digest: "0 9 * * mon-fri"}'))
    thursday = datetime(2026, 10, 22, 12, 0, tzinfo=BERLIN)  # summer time ends Sun 25 Oct
    [(job, fires), *_] = upcoming(cfg, thursday, 5)
    assert job.name == "digest"
    assert [f.strftime("%a %d %H:%M %Z") for f in fires] == [
        "Fri 23 09:00 CEST", "Mon 26 09:00 CET", "Tue 27 09:00 CET",
        "Wed 28 09:00 CET", "Thu 29 09:00 CET",
    ]  # fmt: skip
    assert [f.astimezone(UTC).hour for f in fires] == [7, 8, 8, 8, 8]
    assert all(f.weekday() < 5 for f in fires)


def test_numeric_weekdays_mean_what_crontab_means() -> None:
    monday = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
    fires = next_fires(cron_trigger("0 9 * * 1-5", UTC), monday, 6)
    assert [f.strftime("%a") for f in fires] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Mon"]
    assert [f.strftime("%a") for f in next_fires(cron_trigger("0 9 * * 0", UTC), monday, 1)] == [
        "Sun"
    ]
    sunday_to_tuesday = next_fires(cron_trigger("0 9 * * 0-2", UTC), monday, 3)
    assert [f.strftime("%a") for f in sunday_to_tuesday] == ["Mon", "Tue", "Sun"]


def test_latest_fire_finds_the_slot_at_or_before_now() -> None:
    trigger = cron_trigger("0 9 * * mon-fri", BERLIN)
    monday_0930 = datetime(2026, 11, 30, 9, 30, tzinfo=BERLIN)
    assert latest_fire(trigger, monday_0930) == datetime(2026, 11, 30, 9, 0, tzinfo=BERLIN)
    sunday = datetime(2026, 11, 29, 12, 0, tzinfo=BERLIN)
    assert latest_fire(trigger, sunday) == datetime(2026, 11, 27, 9, 0, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("schedule", "where", "words"),
    [
        ('{digest: "0 9 * *"}', "schedule.digest", "five cron fields"),
        ('{digest: "0 25 * * mon-fri"}', "schedule.digest", "not a valid cron expression"),
        ('{digest: "0 9 * * 9"}', "schedule.digest", "out of range"),
        ('{working_hours: "weekdays 9-5"}', "schedule.working_hours", "mon-fri 09:00-18:00"),
        ('{working_hours: "mon-fri 18:00-09:00"}', "schedule.working_hours", "ends before"),
        ('{working_hours: "mon-fry 09:00-18:00"}', "schedule.working_hours", "not a weekday"),
        ("{nudge_every: 10s}", "schedule.nudge_every", "at least 1m"),
        ("{nudge_after: soon}", "schedule.nudge_after", "duration"),
        ('{digets: "0 9 * * *"}', "schedule.digets", "digest"),
    ],
)
def test_bad_schedule_values_are_config_errors_with_the_key_path(
    tmp_path: Path, schedule: str, where: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(config(tmp_path, schedule))
    rendered = caught.value.render()
    assert where in rendered and words in rendered, rendered
    assert "preprod.yml" in rendered


def test_an_unknown_time_zone_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(config(tmp_path, zone="Europe/Atlantis"))
    assert "timezone" in caught.value.render() and "IANA" in caught.value.render()


def test_working_hours() -> None:
    hours = parse_working_hours("mon-fri 09:00-18:00, sat 10:00-12:00")
    assert hours.contains(datetime(2026, 11, 30, 9, 0, tzinfo=BERLIN))  # Monday
    assert not hours.contains(datetime(2026, 11, 30, 18, 0, tzinfo=BERLIN))
    assert not hours.contains(datetime(2026, 11, 30, 8, 59, tzinfo=BERLIN))
    assert hours.contains(datetime(2026, 12, 5, 11, 0, tzinfo=BERLIN))  # Saturday
    assert not hours.contains(datetime(2026, 12, 6, 11, 0, tzinfo=BERLIN))  # Sunday
    assert parse_working_hours("fri-mon 00:00-24:00").contains(
        datetime(2026, 12, 6, 23, 59, tzinfo=BERLIN)
    )


T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def pending(run_id: int, *roles: Awaited, hours_left: float = 20) -> PendingRun:
    return PendingRun(
        run_id, 1, f"svc-{run_id}", "1.0", "staging", "U0RM", T0, T0,
        T0 + timedelta(hours=hours_left), roles,
    )  # fmt: skip


def test_each_person_gets_one_group_across_runs_soonest_deadline_first() -> None:
    sre = Awaited("sre", "SRE", ("U0A", "U0B"))
    sec = Awaited("security", "Security", ("U0A",), "S0SEC")
    groups = by_person([pending(1, sre, hours_left=20), pending(2, sre, sec, hours_left=5)])
    assert list(groups) == ["U0A", "U0B"]
    assert [(i.run.run_id, i.role.role) for i in groups["U0A"]] == [
        (2, "sre"), (2, "security"), (1, "sre"),
    ]  # fmt: skip


def test_nudge_numbers_and_warning_window() -> None:
    hour = 3600.0
    assert nudge_number(T0, T0 + timedelta(hours=3, minutes=59), 4 * hour, 4 * hour) is None
    assert nudge_number(T0, T0 + timedelta(hours=4), 4 * hour, 4 * hour) == 0
    assert nudge_number(T0, T0 + timedelta(hours=7, minutes=59), 4 * hour, 4 * hour) == 0
    assert nudge_number(T0, T0 + timedelta(hours=8), 4 * hour, 4 * hour) == 1
    deadline = T0 + timedelta(hours=24)
    assert not warning_due(T0, deadline, deadline - timedelta(hours=2, seconds=1), 2 * hour)
    assert warning_due(T0, deadline, deadline - timedelta(hours=2), 2 * hour)
    assert not warning_due(T0, deadline, deadline, 2 * hour)
    # a deadline shorter than the warning: nothing to warn of
    assert not warning_due(T0, T0 + timedelta(hours=1), T0 + timedelta(minutes=30), 2 * hour)


def test_sixty_pending_runs_fit_one_digest_and_a_long_dm_is_summarised() -> None:
    people = tuple(f"U0P{i:03d}" for i in range(40))
    runs = [pending(i, Awaited("sre", "SRE <&>", people, "S0SRE")) for i in range(1, 61)]
    links = {r.run_id: f"https://standin.slack.com/archives/C0/p{r.run_id}" for r in runs}
    message = assert_valid(digest_message(digest(T0, runs), T0, links, "http://x/runs"))
    text = str(message.blocks)
    assert len(message.blocks) <= MAX_BLOCKS and "and 20 more" in text and "http://x/runs" in text
    assert "SRE &lt;&amp;&gt;" in text and "<!subteam^S0SRE>" in text and "and 30 more" in text
    sre = Awaited("sre", "SRE", people)
    items = [Item(r, sre) for r in runs]
    dm = assert_valid(direct_message(items, T0, links, "http://x/runs"))
    assert len([b for b in dm.blocks if b["type"] == "actions"]) == 15
    assert "and 45 more" in str(dm.blocks)


def test_preprod_schedule_lists_each_job_and_its_next_five_fire_times(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli.main import main

    assert main(["schedule", "--config", str(config(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "time zone Europe/Berlin" in out
    assert "digest  (0 9 * * mon-fri)" in out and "reminders  (* * * * *)" in out
    digest_lines = out.split("reminders")[0].splitlines()
    assert len([line for line in digest_lines if line.endswith(("CET", "CEST"))]) == 5
    assert main(["digest", "--config", str(config(tmp_path))]) == 2
