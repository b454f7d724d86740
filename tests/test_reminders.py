"""Reminders end to end over the Slack stand-in, the real bot and a controlled clock
(time-machine): the weekday digest and its DMs across the end of summer time, a DM's
Approve button, nudges in working hours, the deadline warning, EXPIRED once, the
requester's outcome DM, a missed digest after a restart, and two schedulers on one
database (SQLite and PostgreSQL)."""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import io
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from rich.console import Console
from sqlmodel import Session, select

from bot.cli import schedule_cmd
from bot.config.loader import load_config
from bot.gate.reading import Loaded
from bot.gate.sweeps import Sweeps
from bot.settings import Settings
from bot.slack.actions import APPROVE
from bot.store.audit_log import AuditLog
from bot.store.clock import DatabaseClock
from bot.store.models import DecisionRecord, SignOff, SlackThread
from bot.web.app import create_app
from bot.web.bot import Bot, build_bot
from slack_standin import Message, SlackStandIn
from slack_standin.serving import StandInServer
from tests.slackbot import CHANNEL, USERS, Harness
from tests.support.target import RunningTarget

BERLIN = ZoneInfo("Europe/Berlin")
RM, SRE1, SRE2, SEC = "U0RM", "U0SRE1", "U0SRE2", "U0SEC1"
AWAITED = (SRE1, SRE2, SEC)
CONFIG = """\
channel: C0RELEASES
timezone: Europe/Berlin
roles:
  sre: {{label: SRE, members: [U0SRE1, U0SRE2]}}
  security: {{label: Security, usergroup: S0SEC}}
policy:
  required_signoffs: [sre, security]
  signoff_deadline: {deadline}
schedule:
  digest: "0 9 * * mon-fri"
  nudge_after: 4h
  nudge_every: 4h
  warn_before: 2h
  working_hours: "mon-fri 09:00-18:00"
  misfire_grace: 1h
environments:
  staging: {{base_url: "{url}", plan: standard}}
plans:
  standard:
    checks:
      - {{id: smoke, type: http, requests: [{{path: /healthz}}]}}
"""


def berlin(day: int, hour: int, minute: int = 0, month: int = 11, *, second: float = 0) -> datetime:
    whole = int(second)
    return datetime(
        2026, month, day, hour, minute, whole, int((second - whole) * 1e6), tzinfo=BERLIN
    )


def config_file(tmp_path: Path, target: RunningTarget, deadline: str = "24h") -> Path:
    path = tmp_path / "preprod.yml"
    path.write_text(CONFIG.format(url=target.http_url, deadline=deadline))
    return path


def new_standin() -> SlackStandIn:
    return SlackStandIn(
        users=USERS,
        usergroups={"S0SEC": [SEC]},
        channels={CHANNEL: "releases"},
        enforce_rate_limits=True,
    )


@asynccontextmanager
async def serving(
    standin: SlackStandIn, config: Path, database_url: str, *, schedule: bool = True
) -> AsyncIterator[Harness]:
    """The real bot over HTTP on ``database_url``; ``schedule=False`` stops its scheduler
    so that a test runs the jobs itself at the instants it chooses."""
    bot = make_bot(standin, config, database_url)
    server = StandInServer(create_app(bot))
    await server.start()
    standin.bot_url = f"http://127.0.0.1:{server.port}/slack/events"
    bot.start(schedule=schedule)  # what the app's lifespan does in `preprod serve`
    try:
        yield Harness(standin, bot, f"http://127.0.0.1:{server.port}")
    finally:
        await bot.aclose()
        await server.stop()


def make_bot(standin: SlackStandIn, config: Path, database_url: str) -> Bot:
    settings = Settings(
        bot_token=standin.token,
        signing_secret=standin.signing_secret,
        api_url=standin.api_url,
        config_path=str(config),
        database_url=database_url,
        update_interval=0.2,
    )
    return build_bot(settings, load_config(config))


async def start_run(harness: Harness, service: str) -> int:
    before = len(parents(harness))
    await harness.command(f"start {service} 2.14.0 staging", user=RM)
    await harness.settle()
    await harness.until(lambda: len(panels(harness)) == before + 1)
    return before + 1


def parents(harness: Harness) -> list[Message]:
    return [m for m in harness.standin.channel(CHANNEL).messages if "Pre-production" in m.text]


def panels(harness: Harness) -> dict[int, str]:
    with Session(harness.bot.store.engine) as session:
        threads = session.exec(select(SlackThread)).all()
    return {t.run_id: t.gate_ts for t in threads if t.gate_ts}


def digests(standin: SlackStandIn) -> list[Message]:
    return [m for m in standin.channel(CHANNEL).messages if m.text.startswith("Sign-off digest")]


