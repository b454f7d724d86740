"""The trail is the truth, the tables its projection: histories are built through the real
engine and gate (re-runs, waivers, ticks, decisions, corrected production outcomes), then
the tables are edited with SQL behind the chain's back. ``preprod audit verify`` must name
each difference and ``preprod show`` and the run page must flag the run, on SQLite and
PostgreSQL; an untouched history must verify clean."""

from __future__ import annotations

import asyncio
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlmodel import Session

from bot.audit.chain import Action
from bot.config.loader import load_config
from bot.engine.runner import Engine, RunRequest
from bot.gate.actions import Gate
from bot.gate.policy import Vote
from bot.gate.roles import RoleDirectory
from bot.gate.view import Target
from bot.store.agreement import differences, run_differences
from bot.store.audit import Note, insert_once_audited
from bot.store.models import SignOff
from bot.store.runs import RunStore
from tests.cli import run_cli
from tests.slackbot import running_bot
from tests.support.processes import Database
from tests.support.signin import signed_in

pytestmark = pytest.mark.usefixtures("scripted_kinds")

RM, SRE, SEC = "U0RM", "U0SRE1", "U0SEC1"
REJECTION = "Pen test finding open & unresolved"

CONFIG = f"""\
channel: C0RELEASES
roles:
  sre: {{label: SRE, members: [{SRE}]}}
  security: {{label: Security, members: [{SEC}]}}
policy:
  required_signoffs: [sre, security]
  waivers_by: [sre]
environments:
  staging:
    base_url: http://127.0.0.1:9
    plan: standard
plans:
  standard:
    attestations:
      - {{id: oncall, text: On-call staffed, role: sre}}
    checks:
      - {{id: smoke, type: scripted}}
      - {{id: headers, type: scripted, outcome: fail, critical: false}}
"""

ATTACKS = [
    # the finding: a rejection turned into an approval, the NO-GO into a GO
    "UPDATE signoff SET vote = 'approve' WHERE run_id = 2 AND vote = 'reject'",
    "UPDATE decisionrecord SET outcome = 'go' WHERE run_id = 2",
    "DELETE FROM waiver WHERE run_id = 1",
    'INSERT INTO signoff (run_id, generation, role, "user", vote, reason, at)'
    " VALUES (4, 1, 'security', 'U0SEC1', 'approve', '', CURRENT_TIMESTAMP)",
    "UPDATE attestationtick SET \"user\" = 'U0MALLORY' WHERE run_id = 3",
    "UPDATE run SET generation = 1 WHERE id = 3",  # the approvals of the old evidence count
    "UPDATE checkrecord SET status = 'passed' WHERE run_id = 4 AND check_id = 'headers'",
]

NAMED = {
    2: [
        "run 2: signoff sign-off security by U0SEC1 (generation 1): vote: "
        "trail reject, table approve",
        "run 2: decisionrecord decision: outcome: trail no-go, table go",
    ],
    1: ["run 1: waiver waiver of headers (attempt 1): row: trail #"],
    4: [
        "run 4: checkrecord check headers (attempt 1): status: trail failed, table passed",
        "run 4: signoff sign-off security by U0SEC1 (generation 1): row: trail no event, "
        'table has the row (vote approve, reason "")',
    ],
    3: [
        "run 3: attestationtick tick of oncall: user: trail U0SRE1, table U0MALLORY",
        "run 3: run #3: generation: trail 2, table 1",
    ],
}


async def _no_groups(_group: str) -> set[str]:
    return set()


