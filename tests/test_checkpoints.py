"""Chain heads published outside the database. The attacks a hash chain cannot see alone
(a cut tail, the last event rewritten with its hash, a middle event rewritten and every
later event re-hashed) are made with real SQL on SQLite and PostgreSQL: plain ``audit
verify`` calls each trail intact, ``--checkpoints FILE`` and ``--from-slack`` (checkpoints
posted in the stand-in's audit channel by the scheduled job) name each. Announcements
carry the head of their decision."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.audit.chain import GENESIS, Action, Entry, seal
from bot.audit.checkpoint import (
    chain_problem,
    make,
    parse,
    read_lines,
    signature_problem,
)
from bot.audit.keys import generate, load_private, load_public
from bot.cli.main import main
from bot.config.loader import ConfigError, load_config
from bot.schedule.checkpoints import Checkpoints
from bot.schedule.jobs import job_specs
from bot.slack.actions import APPROVE
from bot.slack.checkpoints import SlackCheckpoints, read_channel
from bot.slack.client import SlackClient
from bot.store.audit import Note
from bot.store.audit_log import AuditLog
from bot.store.runs import RunStore
from examples.processes import ROOT
from slack_standin import SlackStandIn
from slack_standin.serving import StandInServer
from tests.slackbot import CHANNEL, USERS, running_bot
from tests.support.processes import preprod_command
from tests.support.tamper import delete_tail, rewrite_and_rehash, rewrite_last
from tests.support.target import RunningTarget

T0 = datetime(2026, 12, 6, 6, 0, tzinfo=UTC)
AUDIT = "C0AUDIT"
KEY_ENV = "PREPROD_SIGNING_KEY_FILE"


def events(count: int, first: int = 1, prev: str = GENESIS) -> list[Entry]:
    chain = []
    for seq in range(first, first + count):
        event = seal(
            seq=seq, at=T0, run_id=1, actor="U0RM", action="test.event",
            details={"n": seq}, prev_hash=prev,
        )  # fmt: skip
        chain.append(event)
        prev = event.hash
    return chain


# -- the line, pure ------------------------------------------------------------------------


def test_a_signed_checkpoint_reads_back_and_verifies() -> None:
    key = Ed25519PrivateKey.generate()
    head = events(3)[-1]
    checkpoint = make(head, T0 + timedelta(microseconds=7), key)
    assert checkpoint.line.startswith(f"preprod-checkpoint v1 seq=3 head={head.hash} ")
    assert "at=2026-12-06T06:00:00Z key=ed25519:" in checkpoint.line
    assert parse(checkpoint.line) == checkpoint
    assert signature_problem(checkpoint, key.public_key()) is None
    assert checkpoint.short == f"audit #3 · {head.hash[:4]}…{head.hash[-4:]}"
    # copied out of a Slack message: in a code span, after other words
    copied = f"🔏 Checkpoint {checkpoint.short}: `{checkpoint.line}`"
    assert parse(copied) == checkpoint
    # an empty trail has a head too: nothing can be missing from it
    empty = make(None, T0)
    assert (empty.seq, empty.head, empty.key) == (0, GENESIS, None)
    assert chain_problem(empty, None, None) is None


def test_forged_unsigned_and_foreign_checkpoints_are_named() -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    head = events(3)[-1]
    genuine = make(head, T0, key)
    forged = replace(genuine, seq=2)  # the signature of another line
    assert signature_problem(forged, key.public_key()) == (
        "checkpoint of 2026-12-06T06:00:00Z (#2) is forged: its signature does not verify "
        f"with {genuine.key}"
    )
    reread = parse(genuine.line.replace(f"seq=3 head={head.hash}", f"seq=3 head={'0' * 64}"))
    assert "is forged" in (signature_problem(reread, key.public_key()) or "")
    assert signature_problem(make(head, T0), key.public_key()) == (
        "checkpoint of 2026-12-06T06:00:00Z (#3) is not signed"
    )
    assert "is signed by ed25519:" in (signature_problem(make(head, T0, other), key.public_key())
                                       or "")  # fmt: skip


def test_what_the_trail_lost_since_a_checkpoint_is_named() -> None:
    chain = events(5)
    checkpoint = make(chain[4], T0)
    assert chain_problem(checkpoint, chain[4], chain[4]) is None
    assert chain_problem(checkpoint, None, chain[2]) == (
        "the trail ends at #3 but checkpoint of 2026-12-06T06:00:00Z saw #5"
    )
    assert chain_problem(checkpoint, None, None) == (
        "the trail ends at nothing (it is empty) but checkpoint of 2026-12-06T06:00:00Z saw #5"
    )
    rewritten = replace(chain[4], hash="ab" * 32)
    assert chain_problem(checkpoint, rewritten, rewritten) == (
        f"event #5's hash is {'ab' * 32}, checkpoint of 2026-12-06T06:00:00Z published "
        f"{chain[4].hash}"
    )
    assert chain_problem(checkpoint, None, events(6)[-1]) == (
        f"event #5 is missing, checkpoint of 2026-12-06T06:00:00Z published it with hash "
        f"{chain[4].hash}"
    )


def test_lines_that_carry_the_mark_but_cannot_be_read_are_named() -> None:
    good = make(events(1)[0], T0).line
    found, problems = read_lines(
        ["# kept by ops", good, "preprod-checkpoint v1 seq=x head=1", "", good]
    )
    assert found == [parse(good), parse(good)]
    assert problems == ["line 3: a malformed checkpoint: expected seq=, head= (64 hex), at="]
    with pytest.raises(ValueError, match="no checkpoint"):
        parse("hello")


# -- the tamper table, in real databases -------------------------------------------------


def record(url: str, count: int) -> None:
    """``count`` events that stand for no table row (reminders sent), so that plain
    ``audit verify`` judges the chain alone: the gate's tables agree with them."""
    store = RunStore(url)

    async def work() -> None:
        log = AuditLog(store)
        for n in range(count):
            await log.record(Note(Action.REMINDER_SENT.value, f"U0SRE{n % 3}", 1, {"key": f"n{n}"}))

    asyncio.run(work())
    store.engine.dispose()


