"""The tamper table: each attack of issue 21, made with real SQL on a fresh SQLite
database (or on an evidence pack's bytes), then judged by the real ``preprod`` command
line: the naive check (the hash chain alone, as ``audit verify`` judged it before it
replayed the trail against the tables; ``evidence verify`` without ``--key``) and the
attack's detector (``audit verify
--checkpoints FILE --key PEM`` against heads published before the attack; ``audit
verify``'s replay of the trail against the tables; ``evidence verify --key PEM``). One
row each:

    attack | naive check | detector output

The trail is a run's real events (started, two checks, finished), a security rejection
and the NO-GO it made (#5, #6), then six reminders sent; checkpoints are published at #6
and at the head (#12) by ``preprod audit checkpoint``, signed with a key from ``preprod
keys generate``; the evidence pack is written by ``preprod evidence`` with that key.

    .venv/bin/python bench/tamper_table.py
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bot.audit.chain import Action  # noqa: E402
from bot.audit.checkpoint import make  # noqa: E402
from bot.reports import evidence  # noqa: E402
from bot.schedule.checkpoints import append_line  # noqa: E402
from bot.signing import signing_key  # noqa: E402
from bot.store.audit import Note, insert_once_audited  # noqa: E402
from bot.store.audit_log import AuditLog  # noqa: E402
from bot.store.models import DecisionRecord, Run, RunStatus, SignOff  # noqa: E402
from bot.store.runs import RunStore  # noqa: E402
from checks.base import CheckResult, Status  # noqa: E402
from tests.support.tamper import delete_tail, rewrite_and_rehash, rewrite_last  # noqa: E402


@dataclass(frozen=True)
class Workspace:
    """One attack's fresh database and what was published before the attack."""

    folder: Path
    url: str
    checkpoints: Path
    public_key: Path
    env: dict[str, str]


@dataclass(frozen=True)
class Attack:
    name: str
    tamper: Callable[[Workspace], object]
    detector: Callable[[Workspace], list[str]]
    """The ``preprod`` arguments that should catch it."""

    def naive(self, ws: Workspace) -> list[str]:
        """What a checker without our safeguards would run: the chain alone, or a pack's
        hashes without its signature."""
        if self.detector is evidence_key:
            return ["evidence", "verify", str(pack(ws))]
        return ["audit", "verify", "--database", ws.url]


def checkpoints(ws: Workspace) -> list[str]:
    return ["audit", "verify", "--database", ws.url, "--checkpoints", str(ws.checkpoints),
            "--key", str(ws.public_key)]  # fmt: skip


def preprod(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "bot.cli", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)


def outcome(done: subprocess.CompletedProcess[str], besides: str = "") -> str:
    """Exit code and the output's lines (less those also in ``besides``: the detector's
    repeat of the plain verdict), squeezed to one line."""
    seen = set(besides.splitlines())
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return f"exit {done.returncode}: " + " / ".join(line for line in lines if line not in seen)


async def events(url: str) -> None:
    store = RunStore(url)
    run = Run(
        service="checkout-api", version="2.14.0", environment="staging", plan="standard",
        base_url="http://127.0.0.1:9", requester="U0RM", config_digest="ab" * 32,
    )  # fmt: skip
    stored = await store.create_run(run, [("smoke", "http", True), ("tls", "tls", False)])
    assert stored.id is not None
    for check in ("smoke", "tls"):
        await store.save_result(
            stored.id, CheckResult(status=Status.PASSED, summary="ok", check_id=check)
        )
    await store.finish_run(stored.id, RunStatus.FINISHED)
    await _rejected(store, stored.id)
    log = AuditLog(store)
    for n in range(6):
        await log.record(
            Note("reminder.sent", "preprod", stored.id, {"key": f"nudge:{n}:U0SRE{n}"})
        )
    store.engine.dispose()


REJECTION = "Pen test finding SEC-7 is open"


async def _rejected(store: RunStore, run_id: int) -> None:
    """Security's rejection and the NO-GO, each row stored with its event as the gate does."""

    def work(session: Session) -> None:
        details = {"role": "security", "vote": "reject", "reason": REJECTION, "generation": 1}
        row = SignOff(run_id=run_id, generation=1, role="security", user="U0SEC1",
                      vote="reject", reason=REJECTION)  # fmt: skip
        assert insert_once_audited(session, row, Note(Action.REJECT, "U0SEC1", run_id, details))
        reasons = ["Security rejected: " + REJECTION]
        decision = DecisionRecord(run_id=run_id, outcome="no-go", reasons=reasons)
        note = Note(Action.DECISION, "preprod", run_id, {"outcome": "no-go", "reasons": reasons})
        assert insert_once_audited(session, decision, note)

    await store.call(work)


def tables(ws: Workspace) -> list[str]:
    return ["audit", "verify", "--database", ws.url]


