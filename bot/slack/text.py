"""Slack mrkdwn text: escaping user values, links and mentions, safe truncation, and the
Jinja2 templates users may edit to change the bot's wording.

Slack reads ``<...>`` as a mention, link or broadcast (``<!channel>``) and decodes only
``&amp; &lt; &gt;``. Every value a user or a check controls goes through :func:`escape`
so that a summary containing ``<!channel>`` is shown, never executed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

ELLIPSIS = "…"
FENCE = "```"
_ZWSP = "\u200b"
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")


def escape(value: object) -> str:
    """Slack's three control characters as entities (``&`` first, so nothing doubles)."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code_safe(value: object) -> str:
    """Escaped text that cannot close the code block it is put in."""
    return escape(value).replace(FENCE, f"`{_ZWSP}`{_ZWSP}`")


def one_line(value: object) -> str:
    """A summary or progress line squeezed onto one line (rows are one line each)."""
    return " ".join(str(value).split())


def mention(user_id: str) -> str:
    """``<@U123>`` for a Slack user id; anything else (``cli``) is shown escaped."""
    if re.fullmatch(r"[UW][A-Z0-9]{2,}", user_id):
        return f"<@{user_id}>"
    return escape(user_id)


def link(url: str | None, label: str) -> str:
    """A mrkdwn link; the label escaped, ``|`` and ``>`` kept out of the URL."""
    if not url:
        return escape(label)
    safe_url = url.replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    return f"<{safe_url}|{escape(label)}>"


def date(moment: datetime | None) -> str:
    """A date Slack shows in each reader's own timezone; UTC text where it cannot."""
    if moment is None:
        return "-"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def truncate(text: str, limit: int, note: str = "") -> str:
    """``text`` cut to at most ``limit`` characters, ending with an ellipsis and ``note``.

    The cut never splits an entity (``&amp;``) or a ``<link|label>``, and an open code
    block is closed, so the truncated text still renders as intended.
    """
    if len(text) <= limit:
        return text
    tail = f"{ELLIPSIS}{note}"
    room = max(limit - len(tail) - len(FENCE) - 1, 0)
    cut = text[:room]
    if (start := cut.rfind("<")) > cut.rfind(">"):
        cut = cut[:start]
    cut = _PARTIAL_ENTITY.sub("", cut)
    if cut.count(FENCE) % 2:
        cut = f"{cut.rstrip()}\n{FENCE}"
    return f"{cut}{tail}"[:limit]


@cache
def templates() -> Environment:
    """The wording templates in ``bot/slack/templates``. ``autoescape`` is off because
    the output is mrkdwn, not HTML: templates escape user values with ``|esc``."""
    env = Environment(
        loader=PackageLoader("bot.slack", "templates"),
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(esc=escape, mention=mention, date=date, one_line=one_line)
    env.globals.update(link=link)
    return env


def render(template: str, /, **context: Any) -> str:
    """One template rendered to mrkdwn, surrounding blank lines removed."""
    return templates().get_template(template).render(**context).strip()
