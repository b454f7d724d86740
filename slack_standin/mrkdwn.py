"""Slack's ``mrkdwn`` as HTML, for the web view: a pure function of the text and names.

Slack text arrives with ``&``, ``<`` and ``>`` escaped as ``&amp;``, ``&lt;``, ``&gt;``;
a raw ``<...>`` is a control sequence (link, mention, channel, date, broadcast). So the
text is cut into control sequences, code and plain text; each piece has those three
entities decoded exactly once and is then HTML-escaped, so nothing in a message can
become markup (no XSS), and ``&amp;lt;`` shows as ``&lt;``, as in Slack.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from html import escape

from slack_standin.emoji import EMOJI

_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_TOKEN = re.compile(r"```(?P<pre>.*?)```|`(?P<code>[^`\n]+)`|<(?P<ctl>[^<>\n]+)>", re.S)
_PLACEHOLDER = re.compile("\ue000(\\d+)\ue001")
_PRIVATE = re.compile("[\ue000\ue001]")
# *bold*, _italic_, ~strike~: markers next to a word boundary, never inside a word
_STYLES = [
    (re.compile(rf"(?<![\w{m}])\{m}(?=\S)([^{m}\n]*?\S)\{m}(?![\w{m}])"), tag)
    for m, tag in (("*", "b"), ("_", "i"), ("~", "s"))
]
_EMOJI = re.compile(r":([a-z0-9_+\-']+):")
_SAFE_URL = re.compile(r"(?:https?://|mailto:)[^\s\"'<>]+", re.I)


@dataclass(frozen=True)
class Names:
    """What the text can refer to, seen by one viewer: names, their zone and 'now'."""

    users: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, str] = field(default_factory=dict)
    tz: tzinfo = UTC
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    channel_href: Callable[[str], str] | None = None


def decode(text: str) -> str:
    """Slack's three entities, decoded once (``&amp;lt;`` -> ``&lt;``)."""
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)


def emojify(html: str) -> str:
    """``:rocket:`` -> the character, for the common shortcodes; others stay as typed."""
    return _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), html)


def render_plain(text: str, emoji: bool = True) -> str:
    """A ``plain_text`` object: shown as typed, HTML-escaped."""
    html = escape(decode(_PRIVATE.sub("", text)))
    return emojify(html) if emoji else html


def render(text: str, names: Names) -> str:
    """A ``mrkdwn`` text as safe HTML (line breaks kept: show it with ``pre-wrap``)."""
    pieces: list[str] = []

    def hold(html: str) -> str:
        pieces.append(html)
        return f"\ue000{len(pieces) - 1}\ue001"

    def token(m: re.Match[str]) -> str:
        if m.group("pre") is not None:
            return hold(f"<pre>{escape(decode(m.group('pre').strip(chr(10))))}</pre>")
        if m.group("code") is not None:
            return hold(f"<code>{escape(decode(m.group('code')))}</code>")
        return hold(control(m.group("ctl"), names))

    held = _TOKEN.sub(token, _PRIVATE.sub("", text))
    html = emojify(escape(decode(held)))
    for pattern, tag in _STYLES:
        html = pattern.sub(rf"<{tag}>\1</{tag}>", html)
    html = "\n".join(_quote(line) for line in html.split("\n"))
    return _PLACEHOLDER.sub(lambda m: pieces[int(m.group(1))], html)


def _quote(line: str) -> str:
    if line.startswith("&gt;"):
        return f"<blockquote>{line[4:].lstrip()}</blockquote>"
    return line


