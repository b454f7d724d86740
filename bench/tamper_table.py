"""The tamper table: each attack on the audit trail, made with real SQL on a fresh SQLite
database, then judged by the real ``preprod`` command line: plain ``audit verify`` (the
hash chain alone) and the attack's detector (here ``audit verify --checkpoints FILE
--key PEM``, against heads published before the attack). One row each:

    attack | plain verify | detector output

The trail is a run's real events (started, two checks, finished) and eight reminders sent;
checkpoints are published at #6 and at the head (#12) by ``preprod audit checkpoint``,
signed with a key from ``preprod keys generate``. More attacks (and their detectors) are
added to ``ATTACKS``.

    .venv/bin/python bench/tamper_table.py
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.audit.checkpoint import make  # noqa: E402
from bot.schedule.checkpoints import append_line  # noqa: E402
from bot.signing import signing_key  # noqa: E402
from bot.store.audit import AuditLog, Note  # noqa: E402
from bot.store.models import Run, RunStatus  # noqa: E402
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


def checkpoints(ws: Workspace) -> list[str]:
    return ["audit", "verify", "--database", ws.url, "--checkpoints", str(ws.checkpoints),
            "--key", str(ws.public_key)]  # fmt: skip


ATTACKS = [
    Attack("delete the last 3 events", lambda ws: delete_tail(ws.url, 3), checkpoints),
    Attack("rewrite the last event and its hash", lambda ws: rewrite_last(ws.url), checkpoints),
    Attack(
        "rewrite event #5, re-hash all after it",
        lambda ws: rewrite_and_rehash(ws.url, 5),
        checkpoints,
    ),
]


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
    log = AuditLog(store)
    for n in range(8):
        await log.record(
            Note("reminder.sent", "preprod", stored.id, {"key": f"nudge:{n}:U0SRE{n}"})
        )
    store.engine.dispose()


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
    return ws


def _published_at(ws: Workspace, seq: int) -> None:
    """A checkpoint of event ``seq``, as the job would have published it then."""
    store = RunStore(ws.url)
    found = asyncio.run(AuditLog(store).at([seq]))
    store.engine.dispose()
    key = signing_key(ws.env)
    append_line(ws.checkpoints, make(found[seq], found[seq].at, key).line)


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
            plain = preprod("audit", "verify", "--database", ws.url, env=ws.env)
            caught = preprod(*attack.detector(ws), env=ws.env)
            rows.append((attack.name, outcome(plain), outcome(caught, plain.stdout)))
    print("attack | plain verify | detector output")
    print("--- | --- | ---")
    for row in rows:
        print(" | ".join(cell.replace("|", "\\|") for cell in row))
    missed = [r[0] for r in rows[1:] if not r[2].startswith("exit 1")]
    print(f"\n{len(ATTACKS)} attacks, {len(ATTACKS) - len(missed)} caught by their detector; "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
