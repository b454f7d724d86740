"""Slack mrkdwn text: escaping user values, links and mentions, safe truncation, and the
Jinja2 templates users may edit to change the bot's wording.

Slack reads ``<...>`` as a mention, link or broadcast (``<!channel>``) and decodes only
``&amp; &lt; &gt;``. Two kinds of text are kept apart by type: a plain ``str`` is text a
user or a check controls, :class:`Mrkdwn` is markup the bot vouches for (its own links,
mentions and formatting, or user text already escaped). :func:`escape` turns the first
into the second and leaves the second alone, so user text is escaped exactly once and the
bot's own ``<#C0RELEASES>`` never is. Block builders take ``Mrkdwn`` only, so passing
user text to them unescaped is a type error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined


class Mrkdwn(str):
    """Slack mrkdwn safe to send as it is. Build one from the bot's own literal markup
    with user values passed through :func:`escape` (or :func:`mention`, :func:`link`)."""

    __slots__ = ()


ELLIPSIS = Mrkdwn("…")
FENCE = Mrkdwn("```")
EMPTY = Mrkdwn("")
_ZWSP = "\u200b"
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")


def escape(value: object) -> Mrkdwn:
    """Slack's three control characters as entities (``&`` first, so nothing doubles);
    :class:`Mrkdwn` is already safe and comes back unchanged."""
    if isinstance(value, Mrkdwn):
        return value
    return Mrkdwn(str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def join(separator: str, parts: Iterable[object]) -> Mrkdwn:
    """``parts`` joined by the bot's own ``separator``; plain parts are escaped."""
    return Mrkdwn(separator.join(escape(part) for part in parts))


def code_safe(value: object) -> Mrkdwn:
    """Escaped text that cannot close the code block it is put in."""
    return Mrkdwn(escape(value).replace(FENCE, f"`{_ZWSP}`{_ZWSP}`"))


def one_line(value: object) -> str:
    """A summary or progress line squeezed onto one line (rows are one line each)."""
    return " ".join(str(value).split())


def mention(user_id: str) -> Mrkdwn:
    """``<@U123>`` for a Slack user id; anything else (``cli``) is shown escaped."""
    if re.fullmatch(r"[UW][A-Z0-9]{2,}", user_id):
        return Mrkdwn(f"<@{user_id}>")
    return escape(user_id)


def channel_link(channel_id: str) -> Mrkdwn:
    """``<#C123>`` for a Slack channel id; anything else is shown escaped."""
    if _CHANNEL_ID.fullmatch(channel_id):
        return Mrkdwn(f"<#{channel_id}>")
    return escape(channel_id)


def link(url: str | None, label: str) -> Mrkdwn:
    """A mrkdwn link; the label escaped, ``|`` and ``>`` kept out of the URL."""
    if not url:
        return escape(label)
    safe_url = url.replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    return Mrkdwn(f"<{safe_url}|{escape(label)}>")


def date(moment: datetime | None) -> Mrkdwn:
    """A date Slack shows in each reader's own timezone; UTC text where it cannot."""
    if moment is None:
        return Mrkdwn("-")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return Mrkdwn(f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>")


def truncate(text: Mrkdwn, limit: int, note: Mrkdwn = EMPTY) -> Mrkdwn:
    """``text`` cut to at most ``limit`` characters, ending with an ellipsis and ``note``.

    The cut never splits an entity (``&amp;``) or a ``<link|label>``, and an open code
    block is closed, so the truncated text still renders as intended.
    """
    if len(text) <= limit:
        return text
    tail = Mrkdwn(f"{ELLIPSIS}{note}")
    room = max(limit - len(tail) - len(FENCE) - 1, 0)
    cut = text[:room]
    if (start := cut.rfind("<")) > cut.rfind(">"):
        cut = cut[:start]
    cut = _PARTIAL_ENTITY.sub("", cut)
    if cut.count(FENCE) % 2:
        cut = f"{cut.rstrip()}\n{FENCE}"
    return Mrkdwn(f"{cut}{tail}"[:limit])


@cache
def templates() -> Environment:
    """The wording templates in ``bot/slack/templates``. Every ``{{ value }}`` is escaped
    for Slack unless it is :class:`Mrkdwn` already (``|mention``, ``|date``, ``link()``,
    lines the renderers built): HTML autoescaping would not do, the output is mrkdwn."""
    env = Environment(
        loader=PackageLoader("bot.slack", "templates"),
        autoescape=False,
        finalize=escape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(esc=escape, mention=mention, date=date, one_line=one_line)
    env.globals.update(link=link)
    return env


def render(template: str, /, **context: Any) -> Mrkdwn:
    """One template rendered to mrkdwn, surrounding blank lines removed."""
    return Mrkdwn(templates().get_template(template).render(**context).strip())


def render_plain(template: str, /) -> Mrkdwn:
    """A template written as plain text (``<service>`` meant literally), escaped whole."""
    return escape(templates().get_template(template).render().strip())
