"""The trail is the truth, the tables its projection: histories are built through the real
engine and gate (re-runs, waivers, ticks, decisions, corrected production outcomes), then
the tables are edited with SQL behind the chain's back. ``preprod audit verify`` must name
each difference and ``preprod show`` and the run page must flag the run, on SQLite and
PostgreSQL; an untouched history must verify clean.

Each database's history is built once for the module (about a second) and every test works
on its own copy of it (a SQLite backup, a PostgreSQL ``CREATE DATABASE ... TEMPLATE``); the
commands run in this process (``main()``), a new interpreter adding nothing here."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlmodel import Session

from bot.audit.chain import Action
from bot.config.loader import load_config
from bot.engine.request import RunRequest
from bot.engine.runner import Engine
from bot.gate.actions import Gate
from bot.gate.policy import Vote
from bot.gate.roles import RoleDirectory
from bot.gate.view import Target
from bot.store.agreement import differences, run_differences
from bot.store.audit import Note, insert_once_audited
from bot.store.models import SignOff
from bot.store.runs import RunStore
from checks import registry
from tests.kinds import KINDS
from tests.slackbot import running_bot
from tests.support.in_process import preprod_main
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


@contextmanager
def scripted_checks() -> Iterator[None]:
    """The scripted check kinds, for a history built outside a test's own fixtures (those
    already registered are left as they are)."""
    missing = [name for name in KINDS if name not in registry.check_types()]
    for name in missing:
        registry.register(name, KINDS[name])
    try:
        yield
    finally:
        for name in missing:
            registry.unregister(name)


@dataclass(frozen=True)
class History:
    """A database holding :func:`history` and the config its runs were made with. The
    module's two (one per database) are only ever copied, never opened by a test."""

    url: str
    config: Path
    admin_url: str | None = None  # PostgreSQL: the server's own database, to copy from

    def copy(self, tmp_path: Path) -> History:
        """A copy of this history for one test: its own database, the same config."""
        if self.admin_url is None:
            target = tmp_path / "preprod.db"
            source = self.url.removeprefix("sqlite:///")
            with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
                src.backup(dst)
            return History(f"sqlite:///{target}", self.config)
        name, template = f"t_{uuid.uuid4().hex[:12]}", self.url.rsplit("/", 1)[1]
        with Database(self.admin_url, autocommit=True) as admin:
            admin.query(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return History(self.url.rsplit("/", 1)[0] + f"/{name}", self.config)


@pytest.fixture(scope="module")
def sqlite_history(tmp_path_factory: pytest.TempPathFactory) -> History:
    directory = tmp_path_factory.mktemp("sqlite-history")
    url = f"sqlite:///{directory}/history.db"
    with scripted_checks():
        return History(url, history(url, directory))


@pytest.fixture(scope="module")
def postgres_history(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> History:
    name = f"t_history_{uuid.uuid4().hex[:12]}"
    with Database(postgres_url, autocommit=True) as admin:
        admin.query(f'CREATE DATABASE "{name}"')
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    with scripted_checks():  # history() disposes of its engine: the template has no session
        return History(url, history(url, tmp_path_factory.mktemp("postgres-history")), postgres_url)


@pytest.fixture
def database() -> str:
    """The database of a test's history (parametrised by the tests on both)."""
    return "sqlite"


@pytest.fixture
def copied(database: str, request: pytest.FixtureRequest, tmp_path: Path) -> History:
    """This test's own copy of the module's history on ``database``."""
    template: History = request.getfixturevalue(f"{database}_history")
    return template.copy(tmp_path)


def attack(url: str) -> None:
    with Database(url) as db:
        for statement in ATTACKS:
            db.query(statement)


@pytest.fixture
def attacked(copied: History) -> History:
    """This test's copy of the history, its tables then edited behind the chain's back."""
    attack(copied.url)
    return copied


@pytest.fixture(autouse=True)
def command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment of ``preprod`` as tests/cli.py gives it: no $PREPROD_* or $TARGET_*
    variable of the machine running the tests, a fixed terminal width."""
    for name in [n for n in os.environ if n.startswith(("TARGET_", "PREPROD_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("COLUMNS", "200")


def preprod(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``preprod <args>`` in this process: exit code, stdout, stderr."""
    capsys.readouterr()
    code = preprod_main(*args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def verify(url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code, out, err = preprod(capsys, "audit", "verify", "--database", url)
    return code, out + err


def show(url: str, capsys: pytest.CaptureFixture[str], run: int) -> str:
    code, out, err = preprod(capsys, "show", str(run), "--database", url)
    assert code in (0, 1), err
    return out


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_an_untouched_history_verifies_clean(
    copied: History, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = verify(copied.url, capsys)
    assert code == 0, output  # no false alarm on a real history
    assert "audit trail intact" in output and "tables agree with the audit trail: 4 runs" in output
    for run in (1, 2, 3, 4):
        assert "disagrees" not in show(copied.url, capsys, run), run


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_attacks_on_the_tables_are_named(
    attacked: History, capsys: pytest.CaptureFixture[str]
) -> None:
    url = attacked.url
    code, output = verify(url, capsys)
    assert code == 1, output
    assert "audit trail intact" in output  # the chain itself was not touched
    for lines in NAMED.values():
        for line in lines:
            assert line in output, (line, output)
    assert "7 differences between the tables and the audit trail" in output
    assert all(len(line) < 400 for line in output.splitlines())
    two = show(url, capsys, 2)
    assert "decision: GO at" in two
    assert "the audit trail disagrees: it records NO-GO (decision), the table GO" in two
    assert "security by U0SEC1 (generation 1): vote: trail reject, table approve" in two
    for run in (1, 3, 4):
        assert "the audit trail disagrees" in show(url, capsys, run), run


@pytest.mark.parametrize("page", [1, 2, 3, 500])
def test_verify_pages_by_runs_and_finds_the_same(page: int, attacked: History) -> None:
    """Every page size (a run a page, pages that split the attacked runs) names the same
    differences as a single page, and events of runs with no row are reached."""
    url = attacked.url
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


def test_one_run_is_checked_through_its_own_rows(copied: History) -> None:
    store = RunStore(copied.url)
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
    attacked: History, tmp_path: Path
) -> None:
    config, url = attacked.config, attacked.url
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


def test_the_evidence_pack_says_whether_the_tables_agree(
    attacked: History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for run, agree in ((2, False), (4, False)):
        pack = tmp_path / f"{run}.zip"
        args = ("evidence", str(run), "-o", str(pack), "--database", attacked.url)
        code, _, err = preprod(capsys, *args)
        assert code == 0, err
        with zipfile.ZipFile(pack) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            report = json.loads(archive.read("report.json"))
        verdict = manifest["tables_agree_with_trail"]
        assert verdict["agree"] is agree
        assert any(line.startswith(f"run {run}: signoff") for line in verdict["differences"])
        assert report["gate"]["trail_differences"] == verdict["differences"]


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_a_signoff_committed_between_two_reads_is_no_difference(copied: History) -> None:
    """The events are read, then a sign-off and its event commit, then the sign-off table
    is read: the first pass sees a row with no event; the second read does not."""
    url = copied.url
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


async def test_cancelled_partial_and_resumed_runs_raise_no_false_alarm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
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
    code, out, err = await asyncio.to_thread(preprod, capsys, "audit", "verify", "--database", url)
    assert code == 0, out + err
    assert "tables agree with the audit trail: 3 runs" in out
    store.engine.dispose()
