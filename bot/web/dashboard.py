"""The dashboard: ``/runs`` (filtered, paged by key), ``/runs/{id}`` (the report, the
sign-off panel, the audit trail) and its actions, for signed-in people.

An action from this page goes through the same Gate methods as a click in Slack
(``record_sign`` / ``record_waiver`` / ``record_tick``, then ``refresh``), so the same
rules hold (membership, the requester, one role per person, the evidence generation,
reasons) and the Slack panel is updated by its own ``PanelChanged`` listener. A refused
action is shown to the person and recorded nowhere."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from html import escape
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.audit.projection import headline
from bot.gate.actions import Gate
from bot.gate.policy import Vote
from bot.gate.quarantine import quarantines_of
from bot.gate.reading import Loaded
from bot.gate.refusals import Refused
from bot.gate.roles import DirectoryUnavailable
from bot.gate.summary import (
    awaited_roles,
    decision_label,
    decision_labels,
    required_policies,
)
from bot.gate.view import Target
from bot.input_limits import MAX_RUN_ID, MAX_TEXT, MIN_REASON, is_run_id
from bot.record.report import AttestationItem
from bot.reports import render_html
from bot.reports.html import format_duration, people_of
from bot.store.agreement import check_run
from bot.store.listing import DECISIONS, RunFilter, page_of_runs
from bot.store.models import Run, RunStatus, utcnow
from bot.store.record import full_report
from bot.store.runs import RunStore
from bot.store.trends import check_trends, flaky_checks
from bot.web.forms import BadForm, read_form
from bot.web.names import DisplayNames, shown
from bot.web.pages import templates
from bot.web.run_page import keep_notice, people, take_notice
from bot.web.signin import SignIn, WebUser
from bot.web.trail import AuditTrail
from bot.web.trends import trend_charts

log = logging.getLogger(__name__)

ACTIONS = ("approve", "reject", "waive", "tick")
MAX_FILTER = 100
FLAKY_DAYS = 90
"""The dashboard's flakiest checks are those of the runs started in this many days."""

Page = Callable[[Request, WebUser], Awaitable[Response]]


def no_such_run() -> Response:
    return HTMLResponse("<h1>No such run</h1>", status_code=404)


def of_a_run(page: Page) -> Page:
    """``page`` behind a ``/runs/{run_id}`` path: a number no run can have (0, or over
    :data:`~bot.input_limits.MAX_RUN_ID`) is a 404 before the database is asked (it was
    a 500: PostgreSQL's integer out of range, SQLite's int too large). Every route with a
    run id goes through this."""

    async def bounded(request: Request, user: WebUser) -> Response:
        if not is_run_id(request.path_params["run_id"]):
            return no_such_run()
        return await page(request, user)

    return bounded