@pytest.fixture
def signing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bot's key pair on disk, named by ``PREPROD_SIGNING_KEY_FILE``; the public key's
    path is returned."""
    pair = generate()
    (tmp_path / "bot.pem").write_bytes(pair.private_pem)
    (tmp_path / "bot.pub.pem").write_bytes(pair.public_pem)
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "bot.pem"))
    return tmp_path / "bot.pub.pem"


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


ATTACKS = {
    "delete the last 3 events": (
        lambda url: delete_tail(url, 3),
        "checkpoint problem: the trail ends at #9 but checkpoint of {at} saw #12",
        1,
    ),
    "rewrite the last event and its hash": (
        rewrite_last,
        "checkpoint problem: event #12's hash is ",
        1,
    ),
    "rewrite event #5 and re-hash all after it": (
        lambda url: rewrite_and_rehash(url, 5),
        "checkpoint problem: event #12's hash is ",
        2,  # the checkpoint at #6 saw the change too
    ),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_each_attack_passes_plain_verify_and_is_named_by_the_checkpoints(
    attack: str,
    database: str,
    tmp_path: Path,
    signing: Path,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = (
        f"sqlite:///{tmp_path}/audit.db"
        if database == "sqlite"
        else request.getfixturevalue("postgres_database")
    )
    published = tmp_path / "checkpoints.log"
    record(url, 6)
    assert cli(capsys, "audit", "checkpoint", "--database", url, "--file", str(published))[0] == 0
    record(url, 6)
    code, output = cli(capsys, "audit", "checkpoint", "--database", url, "--file", str(published))
    assert code == 0 and "appended audit #12 · " in output
    [_, newest] = [parse(line) for line in published.read_text().splitlines()]
    check = ("audit", "verify", "--database", url, "--checkpoints", str(published))
    code, output = cli(capsys, *check, "--key", str(signing))
    assert code == 0, output
    assert "checkpoints: 2 from" in output and "all match the trail (signatures verified)" in output

    tamper, named, problems = ATTACKS[attack]
    tamper(url)
    code, output = cli(capsys, "audit", "verify", "--database", url)
    assert code == 0 and "audit trail intact" in output, output  # the chain alone is fooled
    code, output = cli(capsys, *check, "--key", str(signing))
    assert code == 1, output
    assert named.format(at=newest.at.strftime("%Y-%m-%dT%H:%M:%SZ")) in output, output
    assert output.count("checkpoint problem:") == problems, output


def test_a_forged_checkpoint_line_is_named_with_the_key(
    tmp_path: Path, signing: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/audit.db"
    published = tmp_path / "checkpoints.log"
    record(url, 4)
    cli(capsys, "audit", "checkpoint", "--database", url, "--file", str(published))
    genuine = parse(published.read_text())
    # the forger cuts the trail and edits the published line to match, keeping the signature
    delete_tail(url, 2)
    head = asyncio.run(AuditLog(RunStore(url)).head())
    assert head is not None
    forged = genuine.line.replace(f"seq=4 head={genuine.head}", f"seq=2 head={head.hash}")
    published.write_text(forged + "\n")
    check = ("audit", "verify", "--database", url, "--checkpoints", str(published))
    code, output = cli(capsys, *check)
    assert code == 0, output  # without the key, the forged line looks right
    code, output = cli(capsys, *check, "--key", str(signing))
    assert code == 1
    assert f"checkpoint of {genuine.at:%Y-%m-%dT%H:%M:%SZ} (#2) is forged" in output, output
    # a line made with the forger's own key is named as someone else's
    own = make(head, T0, Ed25519PrivateKey.generate())
    published.write_text(own.line + "\n")
    code, output = cli(capsys, *check, "--key", str(signing))
    assert code == 1 and f"is signed by {own.key}, not by the key given" in output, output


def test_checkpoints_that_cannot_be_had_are_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/audit.db"
    record(url, 2)
    empty = tmp_path / "empty.log"
    empty.write_text("nothing published here\n")
    code, output = cli(capsys, "audit", "verify", "--database", url, "--checkpoints", str(empty))
    assert code == 1 and f"checkpoint problem: no checkpoint found in {empty}" in output
    missing = tmp_path / "missing.log"
    code, output = cli(capsys, "audit", "verify", "--database", url, "--checkpoints", str(missing))
    assert code == 2 and f"--checkpoints {missing}: cannot read it" in output
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "nowhere.pem"))
    code, output = cli(capsys, "audit", "checkpoint", "--database", url, "--print")
    assert code == 2 and f"{KEY_ENV}={tmp_path}/nowhere.pem: cannot read the key file" in output


# -- the audit channel ------------------------------------------------------------------

CONFIG = """\
channel: C0RELEASES
audit: {{channel: C0AUDIT, checkpoint: "0 6 * * *", file: "{file}"}}
environments:
  staging: {{base_url: "http://127.0.0.1:9", plan: p}}