def edit_rows(ws: Workspace) -> None:
    """The issue's finding: the rejection made an approval, the NO-GO a GO."""
    engine = create_engine(ws.url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE signoff SET vote = 'approve' WHERE vote = 'reject'"))
        connection.execute(text("UPDATE decisionrecord SET outcome = 'go'"))
    engine.dispose()


def pack(ws: Workspace) -> Path:
    return ws.folder / "pack.zip"


def evidence_key(ws: Workspace) -> list[str]:
    return ["evidence", "verify", str(pack(ws)), "--key", str(ws.public_key)]


def rewrite_pack(ws: Workspace) -> None:
    """What a forger with the pack but not the private key can do: drop the rejection and
    the decision from audit.jsonl, NO-GO -> GO in the reports, every hash in the manifest
    recomputed (the old signature kept: a new one needs the key)."""
    with zipfile.ZipFile(pack(ws)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    lines = files["audit.jsonl"].decode().splitlines(keepends=True)
    kept = [line for line in lines
            if json.loads(line)["action"] not in ("gate.reject", "gate.decision")]  # fmt: skip
    files["audit.jsonl"] = "".join(kept).encode()
    for name in ("report.html", "report.json", "report.junit.xml"):
        files[name] = files[name].replace(b"NO-GO", b"GO").replace(b"no-go", b"go")
    manifest = json.loads(files["manifest.json"])
    manifest["decision"] = "go"
    for name, entry in manifest["files"].items():
        entry.update(sha256=hashlib.sha256(files[name]).hexdigest(), bytes=len(files[name]))
    last = json.loads(kept[-1])
    manifest["audit"].update(events=len(kept), run_head={"seq": last["seq"], "hash": last["hash"]})
    files["manifest.json"] = json.dumps(manifest, indent=2, sort_keys=True).encode()
    pack(ws).write_bytes(evidence.zipped(files))


def prepare(folder: Path) -> Workspace:
    """A fresh database with a trail, a key pair, and checkpoints at #6 and the head."""
    folder.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREPROD_")}
    env["PYTHONPATH"] = str(ROOT)
    made = preprod("keys", "generate", "--out", str(folder), env=env)
    assert made.returncode == 0, made.stderr
    env["PREPROD_SIGNING_KEY_FILE"] = str(folder / "preprod-signing-key.pem")
    ws = Workspace(
        folder,
        f"sqlite:///{folder}/preprod.db",
        folder / "checkpoints.log",
        folder / "preprod-signing-key.pub.pem",
        env,
    )
    asyncio.run(events(ws.url))
    store = RunStore(ws.url)
    head = asyncio.run(AuditLog(store).head())
    store.engine.dispose()
    assert head is not None and head.seq == 12, head
    _published_at(ws, 6)
    done = preprod("audit", "checkpoint", "--database", ws.url, "--file", str(ws.checkpoints),
                   env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    done = preprod("evidence", "1", "-o", str(pack(ws)), "--database", ws.url, env=env)
    assert done.returncode == 0, done.stderr
    return ws


def _published_at(ws: Workspace, seq: int) -> None:
    """A checkpoint of event ``seq``, as the job would have published it then."""
    store = RunStore(ws.url)
    found = asyncio.run(AuditLog(store).at([seq]))
    store.engine.dispose()
    key = signing_key(ws.env)
    append_line(ws.checkpoints, make(found[seq], found[seq].at, key).line)


ATTACKS = [
    Attack("delete the last 3 events", lambda ws: delete_tail(ws.url, 3), checkpoints),
    Attack("rewrite the last event and its hash", lambda ws: rewrite_last(ws.url), checkpoints),
    Attack(
        "rewrite event #8, re-hash all after it",
        lambda ws: rewrite_and_rehash(ws.url, 8),
        checkpoints,
    ),
    Attack(
        "edit the sign-off and decision rows (reject -> approve, NO-GO -> GO)", edit_rows, tables
    ),
    Attack("rewrite the evidence pack consistently (NO-GO -> GO)", rewrite_pack, evidence_key),
]


def main() -> int:
    rows: list[tuple[str, str, str]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tamper-") as tmp:
        clean = prepare(Path(tmp) / "intact")
        plain = preprod("audit", "verify", "--database", clean.url, env=clean.env)
        caught = preprod(*checkpoints(clean), env=clean.env)
        rows.append(("none (intact chain)", outcome(plain), outcome(caught, plain.stdout)))
        for number, attack in enumerate(ATTACKS):
            ws = prepare(Path(tmp) / f"attack{number}")
            attack.tamper(ws)
            plain = preprod(*attack.naive(ws), env=ws.env)
            caught = preprod(*attack.detector(ws), env=ws.env)
            if attack.detector is tables:  # the same command: its chain verdict alone
                chain = [line for line in plain.stdout.splitlines() if "audit trail" in line]
                naive, shown = f"exit 0: {' / '.join(chain)}", "\n".join(chain)
            else:
                naive, shown = outcome(plain), plain.stdout
            rows.append((attack.name, naive, outcome(caught, shown)))
    print("attack | naive check | detector output")
    print("--- | --- | ---")
    for row in rows:
        print(" | ".join(cell.replace("|", "\\|") for cell in row))
    missed = [r[0] for r in rows[1:] if not r[2].startswith("exit 1")]
    print(f"\n{len(ATTACKS)} attacks, {len(ATTACKS) - len(missed)} caught by their detector; "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