class Dashboard:
    def __init__(
        self,
        store: RunStore,
        gate: Gate,
        sign_in: SignIn,
        trail: AuditTrail,
        names: DisplayNames | None = None,
    ) -> None:
        self.store = store
        self.gate = gate
        self.sign_in = sign_in
        self.trail = trail
        self.names = names

    def routes(self) -> list[Route]:
        need = self.sign_in.required
        return [
            Route("/runs", need(self.runs)),
            Route("/runs/{run_id:int}", need(of_a_run(self.run))),
            Route("/runs/{run_id:int}/report", need(of_a_run(self.report))),
            Route("/runs/{run_id:int}/act", need(of_a_run(self.act)), methods=["POST"]),
        ]

    async def runs(self, request: Request, user: WebUser) -> Response:
        q = request.query_params
        filters = RunFilter(
            service=_short(q.get("service")),
            environment=_short(q.get("environment")),
            status=q.get("status") if q.get("status") in set(RunStatus) else None,
            decision=q.get("decision") if q.get("decision") in DECISIONS else None,
            before=_before(q.get("before")),
            after=_after(q.get("after")),
        )
        page = await page_of_runs(self.store, filters)
        flaky = await flaky_checks(
            self.store, utcnow() - timedelta(days=FLAKY_DAYS), filters.service
        )
        # trends of one service: the filtered environment, else that of its newest run
        environment = filters.environment or (page.runs[0].environment if page.runs else None)
        trends = (
            await check_trends(self.store, filters.service, environment)
            if filters.service and environment
            else []
        )
        labels = await self._labels(page.runs)
        names = await self._names({run.requester for run in page.runs if run.requester})
        kept = {
            k: v
            for k, v in {
                "service": filters.service,
                "environment": filters.environment,
                "status": filters.status,
                "decision": filters.decision,
            }.items()
            if v
        }

        def query(**edge: int) -> str:
            return urlencode({**kept, **edge})

        html = (
            templates()
            .get_template("runs.html.j2")
            .render(
                user=user,
                page=page,
                labels=labels,
                filters=filters,
                filtering=bool(kept),
                statuses=[s.value for s in RunStatus],
                decisions=DECISIONS,
                query=query,
                who=lambda user_id: shown(user_id, names),
                flaky=flaky,
                flaky_days=FLAKY_DAYS,
                trends=trend_charts(trends),
                trend_scope=f"{filters.service} on {environment}" if trends else "",
            )
        )
        return HTMLResponse(html)

    async def run(self, request: Request, user: WebUser) -> Response:
        run_id = request.path_params["run_id"]
        notice = take_notice(request.session)
        if notice is None:
            return await self._run_page(run_id, user, "")
        return await self._run_page(run_id, user, notice.text, ok=notice.ok)

    async def report(self, request: Request, user: WebUser) -> Response:
        try:
            run_id = request.path_params["run_id"]
            report = await full_report(self.store, run_id, self.gate.config.role_labels)
            loaded = await self.gate.load(run_id)
        except (LookupError, Refused):
            return no_such_run()
        # the plan's attestations as the gate reads them: what still waits, beside the verdict
        items = [
            AttestationItem(
                id=a.item_id, text=a.text, role=a.role, blocking=a.blocking, ticked_by=a.ticked_by
            )
            for a in loaded.gate.attestations
        ]
        notes = {
            c: q.note() for c, q in quarantines_of(self.gate.config.plans.get(report.plan)).items()
        }
        report = report.model_copy(update={"attestations": items, "quarantines": notes})
        return HTMLResponse(render_html(report, await self._names(people_of(report))))

    async def act(self, request: Request, user: WebUser) -> Response:
        run_id = request.path_params["run_id"]
        try:
            form = await read_form(request, user.csrf)
        except BadForm as exc:
            return HTMLResponse(f"<h1>Refused</h1><p>{escape(str(exc))}</p>", status_code=403)
        if await self.store.get_run(run_id) is None:
            return no_such_run()
        action, subject = form.get("action", ""), form.get("subject", "")
        text = form.get("text", "")
        generation = _int(form.get("generation"))
        if action not in ACTIONS or generation is None or not subject or len(subject) > 255:
            return _after_post(request, run_id, "That action is not one this page offers.")
        target = Target(run_id, generation, subject)
        try:
            if action in ("approve", "reject"):
                vote, reason = (Vote.APPROVE, "") if action == "approve" else (Vote.REJECT, text)
                new = await self.gate.record_sign(user.user_id, target, vote, reason, within=5.0)
            elif action == "waive":
                new = await self.gate.record_waiver(user.user_id, target, text, within=5.0)
            else:
                new = await self.gate.record_tick(user.user_id, target, text, within=5.0)
        except (Refused, DirectoryUnavailable) as exc:
            log.info("web action refused: %s %s on run %s by %s", action, subject, run_id, user)
            return _after_post(request, run_id, str(exc))
        await self.gate.refresh(run_id)
        return _after_post(request, run_id, _DONE[action if new else "repeat"], ok=True)

    async def _run_page(
        self, run_id: int, user: WebUser, message: str, *, ok: bool = False
    ) -> Response:
        try:
            loaded = await self.gate.load(run_id)
        except Refused:
            return no_such_run()
        gate = loaded.gate
        cycle = gate.cycle_seconds
        differences = await check_run(self.store, run_id)
        trail = await self.trail.events(run_id)
        names = await self._names(people(gate, trail))
        run = loaded.run
        trends = await check_trends(self.store, run.service, run.environment, upto=run_id)
        plan = self.gate.config.plans.get(run.plan)
        html = (
            templates()
            .get_template("run.html.j2")
            .render(
                user=user,
                gate=gate,
                status=loaded.run.status.value,
                label=self._label(loaded),
                cycle=format_duration(cycle) if cycle is not None else "",
                can_act=not gate.decision.outcome.final and loaded.facts.automated_done,
                trail=trail,
                who=lambda user_id: shown(user_id, names),
                trail_disagrees=headline(differences),
                trail_differences=[d.line() for d in differences],
                message=message,
                ok=ok,
                min_reason=MIN_REASON,
                max_text=MAX_TEXT,
                trends=trend_charts(trends),
                quarantined=sorted((c, q.note()) for c, q in quarantines_of(plan).items()),
            )
        )
        return HTMLResponse(html)

    def _label(self, loaded: Loaded) -> str:
        gate = loaded.gate
        outcome = gate.decision.outcome.value if gate.decision.outcome.final else None
        approvals = {(s.role, s.user) for s in loaded.facts.signoffs if s.vote is Vote.APPROVE}
        owners = [a.role for a in gate.attestations if a.blocking and a.ticked_by is None]
        awaited = awaited_roles(required_policies(self.gate.config), approvals, owners)
        label = self.gate.directory.label
        return decision_label(loaded.run.status.value, outcome, [label(r) for r in awaited])

    async def _names(self, ids: set[str]) -> dict[str, str]:
        return await self.names.names(ids) if self.names is not None else {}

    async def _labels(self, runs: list[Run]) -> dict[int, str]:
        return await decision_labels(self.gate.config, self.store, runs, self.gate.directory.label)


_DONE = {
    "approve": "Your approval is recorded.",
    "reject": "Your rejection is recorded.",
    "waive": "Your waiver is recorded.",
    "tick": "Your tick is recorded.",
    "repeat": "That was already recorded; nothing changed.",
}


def _after_post(request: Request, run_id: int, message: str, *, ok: bool = False) -> Response:
    """Every action ends on the run's own page (303: a reload there posts nothing again),
    which shows ``message`` once."""
    keep_notice(request.session, message, ok)
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


def _short(value: str | None) -> str | None:
    return value[:MAX_FILTER] if value else None


def _before(value: str | None) -> int | None:
    """``before=``: past every id a run can have it is the first page, so the database
    is never asked about a number its column cannot hold."""
    number = _int(value)
    return None if number is None or number > MAX_RUN_ID else number


def _after(value: str | None) -> int | None:
    """``after=``: past every id a run can have, the same empty page as the last id."""
    number = _int(value)
    return None if number is None else min(number, MAX_RUN_ID)


def _int(value: str | None) -> int | None:
    if value is None or not value.isdigit() or len(value) > 10:
        return None
    return int(value)
