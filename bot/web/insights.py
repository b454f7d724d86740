"""``/insights`` and ``/insights.json``: the success metrics for a period (and one service
or all), computed afresh on every request from the rollups of bot/store/insights.py by
bot/reports/insights.py (a month of a busy year takes a few tens of milliseconds, so
nothing is cached: a decision taken a second ago is in the figures)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bot.reports.html import format_duration
from bot.reports.insights import Insights, as_json, bucket_of, compute
from bot.store.insights import insight_rows
from bot.store.models import utcnow
from bot.store.runs import RunStore
from bot.web.charts import bar_chart, duration_chart
from bot.web.pages import templates
from bot.web.signin import SignIn, WebUser

DEFAULT_DAYS = 30
MAX_DAYS = 366


class PeriodError(ValueError):
    """A period the page cannot show; the message says what it takes."""


def period(query: dict[str, str], now: datetime) -> tuple[datetime, datetime]:
    """``since``/``until`` (dates, until exclusive) or ``days`` back from now (default 30)."""
    since_text, until_text = query.get("since"), query.get("until")
    if since_text or until_text:
        try:
            until_day = date.fromisoformat(until_text) if until_text else now.date()
            since_day = date.fromisoformat(since_text) if since_text else until_day - timedelta(30)
        except ValueError:
            raise PeriodError("since and until are dates: YYYY-MM-DD") from None
        since = datetime.combine(since_day, time(), UTC)
        until = datetime.combine(until_day, time(), UTC)
        if not until_text:  # up to now: today included
            until += timedelta(days=1)
    else:
        days_text = query.get("days") or str(DEFAULT_DAYS)
        if not days_text.isdigit() or not 1 <= int(days_text) <= MAX_DAYS:
            raise PeriodError(f"days is a whole number from 1 to {MAX_DAYS}")
        # up to the end of this minute: a rolling period moves by whole minutes
        until = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        since = until - timedelta(days=int(days_text))
    if not since < until or until - since > timedelta(days=MAX_DAYS):
        raise PeriodError(f"the period must start before it ends and span at most {MAX_DAYS} days")
    return since, until


class InsightsPages:
    def __init__(self, store: RunStore, sign_in: SignIn) -> None:
        self.store = store
        self.sign_in = sign_in

    def routes(self) -> list[Route]:
        return [
            Route("/insights", self.sign_in.required(self.page)),
            Route("/insights.json", self.sign_in.required(self.json)),
        ]

    async def _insights(self, request: Request) -> Insights:
        query = dict(request.query_params)
        since, until = period(query, utcnow())
        service = (query.get("service") or "")[:100] or None
        weeks = bucket_of(since, until) == "week"  # a trend by week reads the week rollups
        rows = await insight_rows(self.store, since, until, service, weeks=weeks)
        return compute(rows, since, until)

    async def json(self, request: Request, user: WebUser) -> Response:
        try:
            insights = await self._insights(request)
        except PeriodError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(as_json(insights))

    async def page(self, request: Request, user: WebUser) -> Response:
        try:
            insights = await self._insights(request)
        except PeriodError as exc:
            return HTMLResponse(f"<h1>Insights</h1><p>{escape(str(exc))}</p>", status_code=400)
        labels = [p.start.strftime("%m-%d") for p in insights.trend]
        x_label = f"{insights.bucket} starting (UTC)"
        cycle_title = f"Median cycle time by {insights.bucket}"
        decisions_title = f"Decisions by {insights.bucket}"
        trend = insights.trend
        charts = [
            (
                cycle_title,
                duration_chart(cycle_title, labels, [p.cycle_median for p in trend], x_label),
            ),
            (
                decisions_title,
                bar_chart(
                    decisions_title,
                    labels,
                    [
                        ("GO", "#1a7f37", [p.go for p in trend]),
                        ("NO-GO", "#c0362c", [p.no_go for p in trend]),
                        ("other", "#8c959f", [p.runs - p.go - p.no_go for p in trend]),
                    ],
                    x_label=x_label,
                    y_label="runs",
                ),
            ),
        ]
        html = (
            templates()
            .get_template("insights.html.j2")
            .render(
                user=user,
                insights=insights,
                charts=charts,
                query=dict(request.query_params),
                duration=lambda s: "—" if s is None else format_duration(s),
                percent=lambda r: "—" if r is None else f"{r * 100:.0f} %",
            )
        )
        return HTMLResponse(html)
