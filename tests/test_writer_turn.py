"""SQLite writers take turns (bot/store/writer_turn.py), in a process and across the
processes sharing the file: none meets SQLite's lock (whose busy handler sleeps between
tries), and an ack's write goes first in its process."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from bot.store.connect import make_engine
from bot.store.file_turn import FileTurn, Tried
from bot.store.writer_turn import WriterTurn

ROOT = Path(__file__).resolve().parents[1]


def test_writers_of_one_process_never_meet_sqlites_lock(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/turns.db")

    @event.listens_for(engine, "connect")
    def no_busy_wait(dbapi: Any, _record: Any) -> None:
        dbapi.execute("PRAGMA busy_timeout = 0")  # contention would fail at once

    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))
    errors: list[Exception] = []

    def writer(n: int) -> None:
        try:
            for i in range(20):
                with engine.begin() as connection:
                    connection.execute(text("INSERT INTO t VALUES (:n)"), {"n": n * 100 + i})
                    time.sleep(0.001)  # hold the write open, so that writers overlap
                    connection.execute(text("UPDATE t SET n = n WHERE n = :n"), {"n": n})
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar_one() == 120
    engine.dispose()


def test_a_waiter_on_the_ack_path_goes_first() -> None:
    turn = WriterTurn()
    assert turn.take("run's write", urgent=False, timeout=1)
    order: list[str] = []

    def wait(name: str, urgent: bool) -> None:
        assert turn.take(name, urgent=urgent, timeout=5)
        order.append(name)
        turn.give_back(name)

    later = threading.Thread(target=wait, args=("another run's write", False))
    later.start()
    time.sleep(0.05)  # it waits first
    ack = threading.Thread(target=wait, args=("ack", True))
    ack.start()
    time.sleep(0.05)
    turn.give_back("run's write")
    later.join(5)
    ack.join(5)
    assert order == ["ack", "another run's write"]


def test_a_wait_is_bounded() -> None:
    turn = WriterTurn()
    assert turn.take("holder", urgent=False, timeout=1)
    assert not turn.take("other", urgent=True, timeout=0.05)
    turn.give_back("not the holder")  # changes nothing
    assert turn.holder() == "holder"
    turn.give_back("holder")
    assert turn.take("other", urgent=False, timeout=0.05)


WRITER = """
import sys, time
from typing import Any
from sqlalchemy import event, text
from bot.store.connect import make_engine

engine = make_engine(sys.argv[1])

@event.listens_for(engine, "connect")
def no_busy_wait(dbapi: Any, _record: Any) -> None:
    dbapi.execute("PRAGMA busy_timeout = 0")  # SQLite's own lock would fail at once

n = int(sys.argv[2])
for i in range(30):
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (:n)"), {"n": n * 100 + i})
        time.sleep(0.001)  # hold the write open, so that the processes' writes overlap
        connection.execute(text("UPDATE t SET n = n WHERE n = :n"), {"n": n})
"""


def test_writers_of_several_processes_never_meet_sqlites_lock(tmp_path: Path) -> None:
    """serve, its workers and the command line share one SQLite file: their writers take
    the file's turn (bot/store/file_turn.py) instead of sleeping in SQLite's busy handler
    (1, 2, 5, 10... ms between tries, whatever happens meanwhile)."""
    url = f"sqlite:///{tmp_path}/turns.db"
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))
    command = [sys.executable, "-c", WRITER, url]
    writers = [
        subprocess.Popen([*command, str(n)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
        for n in range(4)
    ]
    failures = [w.communicate(timeout=120)[1] for w in writers if w.wait(timeout=120) != 0]
    assert failures == []
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar_one() == 120
    assert (tmp_path / "turns.db-writer").exists()
    engine.dispose()


def test_a_writer_of_another_process_gives_way_while_an_acks_write_waits(
    tmp_path: Path,
) -> None:
    """Each FileTurn opens its own files, so three of them contend as three processes."""
    database = tmp_path / "turns.db"
    worker, ack, other_worker = FileTurn(database), FileTurn(database), FileTurn(database)
    assert worker.take(1) is Tried.TAKEN
    assert other_worker.take(0.02) is Tried.TIMED_OUT  # the turn is the file's
    with ack.ack_waiting():
        started = time.monotonic()
        assert other_worker.take(5, give_way=True) is Tried.YIELDED
        assert time.monotonic() - started < 1  # at once, not at the timeout
        worker.give_back()
        assert ack.take(1) is Tried.TAKEN  # what an ack's write does once it waits
    assert other_worker.take(0.02, give_way=True) is Tried.TIMED_OUT
    ack.give_back()
    assert other_worker.take(1, give_way=True) is Tried.TAKEN
    other_worker.give_back()
