"""End to end through the local Slack stand-in over real HTTP: signed slash commands in,
Web API calls out, against the real example target."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.store.models import Run
from tests.slackbot import CHANNEL, Harness, running_bot
from tests.support.target import RunningTarget

CONFIG = """\
channel: C0RELEASES
roles:
  sre: {{label: SRE, members: [U0SRE1]}}
  security: {{label: Security, members: [U0SEC1]}}
environments:
  staging:
    base_url: {url}
    plan: standard
    ca_bundle: {ca}
    headers: {{Authorization: "Bearer {token}"}}
plans:
  standard:
    checks:
      - {{id: smoke, type: http, requests: [{{path: /healthz}}, {{path: /api/items, max_ms: 800}}]}}
      - {{id: headers, type: security_headers}}
      - {{id: auth, type: auth_required, paths: [/admin]}}
      - {{id: tls, type: tls}}
  slow:
    checks:
      - {{id: wait, type: scripted, outcome: hang, timeout: 1m}}
  big:
    checks:
{big}
"""

pytestmark = pytest.mark.usefixtures("scripted_kinds")


def write_config(tmp_path: Path, target: RunningTarget) -> Path:
    big = "\n".join(
        f"      - {{id: c{i:02d}, type: scripted, outcome: {'fail' if i % 10 == 0 else 'pass'}, "
        f'evidence: "x", evidence_repeat: 20000, critical: {"true" if i % 4 == 0 else "false"}}}'
        for i in range(60)
    )
    path = tmp_path / "preprod.yml"
    path.write_text(
        CONFIG.format(url=target.https_url, ca=target.ca_bundle, token=target.token, big=big)
    )
    return path


@pytest.fixture
async def healthy_bot(healthy_target: RunningTarget, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_bot(write_config(tmp_path, healthy_target), tmp_path) as harness:
        yield harness


@pytest.fixture
def bot_for(tmp_path: Path) -> Callable[[RunningTarget], object]:
    def make(target: RunningTarget) -> object:
        return running_bot(write_config(tmp_path, target), tmp_path)

    return make


async def test_start_opens_a_thread_streams_progress_and_posts_results(
    healthy_bot: Harness,
) -> None:
    began = time.perf_counter()
    ack = await healthy_bot.command("start checkout-api 2.14.0 staging")
    assert time.perf_counter() - began < 3.0
    assert "Starting the validation of checkout-api 2.14.0 on staging" in ack
    # The run is stored before the ack (the ack names it): a bot that dies right after
    # acking leaves a run to resume, never an acknowledged release that exists nowhere.
    assert "(run #1)" in ack
    await healthy_bot.settle()

    standin = healthy_bot.standin
    [parent] = healthy_bot.parents()
    assert "checkout-api" in parent.text and "2.14.0" in parent.text
    thread = standin.thread(CHANNEL, parent.ts)
    progress, results = thread[0], healthy_bot.results()
    assert "4/4" in str(progress.blocks)
    assert progress.edit_count >= 1
    assert "all blocking checks passed" in results.text
    assert not [m for m in thread if "failed" in m.text.lower()]
    updates = standin.calls_to("chat.update")
    assert 1 <= len(updates) <= 10
    assert all(call.ok for call in standin.calls)
    with Session(healthy_bot.bot.store.engine) as session:
        [run] = session.exec(select(Run)).all()
    assert run.requester == "U0RM" and run.status.value == "finished"


async def test_a_failing_check_gets_a_reply_with_evidence(
    target_factory: Callable[..., RunningTarget], tmp_path: Path
) -> None:
    target = target_factory("no-hsts", "open-admin")
    async with running_bot(write_config(tmp_path, target), tmp_path) as harness:
        await harness.command("start checkout-api 2.14.0 staging")
        await harness.settle()
        [parent] = harness.parents()
        thread = harness.standin.thread(CHANNEL, parent.ts)
        replies = " ".join(m.text for m in thread)
        assert "missing Strict-Transport-Security" in replies
        assert "/admin answered 200 without credentials" in replies
        assert "blocking failures" in harness.results().text
        assert target.token not in str([m.blocks for m in thread])


async def test_status_list_report_and_help(healthy_bot: Harness) -> None:
    await healthy_bot.command("start checkout-api 2.14.0 staging")
    await healthy_bot.settle()
    assert "preprod help" in await healthy_bot.command("help")
    status = await healthy_bot.command("status 1")
    assert "checkout-api" in status
    assert "checkout-api" in await healthy_bot.command("status")
    listing = healthy_bot.standin.ephemerals("U0RM")
    await healthy_bot.command("list")
    assert "checkout-api" in str(healthy_bot.standin.ephemerals("U0RM")[-1].blocks)
    assert len(healthy_bot.standin.ephemerals("U0RM")) == len(listing) + 1
    report = await healthy_bot.command("report 1")
    assert report == "Report of run #1: http://127.0.0.1:3000/runs/1"
    assert "no run #99" in await healthy_bot.command("report 99")


async def test_bad_input_gets_usage_and_known_environments(healthy_bot: Harness) -> None:
    usage = healthy_bot.standin.ephemerals("U0RM")
    assert "needs a service, a version and an environment" in await healthy_bot.command(
        "start checkout-api"
    )
    assert "/preprod start &lt;service&gt;" in str(
        healthy_bot.standin.ephemerals("U0RM")[-1].blocks
    )
    assert len(healthy_bot.standin.ephemerals("U0RM")) == len(usage) + 1
    await healthy_bot.command("start checkout-api 2.14.0 prod")
    assert "staging" in str(healthy_bot.standin.ephemerals("U0RM")[-1].blocks)
    assert "has no check 'nope'" in await healthy_bot.command("start svc 1 staging only=nope")
    assert healthy_bot.bot.manager.tasks == {}
    assert healthy_bot.parents() == []


async def test_start_only_in_the_release_channel(healthy_bot: Harness) -> None:
    ack = await healthy_bot.command("start checkout-api 2.14.0 staging", channel="C0RANDOM")
    assert "can only be started in" in ack
    assert healthy_bot.parents() == []


async def test_cancel_stops_the_run_and_says_so(healthy_bot: Harness) -> None:
    await healthy_bot.command("start svc 1.0 staging plan=slow")
    await healthy_bot.until(lambda: bool(healthy_bot.bot.manager.tasks))
    assert "Only the requester" in await healthy_bot.command("cancel 1", user="U0OUT")
    assert "Cancelling run #1" in await healthy_bot.command("cancel 1")
    await healthy_bot.settle()
    [parent] = healthy_bot.parents()
    thread = healthy_bot.standin.thread(CHANNEL, parent.ts)
    assert any("cancelled by <@U0RM>" in m.text for m in thread)
    run = await healthy_bot.bot.store.get_run(1)
    assert run is not None and run.status.value == "cancelled"
    assert "is not running" in await healthy_bot.command("cancel 1")


async def test_rerun_one_check_in_the_same_thread(healthy_bot: Harness) -> None:
    await healthy_bot.command("start checkout-api 2.14.0 staging")
    await healthy_bot.settle()
    assert "Re-running check tls of run #1" in await healthy_bot.command("rerun 1 tls")
    await healthy_bot.settle()
    [parent] = healthy_bot.parents()
    thread = healthy_bot.standin.thread(CHANNEL, parent.ts)
    assert any("re-runs check `tls`" in m.text for m in thread)
    assert "all blocking checks passed" in healthy_bot.results().text
    assert len([m for m in thread if "Results for" in m.text]) == 2
    answer = await healthy_bot.command("rerun 1 nope")  # one answer, in the ack itself
    assert "Run #1 has no check nope; its checks: " in answer and "Re-running" not in answer


async def test_bad_signature_and_old_timestamp_get_401_and_no_side_effect(
    healthy_bot: Harness,
) -> None:
    standin = healthy_bot.standin
    wrong = await standin.send_command("start svc 1 staging", user_id="U0RM", secret="wrong")
    old = await standin.send_command(
        "start svc 1 staging", user_id="U0RM", timestamp=int(time.time()) - 6 * 60
    )
    assert (wrong.status_code, old.status_code) == (401, 401)
    assert [c for c in standin.calls if c.method != "auth.test"] == []
    assert await healthy_bot.bot.store.list_runs() == []


async def test_a_429_storm_delays_but_loses_no_message(healthy_bot: Harness) -> None:
    healthy_bot.standin.rate_limit("chat.postMessage", times=3, retry_after=1)
    healthy_bot.standin.rate_limit("chat.update", times=2, retry_after=1)
    await healthy_bot.command("start checkout-api 2.14.0 staging")
    await healthy_bot.settle()
    limited = [c for c in healthy_bot.standin.calls if c.status == 429]
    assert len(limited) == 5
    [parent] = healthy_bot.parents()
    thread = healthy_bot.standin.thread(CHANNEL, parent.ts)
    assert "4/4" in str(thread[0].blocks)
    assert "all blocking checks passed" in healthy_bot.results().text


async def test_an_oversized_run_is_summarised_never_rejected(healthy_bot: Harness) -> None:
    await healthy_bot.command("start svc 1.0 staging plan=big")
    await healthy_bot.settle(timeout=90)
    standin = healthy_bot.standin
    rejected = [c for c in standin.calls if not c.ok]
    assert rejected == []
    [parent] = healthy_bot.parents()
    thread = standin.thread(CHANNEL, parent.ts)
    progress = thread[0]
    assert len(progress.blocks) <= 50
    assert "60/60" in str(progress.blocks)
    failure_replies = [m for m in thread if "truncated" in str(m.blocks)]
    assert len(failure_replies) == 6
    assert "blocking failures" in healthy_bot.results().text


async def test_a_release_channel_the_bot_cannot_post_in_is_reported(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    config = write_config(tmp_path, healthy_target)
    config.write_text(
        config.read_text().replace(
            "channel: C0RELEASES", "channel: C0GONE\nstarters: {users: [U0RM]}"
        )
    )
    async with running_bot(config, tmp_path) as harness:
        await harness.command("start checkout-api 2.14.0 staging")
        await harness.settle()
        replies = str(harness.standin.responses)
        assert "cannot post in <#C0GONE>" in replies and "channel_not_found" in replies
        run = await harness.bot.store.get_run(1)
        assert run is not None and run.status.value == "failed"
        assert harness.bot.manager.tasks == {}
