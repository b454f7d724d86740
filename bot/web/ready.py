"""``GET /readyz``: the database probe run with a deadline, cached, and judged.

The probe (bot/store/health.py) runs on a daemon thread of its own, never in the
default executor the store uses: a database that accepts connections and never answers
keeps that thread until it answers, and the store's threads must not be the ones lost.
At most one probe runs at a time: while one is still out, ``/readyz`` says so (the
database is failing, with how long it has been silent) instead of starting another. A
result is reused for ``CACHE_SECONDS``, and concurrent requests share one probe, so a
storm of probes is one transaction a second at most.

Database errors of the whole process are counted here too, by the kind of statement
(a SQLAlchemy ``handle_error`` listener on the store's engine), for ``/metrics``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext, make_url

from bot.settings import Settings
from bot.slack.reachability import SlackReachability
from bot.store import migrate
from bot.store.health import DatabaseFacts, probe, probe_engine
from bot.store.runs import RunStore
from bot.web.readiness import Bounds, DatabaseOutcome, Readiness, judge, redact

log = logging.getLogger(__name__)
CACHE_SECONDS = 1.0
SERVER_SHARE = 2 / 3
"""PostgreSQL's statement and lock timeouts, as a share of the deadline: a lock wait ends
on the server with its own reason (and frees the thread) before the deadline passes."""
STATEMENT_KINDS = ("select", "insert", "update", "delete")


class ReadinessProbe:
    def __init__(
        self,
        store: RunStore,
        slack: SlackReachability,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.slack = slack
        self.timeout = settings.ready_timeout
        self.bounds = Bounds(
            outbox_age=settings.ready_outbox_age,
            slack_failures=settings.ready_slack_failures,
            slack_seconds=settings.ready_slack_seconds,
        )
        self.clock = clock
        self.head = migrate.head()
        self.engine = probe_engine(store.url, self.timeout)
        self._secrets = tuple(p for p in [make_url(store.url).password] if p)
        self._cached: tuple[float, Readiness] | None = None
        self._pending: asyncio.Task[Readiness] | None = None
        self._out_since: float | None = None
        """When the probe still running on its thread started (None: none is out)."""
        self._failing: list[str] = []
        self.probes = 0
        """Probes sent to the database (a storm of requests must not raise it much)."""
        self.last_seconds = 0.0
        """How long the newest probe took (or waited, when it timed out)."""
        self.db_errors: Counter[str] = Counter()
        """Database errors by kind: statement kinds, ``connect``, ``probe``."""
        event.listen(store.engine, "handle_error", self._count_error)

    def close(self) -> None:
        """Stop counting the store's errors and let the probe's engine go."""
        if event.contains(self.store.engine, "handle_error", self._count_error):
            event.remove(self.store.engine, "handle_error", self._count_error)
        self.engine.dispose()

    async def check(self) -> Readiness:
        """The readiness, probed at most once per ``CACHE_SECONDS``."""
        if self._cached is not None and self.clock() - self._cached[0] < CACHE_SECONDS:
            return self._cached[1]
        if self._pending is None or self._pending.done():
            self._pending = asyncio.create_task(self._check())
        return await asyncio.shield(self._pending)

    async def _check(self) -> Readiness:
        outcome = await self._database()
        self.last_seconds = outcome.seconds
        readiness = judge(
            outcome, self.head, self.slack.snapshot(), self.bounds, datetime.now(UTC),
            self.slack.clock(),
        )  # fmt: skip
        self._log_change(readiness)
        self._cached = (self.clock(), readiness)
        return readiness

    async def _database(self) -> DatabaseOutcome:
        started = self.clock()
        if (out := self._out_since) is not None:
            silent = started - out
            self.db_errors["probe"] += 1
            return DatabaseOutcome(
                silent, error=f"no answer: the probe sent {silent:.1f}s ago is still waiting"
            )
        try:
            facts = await asyncio.wait_for(self._probe_on_thread(), self.timeout)
        except TimeoutError:
            self.db_errors["probe"] += 1
            return DatabaseOutcome(
                self.clock() - started, error=f"no answer within {self.timeout:g}s"
            )
        except Exception as exc:  # the driver's errors, whatever their class
            self.db_errors["probe"] += 1
            return DatabaseOutcome(
                self.clock() - started, error=redact(_describe(exc), self._secrets)
            )
        return DatabaseOutcome(self.clock() - started, facts=facts)

    def _probe_on_thread(self) -> asyncio.Future[DatabaseFacts]:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[DatabaseFacts] = loop.create_future()

        def deliver(facts: DatabaseFacts | None, error: BaseException | None) -> None:
            if answer.done():  # the deadline passed first
                return
            if error is not None:
                answer.set_exception(error)
            else:
                assert facts is not None
                answer.set_result(facts)

        def work() -> None:
            facts: DatabaseFacts | None = None
            error: BaseException | None = None
            try:
                facts = probe(self.engine, self.timeout * SERVER_SHARE)
            except Exception as exc:
                error = exc
            finally:
                self._out_since = None
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting
                loop.call_soon_threadsafe(deliver, facts, error)

        self._out_since = self.clock()
        self.probes += 1
        threading.Thread(target=work, name="preprod-readyz", daemon=True).start()
        return answer

    def _count_error(self, context: ExceptionContext) -> None:
        statement = (context.statement or "").lstrip().split(" ", 1)[0].lower()
        if not statement:
            self.db_errors["connect"] += 1
        else:
            self.db_errors[statement if statement in STATEMENT_KINDS else "other"] += 1

    def _log_change(self, readiness: Readiness) -> None:
        """One log line when the failing parts change, not one per probe."""
        failing = readiness.failing
        if failing == self._failing:
            return
        self._failing = failing
        if not failing:
            log.info("readiness: every part is ok again")
            return
        reasons = "; ".join(f"{name}: {readiness.parts[name].reason}" for name in failing)
        log.warning("readiness: %s (%s)", readiness.status, reasons)


def _describe(exc: BaseException) -> str:
    """The driver's own message when SQLAlchemy wrapped it (no SQL, no parameters)."""
    original: Any = getattr(exc, "orig", None)
    inner = original if original is not None else exc
    text = str(inner).strip() or type(inner).__name__
    return f"{type(inner).__name__}: {text}"