def control(body: str, names: Names) -> str:
    """One ``<...>`` sequence: a user, channel, broadcast, date or link."""
    target, _, label = body.partition("|")
    if target.startswith("@"):
        name = names.users.get(target[1:]) or label or target[1:]
        return f'<span class="mention">@{escape(decode(name))}</span>'
    if target.startswith("#"):
        channel = target[1:]
        name = names.channels.get(channel) or label or channel
        text = f"#{escape(decode(name))}"
        if names.channel_href is None:
            return f'<span class="mention">{text}</span>'
        return f'<a class="mention" href="{escape(names.channel_href(channel))}">{text}</a>'
    if target.startswith("!date^"):
        return _date(target, label, names)
    if target.startswith("!subteam^"):
        return f'<span class="mention">{escape(decode(label or "@" + target[9:]))}</span>'
    if target.startswith("!"):
        return f'<span class="mention">@{escape(decode(target[1:]))}</span>'
    return _link(decode(target), decode(label), names)


def _link(url: str, label: str, names: Names) -> str:
    """A link that clicks, for http(s) and mailto only: ``javascript:`` stays text."""
    shown = label or url.removeprefix("mailto:")
    inner = render(label, names) if label else escape(shown)
    if not _SAFE_URL.fullmatch(url):
        return inner
    return f'<a href="{escape(url)}" target="_blank" rel="noopener noreferrer">{inner}</a>'


def _date(target: str, fallback: str, names: Names) -> str:
    """``<!date^EPOCH^{token} text^optional-link|fallback>`` in the viewer's zone."""
    parts = target.split("^")
    try:
        moment = datetime.fromtimestamp(int(parts[1]), UTC).astimezone(names.tz)
        template = parts[2]
    except (IndexError, ValueError, OverflowError, OSError):
        return escape(decode(fallback))
    text = re.sub(r"\{(\w+)\}", lambda m: format_date(m.group(1), moment, names.now), template)
    html = escape(decode(text))
    if len(parts) > 3 and _SAFE_URL.fullmatch(decode(parts[3])):
        html = f'<a href="{escape(decode(parts[3]))}" target="_blank" rel="noopener">{html}</a>'
    return f'<time datetime="{moment.isoformat()}">{html}</time>'


def _day(moment: datetime) -> str:
    suffix = "th" if 11 <= moment.day <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(moment.day % 10)
    return f"{moment.day}{suffix or 'th'}"


def format_date(token: str, moment: datetime, now: datetime) -> str:
    """One of Slack's date tokens (``{date_short_pretty}``, ``{time}``...); unknown: kept."""
    pretty = {0: "today", -1: "yesterday", 1: "tomorrow"}.get(
        (moment.date() - now.astimezone(moment.tzinfo).date()).days
    )
    formats = {
        "date_num": moment.strftime("%Y-%m-%d"),
        "date": f"{moment:%B} {_day(moment)}, {moment.year}",
        "date_short": f"{moment:%b} {moment.day}, {moment.year}",
        "date_long": f"{moment:%A}, {moment:%B} {_day(moment)}, {moment.year}",
        "time": moment.strftime("%H:%M"),
        "time_secs": moment.strftime("%H:%M:%S"),
        "ago": ago(moment, now),
    }
    for name in ("date", "date_short", "date_long"):
        formats[f"{name}_pretty"] = pretty or formats[name]
    return formats.get(token, "{" + token + "}")


def ago(moment: datetime, now: datetime) -> str:
    seconds = int((now - moment).total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if abs(seconds) >= size:
            n = abs(seconds) // size
            text = f"{n} {unit}{'s' if n != 1 else ''}"
            return f"{text} ago" if seconds > 0 else f"in {text}"
    return "just now"


def clock(ts: str, tz: tzinfo) -> tuple[str, str]:
    """A message ``ts`` as the viewer's clock time with its zone (``14:03 CET``: the
    bot's pages show UTC, so a bare ``14:03`` beside them misleads) and the ISO moment."""
    try:
        moment = datetime.fromtimestamp(float(ts), UTC).astimezone(tz)
    except (ValueError, OverflowError, OSError):
        return ts, ""
    return moment.strftime("%H:%M %Z").strip(), moment.isoformat(timespec="seconds")
