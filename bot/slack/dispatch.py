"""What each ``/preprod`` command answers. The handler acks with ``Reply.message`` at
once; slow work (opening a thread, running checks) goes on in ``Reply.then``."""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from bot.engine.request import RequestError, RunRequest
from bot.gate.refusals import Refused, TooSlow
from bot.gate.roles import DirectoryUnavailable
from bot.gate.starting import authorise_start
from bot.gate.summary import labels_from_rows
from bot.slack.blocks import (
    Message,
    RunListItem,
    help_message,
    list_message,
    notice,
    report_link,
    status_message,
)
from bot.slack.commands import (
    Cancel,
    Command,
    Help,
    ListRuns,
    RecordOutcome,
    Report,
    Rerun,
    Start,
    Status,
)
from bot.slack.opening import ReplyError
from bot.slack.runs import RunManager
from bot.slack.text import Mrkdwn, channel_link, join
from bot.slack.unavailable import (
    AfterAck,
    cancel_after_ack,
    failed,
    is_unavailable,
    let_go,
    of_command,
    rerun_after_ack,
    started_after_ack,
)
from bot.store.faults import answering
from bot.store.listing import latest_with_gate_rows
from bot.store.models import Run, RunStatus
from bot.store.runs import RunStore


@dataclass
class Reply:
    message: Message
    then: Coroutine[Any, Any, object] | None = None


