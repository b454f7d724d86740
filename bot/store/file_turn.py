"""One SQLite writer at a time across the processes that share the file (serve, its
workers, replicas on one host, the command line), woken within a millisecond or two.

SQLite's own lock makes a second process's writer retry in its busy handler, which
sleeps 1, 2, 5, 10, 15, 20, 25... ms between tries whatever happens meanwhile, and loses
the race to any writer that comes along while it sleeps. Behind ``serve --workers``'
writes (check results, outbox rows), a ``start``'s replay-guard claim and run insert
waited 60-75 ms for a lock held a few (bench/ack_latency.py, ``--busy 20 --workers 2``:
steady p99 3-4 times the bare app's). Here every writer first takes an advisory lock
(``flock``) on a file beside the database, tried every 0.2 ms at first, then up to every
2 ms, so it writes soon after the holder commits. SQLite's lock still guards the file:
a writer that does not take this turn (an older version, another tool) only waits as
before."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

FIRST_TRY_S = 0.0002
"""The first pause between two tries; each next one half as long again, at most
:data:`MOST_S`."""
MOST_S = 0.002


class FileTurn:
    """This process's claim on the database file's writer turn (an ``flock`` on
    ``<database>-writer``). Callers take it one at a time (bot/store/writer_turn.py)."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + "-writer")
        self._fd: int | None = None
        self._pid = 0
        self._opening = threading.Lock()

    def _file(self) -> int:
        """The lock file, opened once a process (a forked child opens its own: a lock
        belongs to the open file, which a fork would share)."""
        with self._opening:
            if self._fd is None or self._pid != os.getpid():
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                self._pid = os.getpid()
            return self._fd

    def take(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for the turn; whether it is ours."""
        fd = self._file()
        deadline = time.monotonic() + timeout
        pause = FIRST_TRY_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(pause, left))
            pause = min(pause * 1.5, MOST_S)

    def give_back(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            fcntl.flock(self._fd, fcntl.LOCK_UN)
