"""A run as the pipelines' API shows it: gathered from the gate's reading (decision,
sign-offs, awaited roles), the checks' latest attempts, the thread and the decision's
audit event, then shaped by the pure :func:`shape`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.audit.chain import Action, Entry
from bot.gate.actions import Gate
from bot.gate.policy import Outcome
from bot.gate.reading import Loaded
from bot.store.attempts import LatestAttempt
from bot.store.audit_log import AuditLog
from bot.store.models import SlackThread
from bot.store.requests import Requests
from bot.store.runs import RunStore
from bot.web.api_models import (
    AuditRef,
    Awaited,
    CheckItem,
    Checks,
    Links,
    RunView,
    SignOffItem,
    SourceView,
)
from checks.base import Status

API = "/api/v1"
SUPERSEDED_BY = re.compile(r"superseded by run #(\d+)")
FINAL = {status.value for status in Status}
PROBLEMS = {status.value for status in Status if status.is_problem}


def superseded_reason(run_id: int, version: str) -> str:
    """The reason of a SUPERSEDED decision (``superseded_by`` is read back from it)."""
    return f"superseded by run #{run_id} (version {version})"


def thread_url(thread: SlackThread | None) -> str | None:
    """The parent message's address (Slack's ``archives`` links open it in any client)."""
    if thread is None:
        return None
    return f"https://slack.com/archives/{thread.channel}/p{thread.parent_ts.replace('.', '')}"


@dataclass(frozen=True)
class Gathered:
    loaded: Loaded
    checks: list[LatestAttempt]
    thread: SlackThread | None
    head: Entry | None
    labels: dict[str, str]
    report_url: str


def shape(found: Gathered) -> RunView:
    """The RunView of what was gathered (pure)."""
    run, gate = found.loaded.run, found.loaded.gate
    assert run.id is not None
    decision = gate.decision
    items = [
        CheckItem(id=c.check_id, status=c.status, critical=c.critical, summary=c.summary)
        for c in found.checks
    ]
    signoffs = [
        SignOffItem(role=role.role, user=user, vote="approve", reason="")
        for role in gate.roles
        for user, _ in role.approvals
    ] + [
        SignOffItem(role=role.role, user=role.rejection[0], vote="reject", reason=role.rejection[2])
        for role in gate.roles
        if role.rejection is not None
    ]
    superseded_by = None
    if decision.outcome is Outcome.SUPERSEDED:
        match = next((m for r in decision.reasons if (m := SUPERSEDED_BY.match(r))), None)
        superseded_by = int(match[1]) if match else None
    origin = run.origin or None
    return RunView(
        id=run.id,
        service=run.service,
        version=run.version,
        environment=run.environment,
        plan=run.plan,
        status=run.status.value,
        decision=decision.outcome.value,
        reasons=list(decision.reasons),
        checks=Checks(
            total=len(items),
            done=sum(c.status in FINAL for c in items),
            failed=sum(c.status in PROBLEMS for c in items),
            items=items,
        ),
        awaiting=[Awaited(role=r, label=found.labels.get(r, r)) for r in decision.awaiting_roles],
        signoffs=signoffs,
        links=Links(
            self=f"{API}/runs/{run.id}", report=found.report_url, thread=thread_url(found.thread)
        ),
        audit=AuditRef(seq=found.head.seq, hash=found.head.hash) if found.head else None,
        superseded_by=superseded_by,
        source=SourceView.model_validate(origin) if origin else None,
        commit=run.origin_commit,
    )


class Viewer:
    """Reads what a RunView needs (five short reads)."""

    def __init__(self, store: RunStore, gate: Gate, report_url: str) -> None:
        self.store = store
        self.gate = gate
        self.requests = Requests(store)
        self.audit = AuditLog(store)
        self.report_base = report_url

    async def view(self, loaded: Loaded) -> RunView:
        run_id = loaded.gate.run_id
        head = None
        if loaded.recorded is not None:
            head = await self.audit.last_of(run_id, Action.DECISION)
        labels = {r: self.gate.directory.label(r) for r in loaded.gate.decision.awaiting_roles}
        return shape(
            Gathered(
                loaded=loaded,
                checks=await self.requests.checks(run_id),
                thread=await self.store.get_thread(run_id),
                head=head,
                labels=labels,
                report_url=f"{self.report_base}/runs/{run_id}",
            )
        )
