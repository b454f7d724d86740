"""Locust dies with its owner, however the owner dies.

A cancel kills Locust's process groups (checks/load/runner.py), but a SIGKILL of the
process running the check (``preprod serve``, ``preprod check``) runs no cleanup, and
Locust, alone in its own session, would keep loading the target from PID 1. Three layers:

* On Linux every Locust process is started through this file as a launcher, which asks
  the kernel for SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``) and then
  ``exec``s Locust: the request survives ``exec``, needs no ``preexec_fn`` (unsafe in
  a process with threads) and covers the master and every local worker alike. The
  signal fires when the *thread* that forked exits: asyncio forks from the event loop's
  thread, which lives as long as the loop that owns the check.
* Everywhere, the generated locustfile watches its parent's pid (``ENV_OWNER``) and kills
  its own process group once the owner is gone (see checks/load/locustfile.py).
* A process that must exit at once (a forced shutdown) calls ``kill_all()`` first.

Run as a script, with the standard library only: ``python -I -S children.py OWNER CMD...``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

ENV_OWNER = "PREPROD_LOAD_OWNER"
"""The pid of the process that owns a Locust run; Locust quits when it is gone."""

_PR_SET_PDEATHSIG = 1
_LAUNCHER = os.path.abspath(__file__)
_live_groups: set[int] = set()


def parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies. False where
    there is no ``prctl`` (not Linux); then the locustfile's watchdog stands alone."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes  # at use: loading a plan imports this module, and _ctypes is slow to load

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def launched(cmd: list[str]) -> list[str]:
    """``cmd`` started through the launcher, so that it dies with this process (Linux);
    ``cmd`` itself elsewhere."""
    if not sys.platform.startswith("linux"):
        return list(cmd)
    return [sys.executable, "-I", "-S", _LAUNCHER, str(os.getpid()), *cmd]


def owner_environment(env: dict[str, str]) -> dict[str, str]:
    """``env`` naming this process as the owner the locustfile's watchdog watches."""
    return {**env, ENV_OWNER: str(os.getpid())}


def track(pgid: int) -> None:
    """Remember a live Locust process group (its leader's pid) for ``kill_all``."""
    _live_groups.add(pgid)


def untrack(pgid: int) -> None:
    _live_groups.discard(pgid)


def kill_all() -> int:
    """SIGKILL every Locust process group still tracked; how many were signalled. For a
    process about to ``os._exit`` without running its cleanup."""
    killed = 0
    for pgid in list(_live_groups):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
            killed += 1
        _live_groups.discard(pgid)
    return killed


def _launch(argv: list[str]) -> None:
    """The launcher: the death signal, a check that the owner did not die before it was
    set (the signal would never come), then Locust in this very process."""
    owner, cmd = int(argv[0]), argv[1:]
    parent_death_signal(signal.SIGKILL)
    if os.getppid() != owner:
        sys.exit(1)
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    _launch(sys.argv[1:])
