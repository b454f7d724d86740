"""``GET /``: the waiting jobs and how each was answered, and the recent deliveries.

Pure rendering; every value from outside (names, comments, answers) is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from github_standin.hooks import Delivery
from github_standin.reviews import WaitingJob

_STYLE = (
    "body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}"
    ".approved{color:#1a7f37}.rejected{color:#cf222e}.waiting{color:#9a6700}"
)


def _row(cells: Iterable[str]) -> str:
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _job_row(job: WaitingJob) -> str:
    comments = "".join(f"<li>{escape(c.text)}</li>" for c in job.comments)
    answer = escape(job.decision_comment or "")
    when = job.decided_at.strftime("%H:%M:%S") if job.decided_at else ""
    return _row(
        [
            escape(f"{job.owner}/{job.repo}"),
            str(job.run_id),
            escape(job.environment),
            f'<span class="{escape(job.state)}">{escape(job.state)}</span>',
            answer,
            when,
            f"<ol>{comments}</ol>" if comments else "",
        ]
    )


def _delivery_row(delivery: Delivery) -> str:
    return _row(
        [
            str(delivery.id),
            escape(delivery.guid),
            escape(f"{delivery.event}.{delivery.action or ''}"),
            "yes" if delivery.redelivery else "",
            escape(delivery.status),
            escape(delivery.response_body[:200]),
            delivery.delivered_at.strftime("%H:%M:%S"),
        ]
    )


def render(app_slug: str, jobs: Iterable[WaitingJob], deliveries: Iterable[Delivery]) -> str:
    job_rows = "".join(_job_row(j) for j in jobs) or _row(["no jobs"])
    delivery_rows = "".join(_delivery_row(d) for d in reversed(list(deliveries))) or _row(
        ["no deliveries"]
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>GitHub stand-in: {escape(app_slug)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>GitHub stand-in: App {escape(app_slug)}</h1>"
        "<h2>Jobs waiting on the protection rule</h2><table><tr><th>repository</th>"
        "<th>run</th><th>environment</th><th>state</th><th>decision comment</th>"
        "<th>decided</th><th>progress comments</th></tr>"
        f"{job_rows}</table><h2>Webhook deliveries</h2><table><tr><th>id</th><th>GUID</th>"
        "<th>event</th><th>redelivery</th><th>status</th><th>answer</th><th>at</th></tr>"
        f"{delivery_rows}</table></body></html>"
    )
