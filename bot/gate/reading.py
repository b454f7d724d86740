"""Reading a run as the gate sees it: the plain facts the policy decides from, and the
view of its sign-off panel. Database reads only; nothing here acts or tells anyone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.config.schema import Config
from bot.gate.policy import (
    AttestationFact,
    CheckFact,
    Decision,
    Facts,
    Outcome,
    RolePolicy,
    SignOffFact,
    Vote,
    decide,
)
from bot.gate.quarantine import quarantines_of
from bot.gate.refusals import Refused
from bot.gate.roles import Directory
from bot.gate.view import AttestationView, FailureView, GateView, RoleView, WaiverView
from bot.store.gate import GateStore
from bot.store.models import AttestationTick, DecisionRecord, Run, RunStatus, SignOff, as_utc
from bot.store.runs import RunStore
from checks.base import Status
from checks.spec import AttestationSpec


@dataclass(frozen=True)
class Loaded:
    run: Run
    gate: GateView
    facts: Facts
    recorded: DecisionRecord | None


class RunReader:
    def __init__(
        self,
        config: Config,
        store: RunStore,
        directory: Directory,
        report_url: Callable[[int], str | None],
        clock: Callable[[], datetime],
    ) -> None:
        self.config = config
        self.store = store
        self.gates = GateStore(store)
        self.directory = directory
        self.report_url = report_url
        self.clock = clock

    async def load(self, run_id: int) -> Loaded:
        rows = await self.gates.rows(run_id)
        if rows is None:
            raise Refused(f"There is no run #{run_id}.")
        run, report, signoffs, recorded = rows.run, rows.report, rows.signoffs, rows.decided
        waivers = [w for w in rows.waivers if rows.attempts.get(w.check_id) == w.attempt]
        ticks = {t.item_id: t for t in rows.ticks}
        waived = {w.check_id for w in waivers}
        plan = self.config.plans.get(run.plan)
        items = plan.attestations if plan is not None else []
        quarantines = quarantines_of(plan)
        facts = Facts(
            checks=tuple(
                CheckFact(
                    r.check_id,
                    r.status,
                    r.critical,
                    r.check_id in waived,
                    quarantined_until=q.until if (q := quarantines.get(r.check_id)) else None,
                    summary=r.summary if r.status is Status.SKIPPED else "",
                )
                for r in report.results
            ),
            automated_done=run.status is RunStatus.FINISHED,
            signoffs=tuple(
                SignOffFact(s.role, s.user, Vote(s.vote), s.reason, as_utc(s.at)) for s in signoffs
            ),
            attestations=tuple(
                AttestationFact(
                    i.id, i.role, i.blocking, t.user if (t := ticks.get(i.id)) else None
                )
                for i in items
            ),
            required=tuple(
                RolePolicy(role, self._min_approvals(role)) for role in self.config.required_roles
            ),
            deadline=self.deadline(run),
            cancelled=run.status is RunStatus.CANCELLED,
        )
        decision = (
            Decision(Outcome(recorded.outcome), tuple(recorded.reasons))
            if recorded is not None
            else decide(facts, self.clock())
        )
        gate = GateView(
            run_id=run_id,
            generation=run.generation,
            service=run.service,
            version=run.version,
            environment=run.environment,
            requester=run.requester,
            report_url=self.report_url(run_id),
            decision=decision,
            roles=tuple(self._role_view(role, signoffs) for role in self.config.required_roles),
            failures=tuple(
                FailureView(
                    r.check_id,
                    r.summary,
                    r.critical,
                    q.note() if (q := quarantines.get(r.check_id)) else "",
                )
                for r in report.results
                if r.status.is_problem
            ),
            waivers=tuple(
                WaiverView(w.check_id, w.user, w.justification, as_utc(w.at)) for w in waivers
            ),
            attestations=tuple(self._attestation_view(i, ticks.get(i.id)) for i in items),
            started_at=as_utc(run.created_at),
            decided_at=as_utc(recorded.at) if recorded else None,
            origin=run.origin,
            commit=run.origin_commit,
        )
        return Loaded(run, gate, facts, recorded)

    def deadline(self, run: Run) -> datetime:
        return as_utc(run.created_at) + timedelta(seconds=self.config.policy.signoff_deadline)

    def _min_approvals(self, role: str) -> int:
        found = self.config.roles.get(role)
        return found.min_approvals if found else 1

    def _attestation_view(
        self, item: AttestationSpec, tick: AttestationTick | None
    ) -> AttestationView:
        return AttestationView(
            item_id=item.id,
            text=item.text,
            role=item.role,
            role_label=self.directory.label(item.role),
            blocking=item.blocking,
            ticked_by=tick.user if tick else None,
            note=tick.note if tick else "",
            at=as_utc(tick.at) if tick else None,
        )

    def _role_view(self, role: str, signoffs: list[SignOff]) -> RoleView:
        mine = [s for s in signoffs if s.role == role]
        rejection = next(
            ((s.user, as_utc(s.at), s.reason) for s in mine if s.vote == "reject"), None
        )
        return RoleView(
            role=role,
            label=self.directory.label(role),
            min_approvals=self._min_approvals(role),
            approvals=tuple((s.user, as_utc(s.at)) for s in mine if s.vote == "approve"),
            rejection=rejection,
        )