class Dispatcher:
    def __init__(self, manager: RunManager) -> None:
        self.manager = manager
        self.config = manager.config

    @property
    def store(self) -> RunStore:
        return self.manager.store

    async def answer(self, command: Command, user: str, channel: str) -> Reply:
        """Decide the reply; raises nothing a user caused (those become replies). The
        database work behind it ends within the ack budget; when the database fails or
        does not answer in time, the reply says so and that nothing was recorded."""
        try:
            async with answering(self.manager.settings.ack_budget):
                return await self._answer(command, user, channel)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            return Reply(failed(of_command(command), user, exc))

    async def _answer(self, command: Command, user: str, channel: str) -> Reply:
        try:
            match command:
                case Start():
                    return await self._start(command, user, channel)
                case Status(run_id=run_id):
                    return await self._status(run_id, user)
                case ListRuns():
                    return await self._list()
                case Cancel(run_id=run_id):
                    return await self._cancel(run_id, user)
                case Rerun(run_id=run_id, check_id=check_id):
                    return await self._rerun(run_id, check_id, user, channel)
                case Report(run_id=run_id):
                    return await self._report(run_id)
                case RecordOutcome(run_id=run_id, result=result):
                    return await self._outcome(run_id, result, user)
                case Help():
                    return Reply(help_message())
        except (RequestError, LookupError, Refused, DirectoryUnavailable) as exc:
            if isinstance(exc, (TooSlow, DirectoryUnavailable)):
                let_go(str(exc))  # nothing recorded, "try again": the retry is no replay
            return Reply(notice(str(exc).strip("'\"")))
        raise AssertionError(f"unhandled command {command!r}")

    async def _start(self, command: Start, user: str, channel: str) -> Reply:
        if not self.config.may_start(user, channel):
            where = self.config.starters.channels or [self.config.channel or ""]
            places = join(", ", (channel_link(c) for c in where if c))
            refusal = Mrkdwn(f"Runs can only be started in {places} or by release managers.")
            return Reply(notice(refusal))
        request = RunRequest(
            service=command.service,
            version=command.version,
            environment=command.environment,
            plan=command.plan,
            only=command.only,
            keep_going=command.keep_going,
            requester=user,
            source="slack",
        )
        # unknown environment, plan or check: RequestError now, in the CLI's words
        plan, _, _ = self.manager.engine().resolve(request)
        gate = self.manager.gate
        directory = gate.directory if gate is not None else None
        # may this person start it (started_by)? A refusal is kept in the audit trail
        await authorise_start(self.config, self.store, directory, user, command.environment, plan)
        run = await self.manager.store_run(request)  # stored before the ack, never after
        text = (
            f"Starting the validation of {command.service} {command.version} "
            f"on {command.environment} (run #{run.id}); follow it in the thread."
        )
        assert run.id is not None
        work = self.manager.start(run, request, channel)
        return Reply(notice(text), _honest_after_ack(work, started_after_ack(run.id), user))

    async def _status(self, run_id: int | None, user: str) -> Reply:
        if run_id is None:
            mine = [r for r in await self.store.list_runs(50) if r.requester == user]
            if not mine or mine[0].id is None:
                return Reply(notice("You have no runs yet. Start one with /preprod start."))
            run_id = mine[0].id
        publisher = self.manager.publishers.get(run_id)
        if publisher is not None:
            return Reply(status_message(publisher.state))
        report = await self.store.report(run_id)
        return Reply(status_message(report, self.manager.settings.report_url(run_id)))

    async def _list(self) -> Reply:
        runs, rows = await latest_with_gate_rows(self.store, 20)  # one call, two queries
        label = self.manager.gate.directory.label if self.manager.gate is not None else None
        decided = labels_from_rows(self.config, runs, rows, label)
        items = [
            RunListItem(r.id, r.service, r.version, r.environment, r.status.value, r.created_at,
                        r.requester, decided.get(r.id, ""))
            for r in runs
            if r.id is not None
        ]  # fmt: skip
        return Reply(list_message(items))

    async def _cancel(self, run_id: int, user: str) -> Reply:
        run = await self._stored(run_id)
        if not self._may_act_on(run.requester, user):
            return Reply(notice(f"Only the requester or a release role can cancel run #{run_id}."))
        not_running = notice(f"Run #{run_id} is not running (it is {run.status.value}).")
        if run_id in self.manager.tasks:
            work = _honest_after_ack(
                self.manager.cancel(run_id, user), cancel_after_ack(run_id), user
            )
            return Reply(notice(f"Cancelling run #{run_id}…"), work)
        if run.status != RunStatus.RUNNING:
            return Reply(not_running)
        # executed by another replica or a worker: its owner sees the request and cancels
        if not await self.manager.request_cancel(run_id, user):
            return Reply(not_running)
        return Reply(
            notice(
                f"Cancel of run #{run_id} requested; the process running it stops it "
                "in a moment and says so in the thread."
            )
        )

    async def _rerun(self, run_id: int, check_id: str | None, user: str, channel: str) -> Reply:
        run = await self._stored(run_id)
        if not self._may_act_on(run.requester, user):
            return Reply(notice(f"Only the requester or a release role can re-run run #{run_id}."))
        if run_id in self.manager.tasks or run.status == RunStatus.RUNNING:
            return Reply(notice(f"Run #{run_id} is still running; cancel it first."))
        plan = self.config.plans.get(run.plan)
        known = [spec.id for spec in plan.checks] if plan else []
        if check_id is not None and check_id not in known:
            its = f"; its checks: {', '.join(known)}" if known else ""
            return Reply(notice(f"Run #{run_id} has no check {check_id}{its}."))
        scope = await self.manager.rerun_scope(run, check_id)  # RequestError: refused
        what = f"check {check_id}" if check_id else "every check"
        if scope.stage is not None:
            what = f"stage {scope.stage}'s failed checks and the stages after it"
        reopened = "; its early NO-GO is reopened" if scope.reopens else ""
        rerun = self.manager.rerun(run_id, check_id, user, channel)
        work = _honest_after_ack(rerun, rerun_after_ack(run_id), user)
        return Reply(notice(f"Re-running {what} of run #{run_id}{reopened}; see its thread."), work)

    async def _report(self, run_id: int) -> Reply:
        run = await self._stored(run_id)
        url = self.manager.settings.report_url(run_id)
        return Reply(report_link(run_id, run.service, run.version, url))

    async def _outcome(self, run_id: int, result: str, user: str) -> Reply:
        run = await self._stored(run_id)
        if not self._may_act_on(run.requester, user):
            return Reply(notice(f"Only the requester or a release role can record run #{run_id}."))
        gate = self.manager.gate
        if gate is None:
            return Reply(notice("Sign-offs are not set up for this bot."))
        await gate.record_outcome(run_id, user, result)
        return Reply(notice(f"Recorded: run #{run_id} in production: {result}."))

    async def _stored(self, run_id: int) -> Run:
        """The stored run; LookupError (answered as a notice) when there is none."""
        run = await self.store.get_run(run_id)
        if run is None:
            raise LookupError(f"no run #{run_id}")
        return run

    def _may_act_on(self, requester: str, user: str) -> bool:
        return (
            user == requester
            or user in self.config.role_members()
            or user in self.config.starters.users
        )


async def _honest_after_ack(work: Coroutine[Any, Any, object], told: AfterAck, user: str) -> object:
    """The work after the ack; the database failing in it becomes the honest private
    answer (:class:`ReplyError`, which the command's follow-up sends), one log line."""
    try:
        return await work
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        raise ReplyError(Mrkdwn(told.failed(user, exc))) from None
