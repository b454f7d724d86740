"""Re-running a run: the part of the run manager that decides what ``/preprod rerun``
executes (one check, every check, or the rest of a run a failed stage ended, whose early
NO-GO it then reopens), queues the new attempts and shows them in the run's thread."""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from bot.config.schema import Config
from bot.engine.request import RequestError, RunRequest
from bot.engine.runner import Engine
from bot.gate.actions import Gate
from bot.gate.policy import Outcome
from bot.record.report import RunReport
from bot.settings import Settings
from bot.slack.opening import ReplyError, opening_reply
from bot.slack.publisher import Note, ThreadPublisher
from bot.slack.render_github import job_name, reopened_note
from bot.slack.run_threads import ThreadOpening
from bot.slack.state import RunState
from bot.store.github import GitHubStore
from bot.store.models import Run


class Rerunning(ThreadOpening):
    """What :class:`bot.slack.runs.RunManager` holds, as far as re-runs need."""

    config: Config
    settings: Settings
    gate: Gate | None

    if TYPE_CHECKING:  # the manager's own, used here

        def engine(self) -> Engine: ...

        def channel(self, requested_in: str, environment: str | None = None) -> str: ...

        @property
        def runs_here(self) -> bool: ...

        def _spawn(
            self,
            run_id: int,
            engine: Engine,
            publisher: ThreadPublisher,
            work: Coroutine[Any, Any, RunReport],
        ) -> None: ...

    async def rerun(self, run_id: int, check_id: str | None, user: str, channel: str) -> Run:
        if run_id in self.tasks:
            raise RequestError(f"run #{run_id} is still running; cancel it first")
        run = await self.store.get_run(run_id)
        if run is None:
            raise LookupError(f"no run #{run_id}")
        engine = self.engine()
        engine.resolve(RunRequest(run.service, run.version, run.environment, run.plan))
        scope = await self.rerun_scope(run, check_id)
        cleared = ""
        if self.gate is not None and await self.gate.gates.signoffs(run_id, run.generation):
            cleared = " The sign-offs given on the old evidence are cleared."
        if scope.reopens:
            cleared += await self.github_told(run_id)
        await self.leases.clear_cancel_request(run_id)
        # The new attempts are queued leased to this process, so nobody else starts them
        # while the thread is told; then they run here, or a worker claims them.
        lease = (self.leases.owner, self.leases.expiry())
        reopen = scope.stage if scope.reopens else None
        if not await self.store.new_attempts(
            run_id, scope.checks, lease=lease, actor=user, reopen=reopen
        ):
            raise RequestError(f"run #{run_id} was decided meanwhile; start a new run instead")
        run = await self.store.get_run(run_id) or run
        state = with_origin(
            RunState.from_report(await self.store.report(run_id), self.settings.report_url(run_id)),
            run,
        )
        note = Note(f"rerun:{run.generation}", rerun_note(user, scope) + cleared)
        where = self.channel(channel, run.environment)
        publisher = self._open(engine, state, where, run.generation, note)
        if self.runs_here:
            self._spawn(run_id, engine, publisher, engine.resume(run))
            told = opening_reply(where, await self._first_try(run_id, publisher))
        else:
            told = opening_reply(where, await self._first_try(run_id, publisher))
            await (publisher.close() if told is None else publisher.abandon())
            await self.leases.release(run_id)
        if told is None:
            return run
        reply, stopped = told
        if stopped:
            await self._stop_unthreaded(run_id, publisher)
        raise ReplyError(reply)

    async def github_told(self, run_id: int) -> str:
        """What the thread adds when the run answers a GitHub job that already heard the
        NO-GO being reopened (GitHub keeps it: only a re-run of the job hears another)."""
        github = GitHubStore(self.store)
        job = await github.job(run_id)
        told = None if job is None else await github.told(run_id)
        if job is None or told is None:
            return ""
        name = job_name(job.owner, job.repo, job.workflow_run, job.environment)
        return reopened_note(name, told.state)

    async def rerun_scope(self, run: Run, check_id: str | None) -> RerunScope:
        """What ``/preprod rerun`` of ``run`` executes, or RequestError why it may not: a
        decided run is re-run only to continue one a failed stage ended with a NO-GO (that
        decision is then reopened); one check of such a run, no (continue the run)."""
        assert run.id is not None
        engine = self.engine()
        engine.resolve(RunRequest(run.service, run.version, run.environment, run.plan))
        known = [spec.id for spec in self.config.plans[run.plan].checks]
        if check_id is not None and check_id not in known:
            raise RequestError(
                f"run #{run.id} has no check `{check_id}`; its checks: {', '.join(known)}"
            )
        stage, checks = await engine.rerun_from(run)
        decided = await self.gate.gates.decision(run.id) if self.gate is not None else None
        scope = (
            RerunScope(None, [check_id], False) if check_id else RerunScope(stage, checks, False)
        )
        if decided is None:
            return scope
        if decided.outcome == Outcome.NO_GO.value and stage is not None:
            if check_id is None:
                return RerunScope(stage, checks, True)
            raise RequestError(
                f"run #{run.id} is decided (NO-GO) after stage `{stage}` failed; "
                f"`rerun {run.id}` continues it from there"
            )
        raise RequestError(
            f"run #{run.id} is decided ({decided.outcome.upper()}); start a new run instead"
        )


@dataclass(frozen=True)
class RerunScope:
    """What a re-run executes: the stage it continues from (None: as asked), its checks,
    and whether it reopens the run's early NO-GO."""

    stage: str | None
    checks: list[str]
    reopens: bool


def rerun_note(user: str, scope: RerunScope) -> str:
    """The thread's line for a re-run (mrkdwn; check ids and stage names are plain words
    by the plan's schema)."""
    if scope.stage is None:
        what = f"check `{scope.checks[0]}`" if len(scope.checks) == 1 else "every check"
        return f"🔁 <@{user}> re-runs {what}."
    line = (
        f"🔁 <@{user}> continues the run from stage `{scope.stage}`: "
        f"{', '.join(f'`{c}`' for c in scope.checks)}."
    )
    if scope.reopens:
        line += (
            " The early NO-GO is reopened: the gate decides again when they finish "
            "(sign-offs are asked if every check passes)."
        )
    return line


def with_origin(state: RunState, run: Run) -> RunState:
    """A state read from a report, with the pipeline's request the report leaves out."""
    return replace(state, origin=run.origin, commit=run.origin_commit)