def dms(standin: SlackStandIn, user: str) -> list[Message]:
    channel = standin.workspace.channels.get("D" + user.removeprefix("U"))
    return channel.messages if channel else []


def replies(standin: SlackStandIn, prefix: str) -> list[Message]:
    return [
        m for m in standin.channel(CHANNEL).all_messages if m.is_reply and m.text.startswith(prefix)
    ]


def announcements(standin: SlackStandIn) -> list[Message]:
    return [
        m for m in standin.channel(CHANNEL).messages if m.thread_ts is None and "EXPIRED" in m.text
    ]


async def fire_digest(harness: Harness, clock: time_machine.Coordinates, slot: datetime) -> None:
    """Just before ``slot``, the real scheduler is woken to look at the clock again: it
    fires the digest job at the slot, on its own timer; this waits for the job to end."""
    scheduler = harness.bot.scheduler.scheduler
    done: list[str] = []

    def executed(event: JobExecutionEvent) -> None:
        done.append(event.job_id)

    scheduler.add_listener(executed, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    before = len(digests(harness.standin))
    clock.move_to(slot - timedelta(seconds=0.3))
    scheduler.wakeup()
    await harness.until(lambda: "digest" in done, timeout=10)
    scheduler.remove_listener(executed)
    assert len(digests(harness.standin)) == before + 1


async def test_weekday_digest_and_grouped_dms_across_the_end_of_summer_time(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    standin = await new_standin().start()
    config = config_file(tmp_path, healthy_target, deadline="7d")
    try:
        with time_machine.travel(berlin(23, 7, month=10), tick=True) as clock:  # a Friday
            async with serving(standin, config, f"sqlite:///{tmp_path}/bot.db") as harness:
                first = await start_run(harness, "checkout-api")
                await start_run(harness, "billing")
                await fire_digest(harness, clock, berlin(23, 9, month=10))
                await harness.until(lambda: all(len(dms(standin, u)) == 1 for u in AWAITED))
                [digest] = digests(standin)
                body = str(digest.blocks)
                assert "2 releases awaiting sign-off" in digest.text
                assert "checkout-api" in body and "billing" in body and "<!subteam^S0SEC>" in body
                assert "https://standin.slack.com/archives/C0RELEASES/p" in body  # the thread
                assert dms(standin, RM) == []  # the requester may not sign
                for user in AWAITED:  # one DM each, grouping both runs, with the panel's buttons
                    [dm] = dms(standin, user)
                    assert "2 sign-offs awaiting you" in dm.text
                    assert dm.button_labels().count(dm.button_labels()[0]) == 2

                # the weekend: the next digest is Monday 09:00, in winter time (08:00 UTC)
                clock.move_to(berlin(24, 8, 59, month=10))
                harness.bot.scheduler.scheduler.wakeup()
                job = harness.bot.scheduler.scheduler.get_job("digest")
                assert job.next_run_time == berlin(26, 9, month=10)
                assert job.next_run_time.utcoffset() == timedelta(hours=1)
                await fire_digest(harness, clock, berlin(26, 9, month=10))
                await harness.until(lambda: all(len(dms(standin, u)) == 2 for u in AWAITED))
                assert len(digests(standin)) == 2

                # a DM's Approve records the signature as the panel's does; the panel updates
                dm = dms(standin, SRE1)[-1]
                response = await standin.click(
                    SRE1, dm.ts, dm.channel, APPROVE, block_id=f"signoff:sre:{first}"
                )
                assert response.status_code == 200
                with Session(harness.bot.store.engine) as session:
                    signed = session.exec(select(SignOff)).all()
                assert [(s.run_id, s.role, s.user) for s in signed] == [(first, "sre", SRE1)]
                panel_ts = panels(harness)[first]
                await harness.until(
                    lambda: (
                        "approved by <@U0SRE1>"
                        in str(standin.find_message(CHANNEL, panel_ts).blocks)
                    )
                )
    finally:
        await standin.stop()
    assert not [c for c in standin.calls if c.status == 429]


async def test_nudges_in_working_hours_one_warning_expired_once_and_the_outcome_dm(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    standin = await new_standin().start()
    config = config_file(tmp_path, healthy_target, deadline="30h")
    try:
        with time_machine.travel(berlin(30, 8), tick=True) as clock:  # Monday, 08:00
            async with serving(
                standin, config, f"sqlite:///{tmp_path}/bot.db", schedule=False
            ) as harness:
                run_id = await start_run(harness, "checkout-api")
                reminders = harness.bot.reminders
                gate = harness.bot.gate
                loads: list[int] = []
                reminding = contextvars.ContextVar("reminding", default=False)
                load = gate.load

                async def counted(run_id: int) -> Loaded:
                    if reminding.get():
                        loads.append(run_id)
                    return await load(run_id)

                gate.load = counted  # type: ignore[method-assign]

                async def at(moment: datetime) -> None:
                    clock.move_to(moment)
                    loads.clear()
                    reminding.set(True)
                    try:
                        await reminders.remind()
                    finally:
                        reminding.set(False)

                def nudges() -> list[Message]:
                    return replies(standin, "Reminder:")

                await at(berlin(30, 11, 59))
                assert nudges() == []
                await at(berlin(30, 12, 1))  # 4h after the checks finished
                [first] = nudges()
                assert all(who in str(first.blocks) for who in ("<@U0SRE1>", "<@U0SRE2>"))
                assert "<!subteam^S0SEC>" in str(first.blocks)
                assert loads == [run_id]  # who may still sign: the nudge names them
                await at(berlin(30, 12, 30))
                assert loads == []  # the minute's job loads no run whose nudge Slack has
                await at(berlin(30, 15, 59))
                assert len(nudges()) == 1 and loads == []
                await at(berlin(30, 16, 1))  # 4h later
                assert len(nudges()) == 2
                await at(berlin(30, 20, 1))  # outside working hours
                await at(berlin(1, 8, 30, month=12))
                assert len(nudges()) == 2

                panel_ts = panels(harness)[run_id]
                await standin.click(SRE2, panel_ts, CHANNEL, APPROVE, block_id="signoff:sre")
                await harness.until(lambda: bool(signoffs(harness)))
                await at(berlin(1, 9, 1, month=12))  # working hours again: SRE signed
                assert len(nudges()) == 3
                latest = str(nudges()[-1].blocks)
                assert "<!subteam^S0SEC>" in latest and "U0SRE" not in latest

                def warnings() -> list[Message]:
                    return replies(standin, "Deadline soon")

                await at(berlin(1, 12, 1, month=12))  # 2h before the deadline (14:00)
                await at(berlin(1, 12, 30, month=12))
                await at(berlin(1, 13, 59, month=12))
                [warning] = warnings()
                assert "<!subteam^S0SEC>" in str(warning.blocks)
                assert "U0SRE" not in str(warning.blocks)

                clock.move_to(berlin(1, 14, 1, month=12))
                assert await reminders.expire() == [run_id]
                await reminders.expire()
                await Sweeps(harness.bot.gate).sweep(0)
                await harness.until(lambda: len(announcements(standin)) == 1)
                with Session(harness.bot.store.engine) as session:
                    [decision] = session.exec(select(DecisionRecord)).all()
                assert decision.outcome == "expired"
                await harness.until(lambda: len(dms(standin, RM)) == 1)
                assert "EXPIRED" in dms(standin, RM)[0].text
                count = len(nudges())
                await at(berlin(1, 16, 1, month=12))
                await Sweeps(harness.bot.gate).sweep(0)
                await asyncio.sleep(0.2)  # let anything wrongly triggered show up
                assert len(nudges()) == count and len(warnings()) == 1
                assert len(announcements(standin)) == 1 and len(dms(standin, RM)) == 1
    finally:
        await standin.stop()


def signoffs(harness: Harness) -> list[SignOff]:
    with Session(harness.bot.store.engine) as session:
        return list(session.exec(select(SignOff)))


async def test_a_missed_digest_is_posted_once_after_a_restart_within_the_grace(
    healthy_target: RunningTarget, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    standin = await new_standin().start()
    config = config_file(tmp_path, healthy_target, deadline="7d")
    url = f"sqlite:///{tmp_path}/bot.db"
    try:
        with time_machine.travel(berlin(30, 8), tick=True) as clock:
            async with serving(standin, config, url) as harness:
                await start_run(harness, "checkout-api")
            for minute in (30, 40):  # up at 09:30, and again at 09:40
                clock.move_to(berlin(30, 9, minute))
                async with serving(standin, config, url) as harness:
                    await harness.until(lambda: harness.bot.scheduler.catch_up is not None)
                    assert harness.bot.scheduler.catch_up is not None
                    await harness.bot.scheduler.catch_up
                assert len(digests(standin)) == 1
                assert all(len(dms(standin, u)) == 1 for u in AWAITED)
            clock.move_to(berlin(1, 10, 30, month=12))  # Tuesday's 09:00 is 1.5h ago
            with caplog.at_level(logging.INFO, logger="bot.schedule.jobs"):
                async with serving(standin, config, url) as harness:
                    await harness.until(lambda: harness.bot.scheduler.catch_up is not None)
                    assert harness.bot.scheduler.catch_up is not None
                    await harness.bot.scheduler.catch_up
            assert len(digests(standin)) == 1
            assert "past schedule.misfire_grace; skipped" in caplog.text
    finally:
        await standin.stop()


async def test_a_fresh_database_misses_no_digest(
    healthy_target: RunningTarget, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A bot started for the first time logged that the digest of the last slot "was
    missed": nothing was pending then, and nobody missed it (issue 24, point 8)."""
    standin = await new_standin().start()
    config = config_file(tmp_path, healthy_target)
    try:
        with (
            time_machine.travel(berlin(1, 10, 30, month=12), tick=True),  # 09:00: 1.5h ago
            caplog.at_level(logging.INFO, logger="bot.schedule.jobs"),
        ):
            async with serving(standin, config, f"sqlite:///{tmp_path}/bot.db") as harness:
                await harness.until(lambda: harness.bot.scheduler.catch_up is not None)
                assert harness.bot.scheduler.catch_up is not None
                await harness.bot.scheduler.catch_up
        assert "was missed" not in caplog.text
        assert digests(standin) == []
    finally:
        await standin.stop()


async def two_schedulers_send_once(target: RunningTarget, tmp_path: Path, url: str) -> None:
    standin = await new_standin().start()
    config = config_file(tmp_path, target, deadline="7d")
    try:
        with time_machine.travel(berlin(30, 8), tick=True) as clock:
            async with serving(standin, config, url, schedule=False) as harness:
                await start_run(harness, "checkout-api")
                await start_run(harness, "billing")
            await dry_run_shows_the_next_digest(config, url)
            one, two = make_bot(standin, config, url), make_bot(standin, config, url)
            try:
                clock.move_to(berlin(30, 9, 0, second=1))
                sent = await asyncio.gather(one.reminders.digest(), two.reminders.digest())
                assert sum(s.messages for s in sent) == 1 + len(AWAITED)
                clock.move_to(berlin(30, 12, 1))
                await asyncio.gather(one.reminders.remind(), two.reminders.remind())
                await asyncio.gather(one.reminders.digest(), two.reminders.digest())
                trail = [
                    e for e in await AuditLog(one.store).events() if e.action == "reminder.sent"
                ]
            finally:
                await one.aclose()
                await two.aclose()
        # the audit trail holds each reminder once, whichever scheduler sent it
        keys = [e.details["key"] for e in trail]
        assert len(keys) == len(set(keys)) == 1 + len(AWAITED) + 2, keys
        assert len(digests(standin)) == 1
        assert all(len(dms(standin, u)) == 1 for u in AWAITED)
        assert len(replies(standin, "Reminder:")) == 2  # one per run
        # racing, both may open a person's DM channel (harmless); only one posts in it
        assert len(standin.calls_to("conversations.open")) <= 2 * len(AWAITED)
    finally:
        await standin.stop()


async def dry_run_shows_the_next_digest(config: Path, url: str) -> None:
    """``preprod digest --dry-run``: the next digest and its DMs, nothing sent."""
    out, err = io.StringIO(), io.StringIO()
    args = argparse.Namespace(dry_run=True, config=str(config), database=url)
    code = await schedule_cmd.dry_run(args, Console(file=out, width=300), Console(file=err))
    text = out.getvalue()
    assert code == 0, err.getvalue()
    assert "Next digest: Mon 2026-11-30 09:00 CET in channel C0RELEASES" in text
    assert "2 release(s) awaiting sign-off (ages as of that digest)" in text
    assert "h old then" in text and "h left then" in text  # not now: at 09:00 Monday
    assert "usergroup S0SEC" in text
    assert "U0SRE1: 2 sign-off(s)" in text and "U0SRE2: 2 sign-off(s)" in text
    assert "U0RM" not in text.split("DMs")[1]


async def test_two_schedulers_on_one_sqlite_file_send_each_reminder_once(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    await two_schedulers_send_once(healthy_target, tmp_path, f"sqlite:///{tmp_path}/bot.db")


async def test_two_schedulers_on_one_postgres_database_send_each_reminder_once(
    healthy_target: RunningTarget,
    tmp_path: Path,
    postgres_database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # This test moves time with time_machine; PostgreSQL's clock cannot move with it, and
    # leases and slots follow the database's clock there (a process days away from it
    # would rightly claim nothing). So these processes take their own, travelled clock
    # as the database's, as on SQLite: what is tested is that two schedulers send once.
    started = DatabaseClock.__init__

    def travelling(clock: DatabaseClock, *args: Any, **kwargs: Any) -> None:
        started(clock, *args, **kwargs)
        clock.shared = False

    monkeypatch.setattr(DatabaseClock, "__init__", travelling)
    await two_schedulers_send_once(healthy_target, tmp_path, postgres_database)