def history(url: str, tmp_path: Path) -> Path:
    """Run 1: waived, ticked, GO, production success corrected to rolled-back. Run 2:
    rejected by security (NO-GO). Run 3: approved, waived, re-run, waived and approved
    again on the new evidence (GO, success). Run 4: approved by SRE, awaiting security."""
    path = tmp_path / "preprod.yml"
    path.write_text(CONFIG)

    async def play() -> None:
        config = load_config(path)
        store = RunStore(url)
        engine = Engine(config, store, tmp_path / "work")
        gate = Gate(config, store, RoleDirectory(config, _no_groups))
        request = RunRequest("checkout-api", "2.14.0", "staging", requester=RM, source="slack")
        await engine.run(request)
        await gate.waive(SRE, Target(1, 1, "headers"), "Headers fixed in 2.14.1, SEC-9")
        await gate.attest(SRE, Target(1, 1, "oncall"), "PD-42")
        await gate.sign(SRE, Target(1, 1, "sre"), Vote.APPROVE)
        await gate.sign(SEC, Target(1, 1, "security"), Vote.APPROVE)
        await gate.record_outcome(1, RM, "success")
        await gate.record_outcome(1, RM, "rolled-back")  # a correction: the latest wins
        await engine.run(request)
        await gate.sign(SEC, Target(2, 1, "security"), Vote.REJECT, REJECTION)
        await engine.run(request)
        await gate.sign(SRE, Target(3, 1, "sre"), Vote.APPROVE)
        await gate.waive(SRE, Target(3, 1, "headers"), "Accepted for the first build")
        run = await store.get_run(3)
        assert run is not None
        await engine.rerun(run, actor=RM)
        await gate.waive(SRE, Target(3, 2, "headers"), "Accepted again after the re-run")
        await gate.attest(SRE, Target(3, 2, "oncall"))
        await gate.sign(SRE, Target(3, 2, "sre"), Vote.APPROVE)
        await gate.sign(SEC, Target(3, 2, "security"), Vote.APPROVE)
        await gate.record_outcome(3, RM, "success")
        await engine.run(request)
        await gate.sign(SRE, Target(4, 1, "sre"), Vote.APPROVE)
        decided = [(await gate.gates.decision(n)) for n in (1, 2, 3, 4)]
        assert [d.outcome if d else None for d in decided] == ["go", "no-go", "go", None]
        store.engine.dispose()

    asyncio.run(play())
    return path


def verify(url: str, tmp_path: Path) -> tuple[int, str]:
    done = run_cli("audit", "verify", tmp_path=tmp_path, env={"DATABASE_URL": url}, reports=False)
    return done.code, done.stdout + done.stderr


def show(url: str, tmp_path: Path, run: int) -> str:
    done = run_cli("show", str(run), tmp_path=tmp_path, env={"DATABASE_URL": url}, reports=False)
    assert done.code in (0, 1), done.stderr
    return done.stdout


def attacked(url: str, tmp_path: Path) -> Path:
    path = history(url, tmp_path)
    code, output = verify(url, tmp_path)
    assert code == 0, output  # no false alarm on a real history
    assert "audit trail intact" in output and "tables agree with the audit trail: 4 runs" in output
    assert "disagrees" not in show(url, tmp_path, 3)
    with Database(url) as db:
        for statement in ATTACKS:
            db.query(statement)
    return path


def _named_by_verify_and_show(url: str, tmp_path: Path) -> None:
    attacked(url, tmp_path)
    code, output = verify(url, tmp_path)
    assert code == 1, output
    assert "audit trail intact" in output  # the chain itself was not touched
    for lines in NAMED.values():
        for line in lines:
            assert line in output, (line, output)
    assert "7 differences between the tables and the audit trail" in output
    assert all(len(line) < 400 for line in output.splitlines())
    two = show(url, tmp_path, 2)
    assert "decision: GO at" in two
    assert "the audit trail disagrees: it records NO-GO (decision), the table GO" in two
    assert "security by U0SEC1 (generation 1): vote: trail reject, table approve" in two
    for run in (1, 3, 4):
        assert "the audit trail disagrees" in show(url, tmp_path, run), run


