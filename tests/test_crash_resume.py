"""A `preprod serve` killed with SIGKILL mid-run, then started again: the run resumes where
it stopped, finished checks are not run again, and the thread gains no second copy of
any message. Real processes, a real target and the Slack stand-in over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support.plans import (
    SMOKE_HEALTHZ,
    SMOKE_VERSION,
    config_file,
    http_check,
    slow_items,
    staging_config,
)
from tests.support.processes import bots, until
from tests.support.target import RunningTarget, served
from tests.support.workspace import CHANNEL


async def test_a_killed_bot_resumes_the_run_without_redoing_or_reposting(
    target_factory: Callable[..., RunningTarget], tmp_path: Path
) -> None:
    target = target_factory("slow")  # each /api/items takes 1.2 s: the `slow` check ~3.6 s
    checks = (SMOKE_VERSION, slow_items(3), http_check("last", "/healthz"))
    config = config_file(tmp_path, staging_config(target.http_url, *checks))
    async with bots(config, tmp_path, lease_ttl=1.5) as group:
        first = group.serve()
        response = await group.standin.send_command(
            "start checkout-api 2.14.0 staging", user_id="U0RM", channel_id=CHANNEL
        )
        assert response.status_code == 200
        await until(lambda: served(target, "/api/items") >= 1, timeout=60)  # `slow` is under way
        group.kill(first)
        assert group.query("SELECT status FROM run") == [("RUNNING",)]
        states = dict(group.query("SELECT check_id, status FROM checkrecord"))
        assert states == {"smoke": "passed", "slow": "running", "last": "passed"}

        group.serve()  # a new process: it claims the run once the dead one's lease is out
        await until(lambda: group.query("SELECT status FROM run") == [("FINISHED",)], timeout=60)

        assert served(target, "/version") == 1, "a finished check ran again"
        assert served(target, "/healthz") == 1, "a finished check ran again"
        statuses = dict(group.query("SELECT check_id, status FROM checkrecord"))
        assert statuses == {"smoke": "passed", "slow": "passed", "last": "passed"}
        channel = group.standin.channel(CHANNEL)
        parents = [m for m in channel.messages if m.thread_ts in (None, m.ts)]
        assert len(parents) == 1, "one parent message, however often the run resumes"

        def thread() -> list[str]:
            return [m.text for m in group.standin.thread(CHANNEL, parents[0].ts)]

        await until(lambda: any(t.startswith("Results for") for t in thread()), timeout=60)
        await until(lambda: any("sign-off" in t.lower() for t in thread()), timeout=60)
        assert sum(t.startswith("Results for") for t in thread()) == 1, thread()
        assert sum("resumed after a restart" in t for t in thread()) == 1, thread()
        assert len([t for t in thread() if " checks done" in t]) == 1, "one progress message"
        assert "Traceback" not in group.logs()


async def test_a_kill_right_after_the_deciding_click_decides_and_announces_once(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    """SIGKILL 0, 20 and 50 ms after the only approval a run needs: after a restart each
    run whose approval was stored is decided GO and announced exactly once (whether or
    not its ack got out), and an approval that was not stored was never acknowledged."""
    config = config_file(tmp_path, staging_config(healthy_target.http_url, SMOKE_HEALTHZ))
    delays = (0.0, 0.02, 0.05)
    async with bots(config, tmp_path, lease_ttl=1.5) as group:
        serve = group.serve()
        channel = group.standin.channel(CHANNEL)
        services = [f"svc{number}" for number in range(1, len(delays) + 1)]
        for service in services:  # every run waits for its approval before the first kill
            await group.standin.send_command(
                f"start {service} 1.0 staging", user_id="U0RM", channel_id=CHANNEL
            )

        def panel(service: str) -> str | None:
            parent = next((m for m in channel.messages if service in m.text), None)
            if parent is None:
                return None
            found = [m for m in group.standin.thread(CHANNEL, parent.ts) if m.button_labels()]
            return found[0].ts if found else None

        await until(lambda: all(panel(s) is not None for s in services), timeout=60)
        stored = []
        for number, (service, delay) in enumerate(zip(services, delays, strict=True), start=1):
            ts = panel(service)
            assert ts is not None
            click = asyncio.create_task(
                group.standin.click("U0SRE1", ts, CHANNEL, "signoff_approve")
            )
            await asyncio.sleep(delay)
            group.kill(serve)
            try:
                acked = (await click).status_code == 200
            except httpx.HTTPError:
                acked = False
            serve = group.serve()
            signed = group.query(f"SELECT count(*) FROM signoff WHERE run_id = {number}")
            if signed == [(0,)]:
                assert not acked, "an acknowledged click was lost"
                continue  # the clicker saw the click fail and nothing counts
            stored.append((number, service, ts))
        # Stored: it counts even when the kill cut off its ack on the way out (the clicker
        # saw an error, then sees the announcement): decided and announced once.
        for number, service, ts in stored:
            await until(
                lambda n=number: (
                    group.query(
                        f"SELECT announcement_ts IS NOT NULL FROM decisionrecord WHERE run_id = {n}"
                    )
                    == [(1,)]
                ),
                timeout=60,
            )
            announced = [
                m for m in channel.messages if m.text.startswith("GO") and service in m.text
            ]
            assert len(announced) == 1, [m.text for m in channel.messages]
            parent = next(
                m for m in channel.messages if "Pre-production" in m.text and service in m.text
            )
            in_thread = [  # the panel (at ts) reads GO too once decided: not an announcement
                m
                for m in group.standin.thread(CHANNEL, parent.ts)
                if m.text.startswith("GO") and m.ts != ts
            ]
            assert len(in_thread) == 1
            await until(
                lambda t=ts: not group.standin.channel(CHANNEL).message(t).button_labels(),
                timeout=60,
            )
        assert "Traceback" not in group.logs()


UNSAFE_PLAN = """\
channel: C0RELEASES
roles: {{sre: {{members: [U0SRE1]}}, release: {{members: [U0RM]}}}}
policy: {{required_signoffs: [sre]}}
environments:
  staging: {{base_url: {url}, plan: p}}
