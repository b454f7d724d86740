"""One SQLite writer at a time across the processes that share the file (serve, its
workers, replicas on one host, the command line), woken within a millisecond or two, and
an ack's write first.

SQLite's own lock makes a second process's writer retry in its busy handler, which
sleeps 1, 2, 5, 10, 15, 20, 25... ms between tries whatever happens meanwhile, and loses
the race to any writer that comes along while it sleeps. Behind ``serve --workers``'
writes (check results, outbox rows), a ``start``'s replay-guard claim and run insert
waited 60-75 ms for a lock held a few (bench/ack_latency.py, ``--busy 20 --workers 2``:
steady p99 3-4 times the bare app's). Here every writer first takes an advisory lock
(``flock``) on a file beside the database, tried every 0.2 ms at first, then up to every
2 ms, so it writes soon after the holder commits. While a writer on the ack path waits
(it holds a shared lock on a second file, ``<database>-writer-ack``), the others let it
go first. SQLite's lock still guards the file: a writer that does not take this turn (an
older version, another tool) only waits as before."""

from __future__ import annotations

import enum
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FIRST_TRY_S = 0.0002
"""The first pause between two tries; each next one half as long again, at most
:data:`MOST_S`."""
MOST_S = 0.002


class Tried(enum.Enum):
    TAKEN = "taken"
    YIELDED = "an ack's write waits: it goes first"
    TIMED_OUT = "timed out"


class FileTurn:
    """This process's claim on the database file's writer turn (an ``flock`` on
    ``<database>-writer``). Callers take it one at a time (bot/store/writer_turn.py)."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + "-writer")
        self.ack_path = database.with_name(database.name + "-writer-ack")
        self._fds: tuple[int, int] | None = None
        self._pid = 0
        self._opening = threading.Lock()

    def _files(self) -> tuple[int, int]:
        """The turn's file and the one that tells an ack's write waits, opened once a
        process (a forked child opens its own: a lock belongs to the open file)."""
        with self._opening:
            if self._fds is None or self._pid != os.getpid():
                self._fds = (_open(self.path), _open(self.ack_path))
                self._pid = os.getpid()
            return self._fds

    @contextmanager
    def ack_waiting(self) -> Iterator[None]:
        """While the block runs, an ack's write waits for the turn: other writers, in any
        process, let it go first (each waiting ack holds a shared lock of its own)."""
        fd = _open(self.ack_path)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # which releases it

    def take(self, timeout: float, *, give_way: bool = False) -> Tried:
        """Wait at most ``timeout`` seconds for the turn. With ``give_way``, return
        :attr:`Tried.YIELDED` instead while an ack's write waits for it."""
        turn, acks = self._files()
        deadline = time.monotonic() + timeout
        pause = FIRST_TRY_S
        while True:
            if give_way and _held(acks):
                return Tried.YIELDED
            try:
                fcntl.flock(turn, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return Tried.TAKEN
            except BlockingIOError:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                return Tried.TIMED_OUT
            time.sleep(min(pause, left))
            pause = min(pause * 1.5, MOST_S)

    def give_back(self) -> None:
        if self._fds is not None and self._pid == os.getpid():
            fcntl.flock(self._fds[0], fcntl.LOCK_UN)


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _held(fd: int) -> bool:
    """Whether another open file holds a lock on ``fd``'s file (an ack waits)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False