def test_attacks_on_the_tables_are_named_on_sqlite(tmp_path: Path) -> None:
    _named_by_verify_and_show(f"sqlite:///{tmp_path}/preprod.db", tmp_path)


def test_attacks_on_the_tables_are_named_on_postgres(
    postgres_database: str, tmp_path: Path
) -> None:
    _named_by_verify_and_show(postgres_database, tmp_path)


@pytest.mark.parametrize("page", [1, 2, 3, 500])
def test_verify_pages_by_runs_and_finds_the_same(page: int, tmp_path: Path) -> None:
    """Every page size (a run a page, pages that split the attacked runs) names the same
    differences as a single page, and events of runs with no row are reached."""
    url = f"sqlite:///{tmp_path}/paged.db"
    attacked(url, tmp_path)
    with Database(url) as db:
        db.query(
            "INSERT INTO auditevent (seq, at, run_id, actor, action, details, prev_hash, hash)"
            " SELECT seq + 1, at, 99, 'U0SEC1', 'gate.signoff', "
            '\'{"role": "security", "vote": "approve", "generation": 1}\', hash, \'h99\''
            " FROM auditevent ORDER BY seq DESC LIMIT 1"
        )
    store = RunStore(url)
    with Session(store.engine) as session:
        found = [d.line() for d in differences(session, page=page)]
        per_run = [d.line() for n in (1, 2, 3, 4, 99) for d in run_differences(session, n)]
    store.engine.dispose()
    assert found == per_run
    assert len(found) == 8 and found[-1].startswith("run 99: signoff sign-off security")
    assert "table no row" in found[-1]


def test_one_run_is_checked_through_its_own_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/one.db"
    history(url, tmp_path)
    store = RunStore(url)
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *rest: object) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(store.engine, "before_cursor_execute", seen)
    with Session(store.engine) as session:
        assert run_differences(session, 3) == []
    store.engine.dispose()
    assert len(statements) == 8  # the events, then the seven tables
    assert all("run_id = ?" in s or "run.id = ?" in s for s in statements), statements


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_the_run_page_flags_a_run_whose_tables_disagree(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path}/bot.db"
        if database == "sqlite"
        else request.getfixturevalue("postgres_database")
    )
    config = await asyncio.to_thread(attacked, url, tmp_path)
    async with (
        running_bot(config, tmp_path, web=True, database_url=url) as harness,
        await signed_in(harness.url, harness.standin, SRE) as http,
    ):
        page = (await http.get("/runs/2")).text
        assert "the audit trail disagrees" in page
        assert "it records NO-GO (decision), the table GO" in page
        assert "vote: trail reject, table approve" in page
        assert "the audit trail disagrees" in (await http.get("/runs/1")).text
        report = (await http.get("/runs/2/report")).text
        assert "Not trustworthy: the audit trail disagrees" in report
    with Database(url) as db:
        db.query("UPDATE signoff SET vote = 'reject' WHERE run_id = 2")
        db.query("UPDATE decisionrecord SET outcome = 'no-go' WHERE run_id = 2")
    async with (
        running_bot(config, tmp_path, web=True, database_url=url) as harness,
        await signed_in(harness.url, harness.standin, SRE) as http,
    ):
        assert "disagrees" not in (await http.get("/runs/2")).text