plans:
  p: {{checks: [{{id: smoke, type: http, requests: [{{path: /}}]}}]}}
"""


def audit_config(tmp_path: Path) -> Path:
    path = tmp_path / "preprod.yml"
    path.write_text(CONFIG.format(file=tmp_path / "published.log"))
    return path


def checkpoint_messages(standin: SlackStandIn) -> list[str]:
    return [m.text for m in standin.channel(AUDIT).messages if "preprod-checkpoint" in m.text]


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_the_scheduled_job_publishes_once_per_slot_across_replicas(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path}/bot.db"
        if database == "sqlite"
        else request.getfixturevalue("postgres_database")
    )
    config = load_config(audit_config(tmp_path))
    [spec] = [j for j in job_specs(config) if j.name == "checkpoint"]
    assert spec.cron == "0 6 * * *"  # the scheduler runs the job on the config's cron
    standin = await SlackStandIn(users=USERS, channels={CHANNEL: "r", AUDIT: "a"}).start()
    key = Ed25519PrivateKey.generate()
    clock = [T0 + timedelta(seconds=30)]
    stores = [RunStore(url), RunStore(url)]
    slacks = [SlackClient(standin.token, base_url=standin.api_url) for _ in stores]
    jobs = [
        Checkpoints(
            config, store, SlackCheckpoints(store, slack), clock=lambda: clock[0], key=lambda: key
        )
        for store, slack in zip(stores, slacks, strict=True)
    ]
    try:
        await asyncio.to_thread(record, url, 5)
        results = await asyncio.gather(jobs[0].publish(), jobs[1].publish(), jobs[0].publish())
        assert sum(r is not None for r in results) >= 1
        [message] = checkpoint_messages(standin)
        assert "audit #5 · " in message
        published = (tmp_path / "published.log").read_text().splitlines()
        assert len(published) == 1 and parse(published[0]).seq == 5
        assert signature_problem(parse(message), key.public_key()) is None
        clock[0] = T0 + timedelta(hours=3)  # past the slot's grace: nothing more
        assert await jobs[1].publish() is None
        await asyncio.to_thread(record, url, 2)
        clock[0] = T0 + timedelta(days=1, minutes=1)  # the next day's slot
        await asyncio.gather(jobs[1].publish(), jobs[0].publish())
        assert len(checkpoint_messages(standin)) == 2
        assert len((tmp_path / "published.log").read_text().splitlines()) == 2
        read = await read_channel(slacks[0], AUDIT, page=1)  # one message a page
        assert [c.seq for c in read.checkpoints] == [7, 5] and read.complete
    finally:
        for slack in slacks:
            await slack.aclose()
        for store in stores:
            store.engine.dispose()
        await standin.stop()


def preprod(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environ = {**{k: v for k, v in os.environ.items() if not k.startswith("PREPROD_")}, **env}
    return subprocess.run(
        preprod_command(*args), cwd=ROOT, capture_output=True, text=True, timeout=60, env=environ
    )


async def test_verify_from_slack_names_each_attack(tmp_path: Path, signing: Path) -> None:
    config_path = audit_config(tmp_path)
    config = load_config(config_path)
    standin = await SlackStandIn(users=USERS, channels={CHANNEL: "r", AUDIT: "a"}).start()
    url = f"sqlite:///{tmp_path}/bot.db"
    store = RunStore(url)
    slack = SlackClient(standin.token, base_url=standin.api_url)
    key = load_private((tmp_path / "bot.pem").read_bytes())
    clock = [T0 + timedelta(seconds=5)]
    job = Checkpoints(config, store, SlackCheckpoints(store, slack), clock=lambda: clock[0])
    env = {"SLACK_BOT_TOKEN": standin.token, "SLACK_API_URL": standin.api_url}
    try:
        await asyncio.to_thread(record, url, 12)
        assert await job.publish() is not None  # the bot's key, from the environment
        assert parse(checkpoint_messages(standin)[0]).key is not None
        clock[0] = T0 + timedelta(days=1, seconds=5)
        await job.publish()  # the same head again, a day later
        # `audit checkpoint` with neither --file nor --print publishes where the config says
        manual = await asyncio.to_thread(
            preprod, "audit", "checkpoint", "--config", str(config_path), "--database", url,
            env={**env, KEY_ENV: str(tmp_path / "bot.pem")},
        )  # fmt: skip
        assert manual.returncode == 0, manual.stderr
        assert "posted audit #12 · " in manual.stderr and "appended audit #12" in manual.stderr
        assert len(checkpoint_messages(standin)) == 3
        store.engine.dispose()
        verify = ("audit", "verify", "--from-slack", "--config", str(config_path))
        clean = await asyncio.to_thread(
            preprod, *verify, "--key", str(signing), "--database", url, env=env
        )
        assert clean.returncode == 0, clean.stderr
        assert "checkpoints: 3 from Slack C0AUDIT (3 messages) all match the trail" in clean.stdout
        for number, (attack, named, _) in enumerate(ATTACKS.values()):
            copy = tmp_path / f"attacked{number}.db"
            shutil.copy(tmp_path / "bot.db", copy)
            attack(f"sqlite:///{copy}")
            database = ("--database", f"sqlite:///{copy}")
            plain = await asyncio.to_thread(preprod, "audit", "verify", *database, env=env)
            assert plain.returncode == 0, plain.stderr
            found = await asyncio.to_thread(
                preprod, *verify, "--key", str(signing), *database, env=env
            )
            assert found.returncode == 1, found.stdout
            assert named.split("{")[0] in found.stderr, found.stderr
        assert key.public_key() == load_public(signing.read_bytes())
    finally:
        await slack.aclose()
        await standin.stop()


# -- the announcement --------------------------------------------------------------------

GATED = """\
channel: C0RELEASES
audit: {{channel: C0RANDOM, checkpoint: "30 5 * * *"}}
roles:
  sre: {{label: SRE, members: [U0SRE1]}}
