"""Stopping the bot: SIGTERM hands a running run over at once (Locust killed, lease
released, run still running) so that a second replica finishes it long before the lease
would have expired; a second signal, or a stop that stalls, still ends the process within
a bounded time. `preprod serve` and `preprod socket` alike. Real processes, a real target,
real Locust and the Slack stand-in."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from sqlmodel import Session, select

from bot.store.leases import Leases
from bot.store.models import Run, RunStatus
from bot.store.runs import RunStore
from bot.web.shutdown import release_leases_now
from tests.support.processes import (
    Bots,
    bots,
    free_port,
    load_is_running,
    start_load_run,
    until,
    write_plan,
)
from tests.support.target import RunningTarget


async def stall_progress_updates(group: Bots) -> None:
    """Slack stalls: a progress update is told to retry in 30 s, and the hand-over's final
    flush waits behind it."""
    before = len(group.standin.calls_to("chat.update"))
    group.standin.rate_limit("chat.update", times=50, retry_after=30)
    await until(lambda: len(group.standin.calls_to("chat.update")) > before, timeout=10)


async def test_sigterm_hands_the_run_over_and_another_replica_finishes_it(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    config = write_plan(tmp_path, healthy_target, duration="4s")
    async with bots(config, tmp_path, lease_ttl=60) as group:
        first = group.serve()
        await start_load_run(group)
        stopped_at = time.monotonic()
        group.signal(first, signal.SIGTERM)
        first.wait(timeout=15)
        assert time.monotonic() - stopped_at < 10, "SIGTERM must end the process within 10 s"
        assert group.locust() == [], "Locust killed on SIGTERM"
        assert group.query("SELECT status, lease_owner FROM run") == [("RUNNING", None)]
        assert "handed over" in group.logs(), group.logs()

        group.serve()  # the lease is free: resumed at once, not after 60 s
        took = await until(
            lambda: group.query("SELECT status FROM run") == [("FINISHED",)], timeout=30
        )
        assert took < 25, took
        statuses = {
            row[0]: row[1] for row in group.query("SELECT check_id, status FROM checkrecord")
        }
        assert statuses == {"smoke": "passed", "load": "passed"}, statuses
        assert "Traceback" not in group.logs(), group.logs()


async def test_second_sigterm_forces_the_exit_and_still_kills_locust(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    config = write_plan(tmp_path, healthy_target, duration="60s")
    async with bots(config, tmp_path, lease_ttl=60) as group:
        serve = group.serve()
        await start_load_run(group)
        await stall_progress_updates(group)
        group.signal(serve, signal.SIGTERM)
        time.sleep(0.5)
        stopped_at = time.monotonic()
        group.signal(serve, signal.SIGTERM)
        serve.wait(timeout=15)
        assert time.monotonic() - stopped_at < 3
        assert group.locust() == []
        assert group.query("SELECT status, lease_owner FROM run") == [("RUNNING", None)]


async def test_a_stalled_stop_ends_within_the_limit_with_the_lease_released(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    config = write_plan(tmp_path, healthy_target, duration="60s")
    async with bots(config, tmp_path, lease_ttl=60) as group:
        serve = group.serve()
        await start_load_run(group)
        await stall_progress_updates(group)
        stopped_at = time.monotonic()
        group.signal(serve, signal.SIGTERM)
        serve.wait(timeout=20)
        assert time.monotonic() - stopped_at < 12, "the stop is bounded"
        assert group.locust() == []
        assert group.query("SELECT status, lease_owner FROM run") == [("RUNNING", None)]


async def test_sigterm_of_socket_mode_hands_its_runs_over(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    """`preprod socket` resumes a run left by a killed `serve`, then stops on SIGTERM as
    `serve` does (the stand-in has no Socket Mode: the socket never connects)."""
    config = write_plan(tmp_path, healthy_target, duration="60s")
    async with bots(config, tmp_path, lease_ttl=60) as group:
        serve = group.serve()
        await start_load_run(group)
        group.signal(serve, signal.SIGTERM)
        serve.wait(timeout=15)
        group.query("UPDATE run SET lease_owner = NULL")  # (already released by SIGTERM)

        env = {**group.env, "SLACK_APP_TOKEN": "xapp-test"}
        socket = group.spawn("socket", "--port", str(free_port()), env=env)
        await until(lambda: len(group.locust()) == 2, timeout=30)  # resumed
        await until(load_is_running(group.tmp_path))
        stopped_at = time.monotonic()
        group.signal(socket, signal.SIGTERM)
        socket.wait(timeout=15)
        assert time.monotonic() - stopped_at < 10
        assert group.locust() == []
        assert group.query("SELECT status, lease_owner FROM run") == [("RUNNING", None)]


def test_a_forced_exit_releases_only_this_process_s_running_runs(tmp_path: Path) -> None:
    """The forced exit's last act: one UPDATE from a plain thread, the loop may be stuck."""
    store = RunStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    mine, other = Leases(store, owner="me"), Leases(store, owner="other")
    rows = [
        mine.stamp(Run(service="s", version="1", environment="e", plan="p", base_url="u")),
        mine.stamp(Run(service="s", version="2", environment="e", plan="p", base_url="u")),
        other.stamp(Run(service="s", version="3", environment="e", plan="p", base_url="u")),
        mine.stamp(
            Run(
                service="s",
                version="4",
                environment="e",
                plan="p",
                base_url="u",
                status=RunStatus.FINISHED,
            )
        ),
    ]
    with Session(store.engine) as session:
        session.add_all(rows)
        session.commit()

    assert release_leases_now(store, "me") == 2

    with Session(store.engine) as session:
        owners = {run.version: run.lease_owner for run in session.exec(select(Run))}
    assert owners == {"1": None, "2": None, "3": "other", "4": "me"}
