"""Runs an environment's plan: light checks side by side, exclusive ones alone; every
result stored before it is announced; nothing a check does escapes as an exception."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bot.config.schema import Config
from bot.engine.durable import through_blips
from bot.engine.events import (
    CheckFinished,
    CheckProgressed,
    CheckStarted,
    Event,
    Listener,
    PlannedCheck,
    RunFinished,
    RunStarted,
    StageFinished,
)
from bot.engine.guarded import run_guarded
from bot.engine.heap import settle_once
from bot.engine.quarantine import excused
from bot.engine.request import RequestError, RunRequest, default_workdir
from bot.engine.scope import Scope, redacted_config
from bot.engine.stages import batches, continue_from, expected_seconds, skip_reason
from bot.record.report import RunReport
from bot.store.baselines import StoreBaselines
from bot.store.faults import is_database_fault
from bot.store.leases import Leases
from bot.store.models import Run, RunStatus
from bot.store.runs import LeaseLost, RunStore
from checks.base import CheckResult, Status
from checks.context import CheckContext, ProgressEvent, RunInfo
from checks.redact import Redactor
from checks.spec import CheckSpec, Stage
from checks.transport import SharedTransport

log = logging.getLogger(__name__)

NOT_SELECTED = "not selected for this run"
INTERRUPTED = (
    "interrupted by a restart of the bot and not safe to repeat by itself; "
    "re-run it (`rerun <run> <check>`) or waive it"
)


@dataclass
class Engine:
    config: Config
    store: RunStore
    workdir: Path = field(default_factory=lambda: default_workdir())
    concurrency: int = 4
    listeners: list[Listener] = field(default_factory=list)
    leases: Leases | None = None
    """When set, new runs are stored already owned by this process (see bot/store/leases)."""
    cancelled_by: str = "preprod"
    """Who the audit trail says cancelled a run when the task executing it is cancelled."""
    handing_over: bool = False
    """Set before cancelling the task that executes a run to hand the run over (a clean
    shutdown, a lost lease) instead of cancelling it: the run stays ``running`` and the
    check that was cut off is resumed by whichever process claims it next."""

    @property
    def _owner(self) -> str | None:
        """Writes are fenced by this process's lease when it executes runs under leases."""
        return self.leases.owner if self.leases is not None else None

    def _now(self) -> datetime:
        """Now by the database's clock (the leases' measured one when there are leases)."""
        return (self.leases.time if self.leases is not None else self.store.clock).now()

    def resolve(self, request: RunRequest) -> tuple[str, list[CheckSpec], list[CheckSpec]]:
        """The plan name, the checks to run and those left out; raises RequestError."""
        envs = self.config.environments
        if request.environment not in envs:
            known = ", ".join(sorted(envs))
            raise RequestError(f"unknown environment {request.environment!r}; known: {known}")
        plan_name = request.plan or envs[request.environment].plan
        if plan_name not in self.config.plans:
            known = ", ".join(sorted(self.config.plans))
            raise RequestError(f"unknown plan {plan_name!r}; known: {known}")
        plan = self.config.plans[plan_name]
        ids = [spec.id for spec in plan.checks]
        if unknown := [check_id for check_id in request.only if check_id not in ids]:
            raise RequestError(
                f"plan {plan_name!r} has no check {', '.join(map(repr, unknown))}; "
                f"its checks: {', '.join(ids)}"
            )
        chosen = plan.select(list(request.only))
        picked = {spec.id for spec in chosen}  # by id: comparing specs whole is O(n^2) deep
        return plan_name, chosen, [spec for spec in plan.checks if spec.id not in picked]

    async def start(self, request: RunRequest) -> Run:
        """Store the run with its checks pending; raises RequestError before storing anything."""
        plan_name, _, _ = self.resolve(request)
        specs = self.config.plans[plan_name].checks
        run = Run(
            service=request.service,
            version=request.version,
            environment=request.environment,
            plan=plan_name,
            base_url=self.config.environments[request.environment].base_url,
            requester=request.requester,
            source=request.source,
            origin=dict(request.origin) if request.origin else None,
            origin_commit=request.commit,
            keep_going=request.keep_going,
            config_path=str(self.config.source),
            config_digest=self.config.digest,
            created_at=self._now(),
        )
        if self.leases is not None:
            self.leases.stamp(run)
        checks = [(s.id, s.type, s.critical) for s in specs]
        text, secrets = self.config.text, frozenset(self.config.secrets)
        config_text = redacted_config(text, secrets) if text else None
        return await self.store.create_run(run, checks, config_text)

    async def execute(self, run: Run, request: RunRequest) -> RunReport:
        """Run the stored run's checks to the end (or until cancelled)."""
        _, chosen, left_out = self.resolve(request)
        keep_going = request.keep_going or run.keep_going
        return await self._execute(run, chosen, left_out, keep_going=keep_going)

    async def set_aside(self, run: Run, request: RunRequest) -> None:
        """Record the checks a request leaves out as skipped now, for a run that another
        process executes: it resumes the run, which runs only the checks still pending."""
        assert run.id is not None
        _, _, left_out = self.resolve(request)
        for spec in left_out:
            await self._record(run.id, spec, CheckResult.skipped(NOT_SELECTED))

    async def rerun(
        self,
        run: Run,
        check_ids: list[str] | None = None,
        actor: str = "preprod",
    ) -> RunReport:
        """Run some of a stored run's checks again, as new attempts; by default all of them,
        or, for a run a failed stage ended, what :meth:`rerun_from` says. The run's own
        keep-going choice holds."""
        assert run.id is not None
        specs = self.config.plans[run.plan].checks
        if check_ids is None:
            _, from_stage = await self.rerun_from(run)
            specs = [s for s in specs if s.id in from_stage]
        chosen = [s for s in specs if check_ids is None or s.id in check_ids]
        if check_ids is not None and len(chosen) != len(set(check_ids)):
            unknown = sorted(set(check_ids) - {s.id for s in specs})
            raise RequestError(
                f"plan {run.plan!r} has no check {', '.join(map(repr, unknown))}; "
                f"its checks: {', '.join(s.id for s in specs)}"
            )
        owner = (self.leases.owner, self.leases.expiry()) if self.leases else None
        await self.store.new_attempts(run.id, [s.id for s in chosen], lease=owner, actor=actor)
        return await self._execute(run, chosen, [], keep_going=run.keep_going)

    async def rerun_from(self, run: Run) -> tuple[str | None, list[str]]:
        """What a re-run of the whole run runs: for a run a failed stage ended, that stage's
        failed checks and the later ones it skipped (the stage's name first, see
        :func:`continue_from`); otherwise every check."""
        assert run.id is not None
        plan = self.config.plans[run.plan]
        report = await self.store.report(run.id)
        latest = {r.check_id: (r.status.value, r.summary) for r in report.results}
        found = continue_from(plan.stage_list(), latest)
        return found if found is not None else (None, [spec.id for spec in plan.checks])

    async def resume(self, run: Run) -> RunReport:
        """Go on with a run whose process stopped: finished checks are kept; a check it
        left pending or running runs (again), unless it is not safe to repeat by itself,
        which is recorded ``interrupted`` for a person to re-run or waive."""
        assert run.id is not None
        states = await self.store.check_states(run.id)
        todo, interrupted = [], []
        for spec in self.config.plans[run.plan].checks:
            state = states.get(spec.id, "pending")
            if state == "running" and not spec.is_repeat_safe():
                interrupted.append(spec)
            elif state in ("pending", "running"):
                todo.append(spec)
        return await self._execute(run, todo, [], interrupted, keep_going=run.keep_going)

    async def _execute(
        self,
        run: Run,
        chosen: list[CheckSpec],
        left_out: list[CheckSpec],
        interrupted: list[CheckSpec] | None = None,
        keep_going: bool = False,
    ) -> RunReport:
        assert run.id is not None
        run_id = run.id
        settle_once()
        picked = {s.id for s in chosen}  # by id: comparing specs whole is O(n^2) deep
        planned = tuple(
            PlannedCheck(s.id, s.type, s.critical, s.id in picked)
            for s in self.config.plans[run.plan].checks
        )
        self._emit(RunStarted(run_id, planned))
        try:
            for spec in left_out:
                await self._record(run_id, spec, CheckResult.skipped(NOT_SELECTED))
            for spec in interrupted or []:
                await self._record(
                    run_id, spec, CheckResult(status=Status.INTERRUPTED, summary=INTERRUPTED)
                )
            info = RunInfo(run_id, run.service, run.version, run.environment, run.plan)
            stages = self.config.plans[run.plan].stage_list()
            target = self.config.target(run.environment)
            pool = SharedTransport(target.ssl_context)
            scope = Scope(
                info, Redactor(self.config.secrets), target, self.workdir / f"run-{run_id}", pool
            )
            try:
                for index, stage in enumerate(stages):
                    todo = [spec for spec in stage.checks if spec.id in picked]
                    for batch in batches(todo):
                        scope.left[0] = len(batch)
                        specs = iter(batch)  # shared: each taken once, in plan order
                        async with asyncio.TaskGroup() as group:
                            for _ in range(min(self.concurrency, len(batch))):
                                group.create_task(self._work_through(specs, scope, group))
                    later = [
                        s for s in stages[index + 1 :] if any(c.id in picked for c in s.checks)
                    ]
                    if not later:
                        break
                    # a stage this execution ran none of (a re-run of a later check) ends nothing
                    if todo and await self._stage_ended(run, stage, later, picked, keep_going):
                        break
            except* LeaseLost as lost:
                raise lost.exceptions[0] from None
            finally:
                await pool.close()
        except LeaseLost:
            self.handing_over = True  # another process executes the run now: leave it be
            raise
        except asyncio.CancelledError:
            if not self.handing_over:
                ended = self.store.finish_run(run_id, RunStatus.CANCELLED, actor=self.cancelled_by)
                await asyncio.shield(ended)
            raise
        except Exception as exc:
            # The database failing is no verdict on the release: a leased run stays
            # running and is resumed like one whose process died (bot/slack/runs.py); a
            # terminal's run (no lease, nobody resumes it) ends failed if it can.
            if self.leases is None or not is_database_fault(exc):
                await self.store.finish_run(run_id, RunStatus.FAILED)
            raise
        await self.store.finish_run(run_id, RunStatus.FINISHED, self._owner)
        report = await self.store.report(run_id)
        self._emit(RunFinished(run_id, report))
        return report

    async def _stage_ended(
        self,
        run: Run,
        stage: Stage,
        later: list[Stage],
        chosen: AbstractSet[str],
        keep_going: bool,
    ) -> bool:
        """After a stage: a blocking failure (as recorded: not one a quarantine in force
        excused) in a fail-fast stage records the later chosen checks ``skipped`` with the
        reason and ends the run (True); a passed stage tells the listeners what comes next
        and how long it should take."""
        assert run.id is not None
        # as recorded: a failure a quarantine excused when it was recorded blocks nothing
        report = await self.store.report(run.id)
        blocking = {r.check_id for r in report.results if r.blocking}
        failed = [s.id for s in stage.checks if s.id in blocking]
        if failed and stage.fail_fast and not keep_going:
            result = CheckResult.skipped(skip_reason(stage.name, failed))
            for spec in (c for s in later for c in s.checks if c.id in chosen):
                await self._record(run.id, spec, result)
            return True
        if not failed:
            rest = [c for c in later[0].checks if c.id in chosen]
            past = await self.store.median_durations(
                run.service, run.environment, [c.id for s in later for c in s.checks], run.id
            )
            todo = [[c for c in s.checks if c.id in chosen] for s in later]
            self._emit(
                StageFinished(
                    run.id,
                    stage.name,
                    tuple(c.id for c in stage.checks if c.id in chosen),
                    later[0].name,
                    tuple(c.id for c in rest),
                    expected_seconds([list(batches(t)) for t in todo], past),
                )
            )
        return False

    async def run(self, request: RunRequest) -> RunReport:
        return await self.execute(await self.start(request), request)

    async def _work_through(
        self, specs: Iterator[CheckSpec], scope: Scope, group: asyncio.TaskGroup
    ) -> None:
        """One of an execution's ``concurrency`` workers: the batch's checks one after
        another, taken in plan order with the other workers (a task a worker, not a task
        and a semaphore wait a check). A result is recorded beside the next check: that
        one starts while this one is written, and results that pile up meanwhile are
        committed together (bot/store/batch.py); the batch's last result says no other is
        coming, so it is not kept waiting."""
        for spec in specs:
            started, result = await self._run_check(scope, spec)
            scope.left[0] -= 1
            last = scope.left[0] == 0
            record = self._record(scope.info.run_id, spec, result, started, last, scope.redact)
            group.create_task(record)

    async def _run_check(self, scope: Scope, spec: CheckSpec) -> tuple[datetime, CheckResult]:
        info = scope.info
        started = self._now()
        if spec.is_repeat_safe():  # a resume runs it again either way: no need to wait
            self.store.mark_started_soon(info.run_id, spec.id, started, self._owner)
        else:  # recorded running before it starts, so a resume marks it interrupted
            mark = lambda: self.store.mark_started(info.run_id, spec.id, started, self._owner)  # noqa: E731
            await through_blips(f"mark check {spec.id} of run {info.run_id} started", mark)
        self._emit(CheckStarted(info.run_id, spec.id))
        ctx = CheckContext(
            target=scope.target,
            run=info,
            check_id=spec.id,
            redactor=scope.redact,
            workdir=scope.folder / spec.id,
            on_progress=lambda event: self._progress(info.run_id, event),
            baselines=StoreBaselines(self.store, info.service, info.environment, info.run_id),
            transport=scope.pool,
        )
        return started, await run_guarded(spec, ctx)

    async def _record(
        self,
        run_id: int,
        spec: CheckSpec,
        result: CheckResult,
        started: datetime | None = None,
        last: bool = True,
        redact: Redactor | None = None,
    ) -> None:
        """Store, then announce. ``last``: no other result is coming soon (so not kept waiting).
        ``redact``: the execution's redactor (else one is made)."""
        redact = redact or Redactor(self.config.secrets)
        now = self._now()
        final = result.model_copy(
            update={
                "check_id": spec.id,
                "check_type": spec.type,
                "critical": spec.critical,
                "blocking": spec.critical and result.status.is_problem and not excused(spec, now),
                "summary": redact(result.summary),
                "evidence": redact(result.evidence),
                "started_at": started or now,
                "finished_at": now,
            }
        )
        save = lambda: self.store.save_result(run_id, final, self._owner, last)  # noqa: E731
        await through_blips(f"store check {spec.id} of run {run_id}", save)
        self._emit(CheckFinished(run_id, final))

    def _progress(self, run_id: int, event: ProgressEvent) -> None:
        self._emit(CheckProgressed(run_id, event))

    def _emit(self, event: Event) -> None:
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # a broken display must not stop a release check
                log.exception("progress listener failed on %s", type(event).__name__)
