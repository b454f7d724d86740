"""Locust's own error lines as the load check's evidence shows them (pure, no Locust)."""

from __future__ import annotations

from checks.load.logs import error_messages, summarize_errors

STOPPING_NOISE = """\
Traceback (most recent call last):
  File "src/gevent/greenlet.py", line 912, in gevent._gevent_cgreenlet.Greenlet.run
  File "/venv/lib/python3.11/site-packages/locust/user/users.py", line 228, in stop
    raise Exception(f"Tried to stop User in an unexpected state: {self._state}.")
Exception: Tried to stop User in an unexpected state: stopping. This should never happen.
2026-11-30T02:14:04Z <Greenlet at 0x7f3e: <bound method User.stop of <P>>(force=False)> failed \
with Exception
"""

MASTER_LOG = (
    "[2026-11-30 02:14:00,305] vm/INFO/locust.main: Starting Locust 2.47.0\n"
    + STOPPING_NOISE * 14
    + """\
Traceback (most recent call last):
  File "locustfile.py", line 3, in on_start
    self.login()
KeyError: 'token'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "locustfile.py", line 5, in on_start
RuntimeError: login failed
[2026-11-30 02:14:05,001] vm/ERROR/locust.runners: worker 1 missed heartbeats
[2026-11-30 02:14:08,001] vm/ERROR/locust.runners: worker 1 missed heartbeats
"""
)


def test_a_traceback_is_its_exception_and_a_chain_its_last() -> None:
    assert list(error_messages(MASTER_LOG))[-3:] == [
        "RuntimeError: login failed",
        "vm/ERROR/locust.runners: worker 1 missed heartbeats",
        "vm/ERROR/locust.runners: worker 1 missed heartbeats",
    ]
    assert not any(m.startswith("Traceback") for m in error_messages(MASTER_LOG))


def test_errors_are_deduplicated_with_a_count_and_stopping_noise_dropped() -> None:
    assert summarize_errors([("master", MASTER_LOG), ("worker-0", "KeyError: x\n")]) == [
        "master: RuntimeError: login failed",
        "master: vm/ERROR/locust.runners: worker 1 missed heartbeats (2 times)",
        "worker-0: KeyError: x",
    ]
    assert summarize_errors([("master", STOPPING_NOISE * 14)]) == []


def test_many_distinct_errors_are_capped() -> None:
    log = "".join(f"[t] vm/ERROR/x: problem {i}\n" for i in range(50))
    lines = summarize_errors([("master", log)], limit=5)
    assert lines[-1] == "... and 45 more distinct errors" and len(lines) == 6