def test_the_evidence_pack_says_whether_the_tables_agree(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/pack.db"
    attacked(url, tmp_path)
    env = {"DATABASE_URL": url}
    for run, agree in ((2, False), (4, False)):
        pack = tmp_path / f"{run}.zip"
        done = run_cli("evidence", str(run), "-o", str(pack), tmp_path=tmp_path, env=env,
                       reports=False)  # fmt: skip
        assert done.code == 0, done.stderr
        with zipfile.ZipFile(pack) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            report = json.loads(archive.read("report.json"))
        verdict = manifest["tables_agree_with_trail"]
        assert verdict["agree"] is agree
        assert any(line.startswith(f"run {run}: signoff") for line in verdict["differences"])
        assert report["gate"]["trail_differences"] == verdict["differences"]


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_a_signoff_committed_between_two_reads_is_no_difference(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The events are read, then a sign-off and its event commit, then the sign-off table
    is read: the first pass sees a row with no event; the second read does not."""
    url = (
        f"sqlite:///{tmp_path}/race.db"
        if database == "sqlite"
        else request.getfixturevalue("postgres_database")
    )
    history(url, tmp_path)
    store, writer = RunStore(url), RunStore(url)
    passes: list[str] = []

    def between(conn: object, cursor: object, statement: str, *rest: object) -> None:
        if "FROM signoff" in statement:
            passes.append(statement)
            if len(passes) == 1:  # a sign-off lands after the events were read
                row = SignOff(run_id=4, generation=1, role="security", user=SEC, vote="approve")
                details = {"role": "security", "vote": "approve", "reason": "", "generation": 1}
                note = Note(Action.SIGNOFF, SEC, 4, details)
                with Session(writer.engine, expire_on_commit=False) as session:
                    assert insert_once_audited(session, row, note)

    event.listen(store.engine, "before_cursor_execute", between)
    with Session(store.engine) as session:
        assert run_differences(session, 4) == []
    assert len(passes) == 2  # the first pass saw a difference and read again
    with Session(store.engine) as session:
        assert list(differences(session)) == []
    store.engine.dispose()
    writer.engine.dispose()


async def test_cancelled_partial_and_resumed_runs_raise_no_false_alarm(tmp_path: Path) -> None:
    """A run cancelled mid-check (attempts left running, decided CANCELLED), a run of some
    checks only (the rest recorded skipped) and a run resumed after its process died
    (the running check re-run, finished ones kept) agree with their trail."""
    path = tmp_path / "preprod.yml"
    path.write_text(
        CONFIG.replace(
            "      - {id: smoke, type: scripted}\n",
            "      - {id: smoke, type: scripted}\n"
            "      - {id: slow, type: scripted, outcome: hang, timeout: 1m}\n",
        )
    )
    url = f"sqlite:///{tmp_path}/partial.db"
    config = load_config(path)
    store = RunStore(url)
    engine = Engine(config, store, tmp_path / "work")
    gate = Gate(config, store, RoleDirectory(config, _no_groups))
    request = RunRequest("checkout-api", "2.14.0", "staging", requester=RM, source="slack")
    cancelled = await engine.start(request)
    task = asyncio.create_task(engine.execute(cancelled, request))
    while (await store.check_states(1)).get("slow") != "running":
        await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert cancelled.id is not None
    await gate.refresh(cancelled.id)
    assert (await gate.gates.decision(cancelled.id)) is not None
    await engine.run(RunRequest("checkout-api", "2.14.1", "staging", only=("smoke",)))
    stopped = await engine.start(request)  # a process died while `slow` ran
    assert stopped.id is not None
    await store.mark_started(stopped.id, "smoke", datetime.now(UTC))
    states = await store.check_states(stopped.id)
    assert states["smoke"] == "running" and states["slow"] == "pending"
    with Session(store.engine) as session:
        assert run_differences(session, stopped.id) == []  # unfinished, no event yet
    calm = tmp_path / "calm.yml"  # the process that resumes it: `slow` answers this time
    calm.write_text(path.read_text().replace("outcome: hang, ", ""))
    await Engine(load_config(calm), store, tmp_path / "work").resume(stopped)
    assert set((await store.check_states(stopped.id)).values()) == {"passed", "failed"}
    with Session(store.engine) as session:
        assert list(differences(session)) == []
    done = run_cli("audit", "verify", tmp_path=tmp_path, env={"DATABASE_URL": url}, reports=False)
    assert done.code == 0, done.stdout + done.stderr
    assert "tables agree with the audit trail: 3 runs" in done.stdout
    store.engine.dispose()