policy: {{required_signoffs: [sre]}}
environments:
  staging: {{base_url: "{url}", plan: p, ca_bundle: "{ca}"}}
plans:
  p: {{checks: [{{id: smoke, type: http, requests: [{{path: /healthz}}]}}]}}
"""


async def test_the_announcement_carries_the_head_of_its_decision(
    healthy_target: RunningTarget, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "preprod.yml"
    config.write_text(GATED.format(url=healthy_target.https_url, ca=healthy_target.ca_bundle))
    async with running_bot(config, tmp_path) as harness:
        # the running bot's scheduler has the checkpoint job, on the config's cron
        harness.bot.start()
        job = harness.bot.scheduler.scheduler.get_job("checkpoint")
        assert job is not None and (job.next_run_time.hour, job.next_run_time.minute) == (5, 30)
        await harness.command("start checkout-api 2.14.0 staging")
        await harness.settle()
        await harness.until(lambda: any(m.button_labels() for m in harness.thread()))
        [panel] = [m for m in harness.thread() if m.button_labels()]
        await harness.standin.click("U0SRE1", panel.ts, CHANNEL, APPROVE,
                                    block_id="signoff:sre")  # fmt: skip

        def announced() -> list[str]:
            return [m.ts for m in harness.standin.channel(CHANNEL).messages
                    if m.thread_ts is None and "GO" in m.text
                    and "Pre-production" not in m.text]  # fmt: skip

        await harness.until(lambda: len(announced()) == 1)
        message = harness.standin.find_message(CHANNEL, announced()[0])
        decision = await AuditLog(harness.bot.store).last_of(1, Action.DECISION)
        assert decision is not None and decision.action == "gate.decision"
        footer = str(message.blocks[-1])
        assert f"audit #{decision.seq} · {decision.hash[:4]}…{decision.hash[-4:]}" in footer
        assert f"seq={decision.seq} head={decision.hash}" in footer  # to be read back
        assert message.metadata is not None
        payload = message.metadata["event_payload"]
        assert (payload["audit_seq"], payload["audit_head"]) == (decision.seq, decision.hash)
        # copied out of Slack into a file, the announcement's line is a checkpoint
        copied = tmp_path / "copied.txt"
        copied.write_text(str(message.blocks[-1]["elements"][0]["text"]) + "\n")
        url = f"sqlite:///{tmp_path}/bot.db"
        check = ("audit", "verify", "--database", url, "--checkpoints", str(copied))
        code, output = await asyncio.to_thread(cli, capsys, *check)
        assert code == 0, output
        assert f"newest #{decision.seq}" in output


URL_CONFIG = """\
audit: {{url: "{url}", file: "{file}", timeout: 2s}}
environments:
  staging: {{base_url: "http://127.0.0.1:9", plan: p}}