plans:
  p:
    started_by: [release]  # a plan with a drill: only the signing roles, unless said
    checks:
      - {{id: smoke, type: http, requests: [{{path: /healthz}}]}}
      - id: failover
        type: drill
        critical: false
        script: {{argv: ["{{python}}", "-c", "{script}"], timeout: 30s}}
"""
DRILL = (
    "import pathlib, time; p = pathlib.Path('{marker}'); "
    "p.write_text(p.read_text() + 'ran' if p.exists() else 'ran'); time.sleep(3)"
)
"""A drill that notes each start in ``marker`` (one 'ran' each), then takes 3 s."""


async def test_an_unsafe_check_cut_off_by_a_kill_waits_for_a_rerun(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    """A drill (``repeat_safe: false`` by default) under way when serve is SIGKILLed is
    recorded ``interrupted`` by the process that resumes the run, is not started again by
    itself, and ``/preprod rerun`` runs it and finishes the run."""
    marker = tmp_path / "drill-starts"
    script = DRILL.format(marker=marker)
    config = tmp_path / "preprod.yml"
    config.write_text(UNSAFE_PLAN.format(url=healthy_target.http_url, script=script))
    async with bots(config, tmp_path, lease_ttl=1.5) as group:
        first = group.serve()
        await group.standin.send_command(
            "start checkout-api 2.14.0 staging", user_id="U0RM", channel_id=CHANNEL
        )
        await until(lambda: marker.exists(), timeout=60)  # the drill is under way
        group.kill(first)
        serve = group.serve()
        states = "SELECT check_id, status FROM checkrecord ORDER BY attempt"
        await until(lambda: dict(group.query(states)).get("failover") == "interrupted", timeout=60)
        await until(lambda: group.query("SELECT status FROM run") == [("FINISHED",)], timeout=30)
        channel = group.standin.channel(CHANNEL)
        parent = next(m for m in channel.messages if "Pre-production" in m.text)
        await until(lambda: any("interrupted" in t for t in group.thread(parent)), timeout=30)
        await asyncio.sleep(4)  # time enough for a drill that was wrongly started again
        assert marker.read_text() == "ran", "the interrupted drill ran again by itself"

        ack = await group.command(serve, "rerun 1 failover")
        assert "Re-running check failover of run #1" in ack, ack
        await until(lambda: dict(group.query(states)).get("failover") == "passed", timeout=60)
        await until(lambda: group.query("SELECT status FROM run") == [("FINISHED",)], timeout=30)
        assert marker.read_text() == "ranran"
        assert dict(group.query(states))["smoke"] == "passed"
        assert "Traceback" not in group.logs()