plans:
  p: {{checks: [{{id: smoke, type: http, requests: [{{path: /}}]}}]}}
"""


async def test_the_url_sink_posts_the_line_and_a_failure_is_logged_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    received: list[bytes] = []

    async def sink(request: Request) -> Response:
        received.append(await request.body())
        return Response(status_code=204)

    server = StandInServer(Starlette(routes=[Route("/heads", sink, methods=["POST"])]))
    await server.start()
    url = f"sqlite:///{tmp_path}/bot.db"
    await asyncio.to_thread(record, url, 3)
    store = RunStore(url)
    try:
        for target, posted in ((f"http://127.0.0.1:{server.port}/heads", True),
                               ("http://127.0.0.1:9/heads?token=secret", False)):  # fmt: skip
            path = tmp_path / f"{posted}.yml"
            path.write_text(URL_CONFIG.format(url=target, file=tmp_path / f"{posted}.log"))
            job = Checkpoints(load_config(path), store, None, clock=lambda: T0, key=lambda: None)
            published = await job.publish()
            assert published is not None  # the file took it either way
            assert (tmp_path / f"{posted}.log").read_text() == published.line + "\n"
        assert received == [(tmp_path / "True.log").read_bytes()]
        [failure] = [r.getMessage() for r in caplog.records if "could not POST" in r.getMessage()]
        assert failure.startswith("could not POST the checkpoint to http://127.0.0.1:9/heads:")
        assert "secret" not in failure
    finally:
        store.engine.dispose()
        await server.stop()


def test_a_wrong_audit_section_is_named_by_file_key_and_line(tmp_path: Path) -> None:
    path = tmp_path / "preprod.yml"
    path.write_text(
        URL_CONFIG.format(url="ftp://heads", file="x.log").replace(
            "timeout: 2s", 'timeout: 5m, checkpoint: "61 6 * * *"'
        )
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    rendered = raised.value.render()
    assert f"{path}: 3 configuration problems" in rendered
    assert "audit.url (line 1): expected an http:// or https:// URL, got 'ftp://heads'" in rendered
    assert "audit.timeout (line 1): expected a timeout above 0s and at most 60s" in rendered
    assert "audit.checkpoint (line 1): not a valid cron expression '61 6 * * *'" in rendered
